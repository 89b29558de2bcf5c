#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instance_info
short_description: Every slipway-managed machine on the chosen clouds
version_added: 0.1.0
description:
  - Lists the machines tagged C(slipway:managed) on each chosen cloud (one listing call per cloud, clouds in
    parallel), with the same fields M(slipway.cloud.instance) returns.
  - One cloud failing to answer never hides the others; see RV(clouds).
author:
  - slipway.cloud contributors (@slipway-cloud)
extends_documentation_fragment:
  - slipway.cloud.catalog
  - slipway.cloud.clouds
  - slipway.cloud.credentials
attributes:
  check_mode:
    support: full
    description: Only reads.
  diff_mode:
    support: none
    description: Changes nothing, so has nothing to show.
options:
  image:
    description: Only machines of this logical image.
    type: str
  deployment:
    description: Only machines of this deployment.
    type: str
  name:
    description: Only machines with these names.
    type: list
    elements: str
notes:
  - Without O(cloud) or O(clouds), every cloud of the catalog is listed; a cloud that cannot be listed (for
    example, its credential variables are not set) is then a warning, not a failure. A cloud named explicitly
    that cannot be listed fails the task, after the others are reported.
seealso:
  - module: slipway.cloud.instance
"""

EXAMPLES = r"""
- name: The machines of one deployment on two clouds
  slipway.cloud.instance_info:
    clouds: [local-a, local-b]
    deployment: shop
  delegate_to: localhost
  register: found

- name: Their SSH URLs
  ansible.builtin.debug:
    msg: "{{ found.instances | map(attribute='ssh_url') | list }}"
"""

RETURN = r"""
instances:
  description: The matching machines, cloud by cloud, sorted by name; an empty list when there are none.
    Each has the fields M(slipway.cloud.instance) returns in its RV(instances).
  returned: always
  type: list
  elements: dict
  sample:
    - cloud: local-a
      name: web-01
      id: local-a-web-01
      image: debian-12
      state: running
      ssh_url: ssh://debian@198.18.1.10
clouds:
  description: Per cloud, C(status) (C(ok) or C(failed)), C(count), and C(error) when it failed.
  returned: always
  type: dict
  sample: {local-a: {status: ok, count: 1}}
"""

from ansible_collections.slipway.cloud.plugins.module_utils.engine.fanout import failure_message, failures_of
from ansible_collections.slipway.cloud.plugins.module_utils.engine.listing import list_instances
from ansible_collections.slipway.cloud.plugins.module_utils.module_base import CREDENTIALS_ARGUMENT_SPEC, SlipwayModule
from ansible_collections.slipway.cloud.plugins.module_utils.names import TASK_ID_OPTIONS, check_options
from ansible_collections.slipway.cloud.plugins.module_utils.engine.planning import clouds_from

# Ships every provider adapter with the module (see providers/families.py).
from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # noqa: F401 pylint: disable=unused-import


def argument_spec():
    spec = dict(
        cloud=dict(type="str"),
        clouds=dict(type="list", elements="str"),
        image=dict(type="str"),
        deployment=dict(type="str"),
        name=dict(type="list", elements="str"),
    )
    spec.update(CREDENTIALS_ARGUMENT_SPEC)
    return spec


#: shared with the action plugin, which validates the same way when it runs the engine itself
MODULE_RULES = dict(mutually_exclusive=[("cloud", "clouds")])


def main():
    module = SlipwayModule(argument_spec=argument_spec(), supports_check_mode=True, **MODULE_RULES)
    module.run(execute)


def execute(module):
    params = module.params
    check_options(params, TASK_ID_OPTIONS)
    catalog = module.load_catalog()
    chosen = clouds_from(params["cloud"], params["clouds"])
    clouds = chosen or list(catalog.clouds)
    instances, per_cloud = list_instances(catalog, clouds, image=params["image"], deployment=params["deployment"],
                                          names=params["name"], environ=getattr(module, "environ", None))
    failed = failures_of(per_cloud)
    output = dict(changed=False, instances=instances, clouds=per_cloud)
    if failed and chosen:
        module.fail_json(msg=failure_message(failed, len(clouds), "could not be listed"),
                         failed_clouds=[c for c, dummy in failed], **output)
    if failed:
        module.warn("clouds not listed, their machines are missing: %s" % " | ".join("%s: %s" % f for f in failed))
    return output


if __name__ == "__main__":
    main()
