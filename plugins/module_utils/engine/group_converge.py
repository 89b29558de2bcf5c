# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security-group engine behind the security_group module, and the groups a placement needs.

``converge_security_group`` ensures (or deletes) one group identically on several clouds at once, through
the per-cloud fan-out; ``ensure_placement_groups`` makes a placement's groups exist before machines use
them (the instance converge calls it). The diff itself is each provider's base algorithm. No Ansible imports.
"""

from __future__ import annotations

from ansible_collections.slipway.cloud.plugins.module_utils.engine.fanout import (
    CloudOutcome,
    for_each_cloud,
    provider_opener,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError, SlipwayError
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import parse_rules as parse_catalog_rules
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import rules_to_dicts


def supports_groups(cloud, provider):
    """True when the cloud has security groups (catalog) and its provider manages them."""
    if not getattr(cloud, "security_groups", True):
        return False
    caps = getattr(provider, "capabilities", None)
    return caps is None or "security_groups" in caps


def rules_out(rules):
    """Rules in the spelling users write (rules.py reads it back unchanged)."""
    return None if rules is None else rules_to_dicts(rules)


def group_outcome(outcome):
    outcome = dict(outcome or {})
    return {"changed": bool(outcome.get("changed")), "before": rules_out(outcome.get("before")),
            "after": rules_out(outcome.get("after"))}


def ensure_placement_groups(catalog, placement, provider, check_mode):
    """Make the placement's security groups exist on its cloud before machines use them.

    Catalog groups are ensured with the catalog's rules (rules added on the
    cloud by hand are left alone: purging is security_group's job). A group
    the catalog does not define must already exist on the cloud.
    Returns {group: {"changed", "before", "after"}}.
    """
    cloud = placement.cloud
    if not placement.security_groups or not supports_groups(cloud, provider):
        return {}
    results = {}
    existing = None
    for group in placement.security_groups:
        definition = catalog.security_groups.get(group)
        if definition is not None:
            rules = definition.rules_for(placement.ports) if hasattr(definition, "rules_for") else definition.rules
            outcome = provider.ensure_security_group(group, definition.description, tuple(rules),
                                                     purge_rules=False, check_mode=check_mode)
            results[group] = group_outcome(outcome)
            continue
        if existing is None:
            existing = provider.list_security_groups()
        if group not in existing:
            raise SlipwayError(
                "security group %s is neither defined in the catalog nor present on cloud %s; define it in "
                "the catalog's security_groups or create it on the cloud first" % (group, cloud.name),
                cloud=cloud.name, security_group=group,
                catalog_groups=sorted(catalog.security_groups), cloud_groups=sorted(existing))
        results[group] = {"changed": False, "before": rules_out(existing[group]), "after": rules_out(existing[group])}
    return results


class GroupOutcome(CloudOutcome):
    """One cloud's part of a security_group task."""

    def __init__(self, cloud):
        super(GroupOutcome, self).__init__(cloud)
        self.changed = False
        self.supported = True
        self.before = None
        self.after = None

    def to_dict(self):
        data = {"cloud": self.cloud, "status": self.status, "changed": self.changed, "supported": self.supported,
                "before": self.before, "after": self.after}
        if self.error is not None:
            data["error"] = self.error
        return data


def converge_security_group(catalog, clouds, name, description=None, rules=None, purge_rules=True,
                            state="present", check_mode=False, provider_factory=None, environ=None,
                            parse_rules=None):
    """Ensure (or delete) one security group identically on each cloud, in parallel.

    ``rules`` are raw dicts; None takes the catalog's definition of ``name``.
    On a cloud without security groups nothing is pretended: the result says
    supported: false and carries the normalised rules for a host firewall.
    Returns (rules, {cloud: outcome dict}).
    """
    parse_rules = parse_rules or parse_catalog_rules
    if state not in ("present", "absent"):
        raise InputError("state must be present or absent, got %r" % (state,), option="state")
    if not clouds:
        raise InputError("give cloud or clouds: the clouds to work on", option="clouds")
    definition = catalog.security_groups.get(name)
    if rules is None:
        if definition is None and state == "present":
            raise InputError("security group %s has no rules: give rules, or define it in the catalog's "
                             "security_groups (known: %s)" % (name, ", ".join(sorted(catalog.security_groups))
                                                              or "none"), option="rules", name=name)
        wanted = tuple(definition.rules) if definition is not None else ()
    else:
        wanted = tuple(parse_rules(rules))
    if description is None:
        description = definition.description if definition is not None and definition.description else name

    def work(cloud, provider, outcome):
        if not supports_groups(cloud, provider):
            outcome.supported, outcome.after = False, rules_out(wanted)
        elif state == "present":
            result = group_outcome(provider.ensure_security_group(
                name, description, wanted, purge_rules=purge_rules, check_mode=check_mode))
            outcome.changed, outcome.before, outcome.after = result["changed"], result["before"], result["after"]
        else:
            existing = provider.list_security_groups()
            if name in existing:
                provider.delete_security_group(name, check_mode=check_mode)
                outcome.changed, outcome.before = True, rules_out(existing[name])

    cloud_objs = [catalog.cloud(c) for c in clouds]
    outcomes = for_each_cloud(cloud_objs, work, provider_opener(provider_factory, environ), outcome_type=GroupOutcome)
    return rules_out(wanted), {c.name: outcomes[c.name].to_dict() for c in cloud_objs}
