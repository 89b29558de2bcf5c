# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local cloud's security groups: JSON records under the state root, enforced by one nft table.

Each write happens under the state root's lock and re-renders the host's firewall at once, so a
group's rules are in force when the call returns. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.firewall import rule_from_dict
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError


def read_groups(state, cloud_name):
    """{name: (description, [Rule])} of one local cloud."""
    return {name: (data.get("description", ""), [rule_from_dict(r) for r in data.get("rules", ())])
            for name, data in sorted(state.groups(cloud_name).items())}


def write_group(state, definition, name, description, rules):
    """Create or replace the group ``name`` with exactly ``rules`` (model.Rule); applies nft at once."""
    if not name or not isinstance(name, str) or len(name) > 255:
        raise ProviderError("security group name %r is not valid (1-255 characters)" % (name,), group=name)
    with state.lock():
        hostsetup.require_cloud(state, definition)
        data = {"name": name, "description": description or "", "rules": [r.to_dict() for r in rules]}
        state.save(state.group_file(definition["name"], name), data)
        hostsetup.apply_firewall(state)


def change_rules(state, definition, name, add=(), remove=()):
    """Add and remove rules of an existing group in one locked read-modify-write (parallel runs
    never lose each other's rules)."""
    with state.lock():
        data = state.groups(definition["name"]).get(name)
        if data is None:
            raise ProviderError("no security group %s on local cloud %s" % (name, definition["name"]), group=name)
        removed = set(remove)
        kept = [rule for rule in (rule_from_dict(r) for r in data.get("rules", ())) if rule not in removed]
        write_group(state, definition, name, data.get("description", ""), kept + [r for r in add if r not in kept])


def delete_group(state, cloud_name, name):
    """Remove the group; refused while machines use it. Returns whether it existed."""
    with state.lock():
        users = [r["name"] for r in state.machines(cloud_name) if name in r.get("security_groups", ())]
        if users:
            raise ProviderError("security group %s is used by machines %s of local cloud %s; destroy them first"
                                % (name, ", ".join(sorted(users)), cloud_name), group=name, machines=users)
        path = state.group_file(cloud_name, name)
        existed = state.load(path) is not None
        state.remove_tree(path)
        hostsetup.apply_firewall(state)
    return existed
