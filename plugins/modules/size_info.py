#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: size_info
short_description: Choose a flavor of a slipway.cloud catalog cloud by cpu and RAM, or show its flavor table
version_added: 0.1.0
description:
  - With O(cpu) and/or O(ram_gb), returns the flavor the catalog's sizing rule chooses on O(cloud) - the smallest
    flavor with at least that many CPUs and that much RAM; ties go to fewer CPUs, then less RAM, then lower
    price, then name - and the next candidates that would also fit.
  - With O(flavor), checks that the flavor is in the cloud's table and returns it.
  - With neither, returns the cloud's flavor table.
  - Reads the catalog only and calls no cloud API, unless O(live=true).
  - "On a cloud whose catalog entry says C(sizing: cloud) (the shipped C(openstack) cloud), the flavors are the
    ones the cloud lists, read when a machine is made; O(live=true) reads them now and chooses among them."
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
  cloud:
    description: Name of a cloud of the catalog.
    type: str
    required: true
  cpu:
    description: Virtual CPUs wanted (greater than 0). Mutually exclusive with O(flavor).
    type: float
  ram_gb:
    description: RAM wanted, in GB (greater than 0). Mutually exclusive with O(flavor).
    type: float
  flavor:
    description: A flavor name to look up in the cloud's table.
    type: str
  live:
    description:
      - Also ask the cloud for its flavors (its own names, CPUs, RAM and disk), return them in RV(cloud_flavors)
        beside the catalog's table, and list in RV(drift) every catalog flavor the cloud lacks or sizes
        differently.
      - Needs the cloud's credentials in the environment variables the catalog names or O(credentials) (or its C(clouds.yaml)
        entry for OpenStack). Families that can list their sizes - V(openstack), V(ec2), V(exoscale); any
        other is one clear error.
    type: bool
    default: false
seealso:
  - module: slipway.cloud.image_info
"""

EXAMPLES = r"""
- name: Which Exoscale flavor has 2 CPUs and 4 GB?
  slipway.cloud.size_info:
    cloud: exoscale-ch-gva
    cpu: 2
    ram_gb: 4
  delegate_to: localhost
  register: size

- name: Show Exoscale's flavor table
  slipway.cloud.size_info:
    cloud: exoscale-ch-gva
  delegate_to: localhost

- name: Compare the catalog's table with the flavors the cloud really has
  slipway.cloud.size_info:
    cloud: my-openstack
    live: true
  delegate_to: localhost
  register: sizes

- name: Fail when the catalog has drifted from the cloud
  ansible.builtin.assert:
    that: sizes.drift | length == 0
    fail_msg: "{{ sizes.drift | map(attribute='flavor') | join(', ') }} differ on the cloud"

- name: Which flavor of any OpenStack has 2 CPUs and 4 GB? (the shipped cloud is sized by its own flavors)
  slipway.cloud.size_info:
    cloud: openstack
    cpu: 2
    ram_gb: 4
    live: true
  delegate_to: localhost
"""

RETURN = r"""
cloud:
  description: The cloud's name.
  returned: always
  type: str
  sample: exoscale-ch-gva
sizing:
  description: V(table) (only the listed flavors), V(explicit) (any cpu/RAM) or V(cloud) (the flavors the cloud lists).
  returned: always
  type: str
  sample: table
flavors:
  description: The cloud's flavor table, smallest first (tie-break order).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Flavor name.
      type: str
      sample: Medium
    cpu:
      description: Virtual CPUs.
      type: float
      sample: 2
    ram_gb:
      description: RAM in GB.
      type: float
      sample: 4
    disk_gb:
      description: Disk in GB, when the catalog gives it.
      type: float
      sample: null
    price:
      description: Price, when the catalog gives it (used only to break ties).
      type: float
      sample: null
cloud_flavors:
  description: The flavors the cloud lists, smallest first, with the keys of RV(flavors) (names as the cloud spells
    them, for example C(standard.tiny) on Exoscale).
  returned: when O(live=true)
  type: list
  elements: dict
  sample: [{"name": "Basic", "cpu": 1, "ram_gb": 1, "disk_gb": 10, "price": null}]
drift:
  description: Each flavor of the catalog's table that the cloud lacks or sizes differently; empty when they agree.
  returned: when O(live=true)
  type: list
  elements: dict
  contains:
    flavor:
      description: The catalog's flavor name.
      type: str
      sample: Large
    cloud_name:
      description: The name the cloud lists it under.
      type: str
      sample: Large
    problem:
      description: V(missing) (the cloud has no flavor of that name) or V(differs).
      type: str
      sample: differs
    differs:
      description: The keys that differ (V(cpu), V(ram_gb), and V(disk_gb) when the catalog gives it).
      type: list
      elements: str
      sample: [cpu]
    catalog:
      description: The catalog's figures, with the keys of RV(flavors).
      type: dict
      sample: {"name": "Large", "cpu": 8, "ram_gb": 8, "disk_gb": null, "price": null}
    cloud:
      description: The cloud's figures (null when missing).
      type: dict
      sample: {"name": "Large", "cpu": 4, "ram_gb": 8, "disk_gb": 10, "price": null}
  sample: []
flavor:
  description: The chosen flavor's name; null on explicit-sizing clouds (and on C(sizing=cloud) clouds without
    O(live=true)).
  returned: when cpu, ram_gb or flavor is given
  type: str
  sample: Medium
cpu:
  description: Virtual CPUs the machine gets.
  returned: when cpu, ram_gb or flavor is given
  type: float
  sample: 2
ram_gb:
  description: RAM the machine gets, in GB.
  returned: when cpu, ram_gb or flavor is given
  type: float
  sample: 4
candidates:
  description: The next flavors that also fit, best first (at most 3), with the keys of RV(flavors).
  returned: when cpu or ram_gb is given
  type: list
  elements: dict
  sample: [{"name": "Large", "cpu": 4, "ram_gb": 8, "disk_gb": null, "price": null}]
catalog:
  description: The catalog layers that were read.
  returned: always
  type: list
  elements: str
  sample: [/home/me/.ansible/collections/ansible_collections/slipway/cloud/catalog]
"""

import dataclasses

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
from ansible_collections.slipway.cloud.plugins.module_utils.module_base import CREDENTIALS_ARGUMENT_SPEC, SlipwayModule
from ansible_collections.slipway.cloud.plugins.module_utils.names import TASK_ID_OPTIONS, check_options
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.sizing import (
    choose_flavor, flavor_to_dict, sorted_flavors,
)


def live_sizes(cloud, environ=None):
    """(the flavors the cloud lists, the catalog table's drift from them), from the cloud's provider."""
    # Imported here, statically, so AnsiballZ ships the adapters (see providers/families.py)
    # while plain catalog reads never load them.
    try:
        from ansible_collections.slipway.cloud.plugins.module_utils.providers import base
        from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # noqa: F401 pylint: disable=unused-import
    except ImportError as exc:
        raise CatalogError("live needs the provider adapters: %s" % exc, key="live")
    provider = base.get_provider(cloud, environ)
    try:
        return provider.size_drift()
    finally:
        provider.close()


def main_size_info(module):
    params = module.params
    check_options(params, TASK_ID_OPTIONS)
    catalog = module.load_catalog()
    cloud = catalog.cloud(params["cloud"])
    result = {
        "catalog": list(catalog.layers),
        "cloud": cloud.name,
        "sizing": cloud.sizing,
        "flavors": [flavor_to_dict(f) for f in sorted_flavors(cloud)],
    }
    table = cloud
    if params["live"]:
        live, drift = live_sizes(cloud, module.environ)
        result["cloud_flavors"] = [flavor_to_dict(f) for f in live]
        result["drift"] = drift
        if cloud.sizing == "cloud":
            table = dataclasses.replace(cloud, sizing="table", flavors=tuple(live))
    if params["flavor"] is None and params["cpu"] is None and params["ram_gb"] is None:
        return result
    choice = choose_flavor(table, cpu=params["cpu"], ram_gb=params["ram_gb"], flavor=params["flavor"],
                           source="size_info options")
    result.update(choice.to_dict())
    if params["flavor"] is not None:
        del result["candidates"]
    return result


def main():
    module = SlipwayModule(
        argument_spec=dict(
            cloud=dict(type="str", required=True),
            cpu=dict(type="float"),
            ram_gb=dict(type="float"),
            flavor=dict(type="str"),
            live=dict(type="bool", default=False),
            **CREDENTIALS_ARGUMENT_SPEC
        ),
        mutually_exclusive=[("flavor", "cpu"), ("flavor", "ram_gb")],
        supports_check_mode=True,
    )
    module.run(main_size_info)


if __name__ == "__main__":
    main()
