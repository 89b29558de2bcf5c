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
  - Reads the catalog only; calls no cloud API.
author:
  - slipway.cloud contributors (@slipway-cloud)
extends_documentation_fragment:
  - slipway.cloud.catalog
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

- name: Show Ultimum's flavor table
  slipway.cloud.size_info:
    cloud: ultimum
  delegate_to: localhost
"""

RETURN = r"""
cloud:
  description: The cloud's name.
  returned: always
  type: str
  sample: exoscale-ch-gva
sizing:
  description: V(table) (only the listed flavors) or V(explicit) (any cpu/RAM).
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
flavor:
  description: The chosen flavor's name; null on explicit-sizing clouds.
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

from ansible_collections.slipway.cloud.plugins.module_utils.module_base import SlipwayModule
from ansible_collections.slipway.cloud.plugins.module_utils.sizing import (
    choose_flavor, flavor_to_dict, sorted_flavors,
)


def main_size_info(module):
    params = module.params
    catalog = module.load_catalog()
    cloud = catalog.cloud(params["cloud"])
    result = {
        "catalog": list(catalog.layers),
        "cloud": cloud.name,
        "sizing": cloud.sizing,
        "flavors": [flavor_to_dict(f) for f in sorted_flavors(cloud)],
    }
    if params["flavor"] is None and params["cpu"] is None and params["ram_gb"] is None:
        return result
    choice = choose_flavor(cloud, cpu=params["cpu"], ram_gb=params["ram_gb"], flavor=params["flavor"],
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
        ),
        mutually_exclusive=[("flavor", "cpu"), ("flavor", "ram_gb")],
        supports_check_mode=True,
    )
    module.run(main_size_info)


if __name__ == "__main__":
    main()
