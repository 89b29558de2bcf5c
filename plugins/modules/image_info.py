#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: image_info
short_description: Resolve a logical image of the slipway.cloud catalog on one or more clouds
version_added: 0.1.0
description:
  - Tells, for each cloud, what a logical image of the catalog becomes there - the native image id (or the
    lookup that finds it), login user, flavor with its cpu and RAM, security groups and ports - and which
    image and catalog file supplied each value.
  - Without O(image), lists the images of the catalog and the clouds each is available on.
  - Reads the catalog only. It calls no cloud API unless O(resolve_lookups=true).
author:
  - slipway.cloud contributors (@slipway-cloud)
extends_documentation_fragment:
  - slipway.cloud.catalog
  - slipway.cloud.credentials
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same result.
options:
  image:
    description:
      - Name of the logical image to resolve.
      - When not given, the module lists the catalog's images instead of resolving one.
    type: str
  cloud:
    description:
      - Resolve on this cloud only.
      - Mutually exclusive with O(clouds). When neither is given, every cloud the image is available on.
    type: str
  clouds:
    description:
      - Resolve on these clouds. Naming a cloud where the image has no native image is an error.
      - Mutually exclusive with O(cloud).
    type: list
    elements: str
  size:
    description:
      - Needs O(image).
      - A call-time size that wins over the catalog's, either O(size.cpu) and O(size.ram_gb), or O(size.flavor).
      - With cpu and RAM the smallest flavor that has at least that much is chosen (ties - fewer cpu, less RAM,
        lower price, name); on clouds with explicit sizing they are used as given.
    type: dict
    suboptions:
      cpu:
        description: Number of virtual CPUs wanted (greater than 0).
        type: float
      ram_gb:
        description: RAM wanted, in GB (greater than 0).
        type: float
      flavor:
        description: A flavor name of the cloud's table.
        type: str
  security_groups:
    description:
      - Security group names that replace the image's. Each must be defined in the catalog. Needs O(image).
    type: list
    elements: str
  resolve_lookups:
    description:
      - When the catalog gives an C(image_lookup) (name pattern and owner) instead of a fixed image id,
        ask the cloud for the newest matching image and return its id in RV(placements[].image_id).
      - Needs O(image), and the cloud's credentials in the environment variables the catalog names (or in O(credentials)).
    type: bool
    default: false
seealso:
  - module: slipway.cloud.size_info
notes:
  - The catalog format is in the collection's C(docs/catalog.md).
"""

EXAMPLES = r"""
- name: Where does debian-12 run, and as what?
  slipway.cloud.image_info:
    image: debian-12
  delegate_to: localhost
  register: debian

- name: The same image, bigger, on the two Exoscale zones
  slipway.cloud.image_info:
    image: debian-12
    clouds: [exoscale-ch-gva, exoscale-ch-dk]
    size: {cpu: 2, ram_gb: 4}
  delegate_to: localhost

- name: Use my own catalog layer on top of the shipped one, and find the current AMI
  slipway.cloud.image_info:
    catalog:
      - "@shipped"
      - "{{ playbook_dir }}/catalog"
    image: my-debian
    cloud: ec2
    resolve_lookups: true
  delegate_to: localhost

- name: List the images and the clouds each is available on
  slipway.cloud.image_info:
  delegate_to: localhost
  register: catalog_images
"""

RETURN = r"""
placements:
  description: One entry per cloud, in catalog order. Returned when O(image) is given.
  returned: when image is given
  type: list
  elements: dict
  contains:
    cloud:
      description: The cloud's name.
      type: str
      sample: exoscale-ch-gva
    provider:
      description: The cloud's provider family.
      type: str
      sample: exoscale
    image:
      description: The logical image.
      type: str
      sample: debian-12
    image_id:
      description: The native image id; null when the catalog gives a lookup that was not resolved.
      type: str
      sample: ami-0123456789abcdef0
    image_lookup:
      description: The name pattern and owner that find the native image, when the catalog uses a lookup.
      type: dict
      sample: {"name": "debian-12-amd64-*", "owner": "136693071363"}
    login_user:
      description: The user that logs in by SSH.
      type: str
      sample: debian
    flavor:
      description: The chosen flavor; null on clouds with explicit sizing.
      type: str
      sample: Medium
    cpu:
      description: Virtual CPUs the machine gets.
      type: float
      sample: 2
    ram_gb:
      description: RAM the machine gets, in GB.
      type: float
      sample: 4
    security_groups:
      description:
        - Security group names - the image's own or inherited ones, else the catalog's C(defaults.security_groups).
        - Empty on clouds without security groups.
      type: list
      elements: str
      sample: [slipway_managed]
    ports:
      description: TCP ports the image declares.
      type: list
      elements: int
      sample: [80]
    sources:
      description:
        - For each value, which image and catalog file (and line) supplied it; C(catalog defaults at <file>:<line>)
          for a catalog default, or the call-time override.
      type: dict
      sample: {"login_user": "debian-12 at /catalog/images.yml:9", "flavor": "my-debian clouds.exoscale-ch-gva at /mine/images.yml:5"}
images:
  description: The catalog's images. Returned when O(image) is not given.
  returned: when image is not given
  type: list
  elements: dict
  contains:
    name:
      description: The image's name.
      type: str
      sample: debian-12
    description:
      description: Its description (inherited from the parent when it has none).
      type: str
      sample: Debian 12 (bookworm), minimal
    os:
      description: Its operating system (inherited from the parent when it has none).
      type: str
      sample: debian
    parent:
      description: The image it derives from.
      type: str
      sample: null
    clouds:
      description: The clouds where it has a native image (restricted to O(cloud)/O(clouds) when given).
      type: list
      elements: str
      sample: [exoscale-ch-gva, ec2, local-a]
    source:
      description: The file and line defining it.
      type: str
      sample: /catalog/images.yml:6
catalog:
  description: The catalog layers that were read.
  returned: always
  type: list
  elements: str
  sample: [/home/me/.ansible/collections/ansible_collections/slipway/cloud/catalog]
"""

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
from ansible_collections.slipway.cloud.plugins.module_utils.module_base import CREDENTIALS_ARGUMENT_SPEC, SlipwayModule
from ansible_collections.slipway.cloud.plugins.module_utils.names import TASK_ID_OPTIONS, check_options


def resolve_lookup(placement, environ=None):
    """The placement dict with image_id found by the cloud's provider (newest match)."""
    # Imported here, statically, so AnsiballZ ships the adapters (see providers/families.py)
    # while plain catalog reads never load them.
    try:
        from ansible_collections.slipway.cloud.plugins.module_utils.providers import base
        from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # noqa: F401 pylint: disable=unused-import
    except ImportError as exc:
        raise CatalogError("resolve_lookups needs the provider adapters: %s" % exc, key="resolve_lookups")
    provider = base.get_provider(placement.cloud, environ)
    try:
        image_id = provider.resolve_image_lookup(dict(placement.image_lookup))
    finally:
        provider.close()
    return image_id


def main_image_info(module):
    params = module.params
    check_options(params, TASK_ID_OPTIONS)
    catalog = module.load_catalog()
    requested = [params["cloud"]] if params["cloud"] else params["clouds"]
    for name in requested or ():
        catalog.cloud(name)
    result = {"catalog": list(catalog.layers)}

    if not params["image"]:
        images = catalog.describe_images()
        if requested:
            for image in images:
                image["clouds"] = [c for c in image["clouds"] if c in requested]
            images = [image for image in images if image["clouds"]]
        result["images"] = images
        return result

    clouds = requested or catalog.available_clouds(params["image"])
    size = {k: v for k, v in (params["size"] or {}).items() if v is not None} or None
    placements = []
    for cloud in clouds:
        placement = catalog.resolve(params["image"], cloud, size=size,
                                    security_groups=params["security_groups"])
        data = placement.to_dict()
        if params["resolve_lookups"] and placement.image_lookup:
            data["image_id"] = resolve_lookup(placement, module.environ)
            data["sources"]["image_id"] = "newest image on %s matching %s" % (cloud, data["sources"]["image_lookup"])
        placements.append(data)
    result["placements"] = placements
    return result


def main():
    module = SlipwayModule(
        argument_spec=dict(
            image=dict(type="str"),
            cloud=dict(type="str"),
            clouds=dict(type="list", elements="str"),
            size=dict(type="dict", options=dict(
                cpu=dict(type="float"),
                ram_gb=dict(type="float"),
                flavor=dict(type="str"),
            ), mutually_exclusive=[("flavor", "cpu"), ("flavor", "ram_gb")],
                required_together=[("cpu", "ram_gb")],
                required_one_of=[("cpu", "flavor")]),
            security_groups=dict(type="list", elements="str"),
            resolve_lookups=dict(type="bool", default=False),
            **CREDENTIALS_ARGUMENT_SPEC
        ),
        mutually_exclusive=[("cloud", "clouds")],
        required_by={"size": "image", "security_groups": "image"},
        required_if=[("resolve_lookups", True, ["image"])],
        supports_check_mode=True,
    )
    module.run(main_image_info)


if __name__ == "__main__":
    main()
