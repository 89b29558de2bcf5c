#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: security_group
short_description: One security group, identical on one or several clouds
version_added: 0.1.0
description:
  - Ensures a security group (a cloud-level firewall) with the same rules on each chosen cloud, in parallel.
  - Rules are compared after normalising (canonical CIDR, port ranges, protocol numbers, ICMP types), so a
    second run reports no change however the cloud spells them.
  - On a cloud without security groups nothing is pretended; the result for that cloud says
    RV(clouds.supported=false) and carries the normalised rules, for the firewall role to apply inside the machine.
author:
  - slipway.cloud contributors (@slipway-cloud)
extends_documentation_fragment:
  - slipway.cloud.catalog
  - slipway.cloud.clouds
  - slipway.cloud.credentials
attributes:
  check_mode:
    support: full
    description: Reports what would change on each cloud; nothing is changed.
  diff_mode:
    support: full
    description: Shows the rules before and after, per cloud.
options:
  name:
    description:
      - The group's name, the same on every cloud.
    type: str
    required: true
  description:
    description:
      - The group's description; defaults to the catalog's, else to O(name).
    type: str
  rules:
    description:
      - Ingress rules. Each is C({proto, ports, source}), where C(proto) is C(tcp), C(udp), C(icmp) or C(any),
        C(ports) a port (C(80)), a range (C("8000-8100")) or a list of those, and C(source) a CIDR
        or the name of a security group. ICMP takes C(icmp_type) and C(icmp_code) instead of ports.
      - When left out, the rules of the catalog's group of that name are used.
    type: list
    elements: dict
  purge_rules:
    description:
      - Remove rules the group has on a cloud but O(rules) does not list.
    type: bool
    default: true
  state:
    description:
      - V(present) ensures the group; V(absent) deletes it where it exists.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: slipway.cloud.instance
"""

EXAMPLES = r"""
- name: A web group, identical on two clouds
  slipway.cloud.security_group:
    name: web
    description: HTTP and SSH
    clouds: [aws-eu, local-a]
    rules:
      - {proto: tcp, ports: 22, source: 198.18.0.0/15}
      - {proto: tcp, ports: [80, 443], source: 0.0.0.0/0}
      - {proto: icmp, icmp_type: 8, source: 0.0.0.0/0}
  delegate_to: localhost

- name: The catalog's definition of slipway_managed, on every cloud of a run
  slipway.cloud.security_group:
    name: slipway_managed
    clouds: [aws-eu, local-a, local-b]
  delegate_to: localhost

- name: Remove it again
  slipway.cloud.security_group:
    name: web
    clouds: [aws-eu, local-a]
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
rules:
  description: The wanted rules, normalised (the spelling O(rules) reads back unchanged).
  returned: always
  type: list
  elements: dict
  sample: [{"proto": "tcp", "ports": 22, "source": "198.18.0.0/15"}, {"proto": "tcp", "ports": "8000-8100",
            "source": "0.0.0.0/0"}]
clouds:
  description: Per cloud, how the group was (before) and is (after), and whether the cloud has security groups.
  returned: always
  type: dict
  contains:
    status:
      description: C(ok) or C(failed).
      type: str
    changed:
      description: Whether the group changed on that cloud.
      type: bool
    supported:
      description: False on a cloud without security groups; then RV(clouds.after) holds the rules a host
        firewall should apply.
      type: bool
    before:
      description: The group's rules before (null when it did not exist).
      type: list
    after:
      description: The group's rules after (null when deleted).
      type: list
    error:
      description: Why that cloud failed (msg and details).
      type: dict
      returned: on failure
  sample:
    aws-eu: {cloud: aws-eu, status: ok, changed: false, supported: true, before: [], after: []}
    local-a: {cloud: local-a, status: ok, changed: false, supported: false, before: null, after: []}
"""

from ansible_collections.slipway.cloud.plugins.module_utils.engine.fanout import failure_message, failures_of
from ansible_collections.slipway.cloud.plugins.module_utils.engine.group_converge import converge_security_group
from ansible_collections.slipway.cloud.plugins.module_utils.module_base import CREDENTIALS_ARGUMENT_SPEC, SlipwayModule
from ansible_collections.slipway.cloud.plugins.module_utils.names import TASK_ID_OPTIONS, check_options
from ansible_collections.slipway.cloud.plugins.module_utils.engine.planning import clouds_from

# Ships every provider adapter with the module (see providers/families.py).
from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # noqa: F401 pylint: disable=unused-import


def argument_spec():
    spec = dict(
        name=dict(type="str", required=True),
        description=dict(type="str"),
        rules=dict(type="list", elements="dict"),
        cloud=dict(type="str"),
        clouds=dict(type="list", elements="str"),
        purge_rules=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    spec.update(CREDENTIALS_ARGUMENT_SPEC)
    return spec


#: shared with the action plugin, which validates the same way when it runs the engine itself
MODULE_RULES = dict(mutually_exclusive=[("cloud", "clouds")], required_one_of=[("cloud", "clouds")])


def main():
    module = SlipwayModule(argument_spec=argument_spec(), supports_check_mode=True, **MODULE_RULES)
    module.run(execute)


def execute(module):
    params = module.params
    check_options(params, dict(TASK_ID_OPTIONS, name="security_group"))
    catalog = module.load_catalog()
    clouds = clouds_from(params["cloud"], params["clouds"])
    rules, per_cloud = converge_security_group(
        catalog, clouds, params["name"], description=params["description"], rules=params["rules"],
        purge_rules=params["purge_rules"], state=params["state"], check_mode=module.check_mode,
        environ=getattr(module, "environ", None))
    output = dict(changed=any(r["changed"] for r in per_cloud.values()), rules=rules, clouds=per_cloud)
    if module._diff:
        output["diff"] = {
            "before": {c: r.get("before") for c, r in per_cloud.items() if r.get("changed")},
            "after": {c: r.get("after") for c, r in per_cloud.items() if r.get("changed")},
        }
    failed = failures_of(per_cloud)
    if failed:
        module.fail_json(msg=failure_message(failed, len(per_cloud)), failed_clouds=[c for c, dummy in failed],
                         **output)
    return output


if __name__ == "__main__":
    main()
