# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Neutron security groups for the openstack family: the group primitives of base.Provider.

* ingress rules only: the egress rules Neutron puts in every group are never touched nor reported, and
  rules slipway cannot express (other protocols, remote address groups) are left alone, never purged;
* the ethertype comes from the source (IPv4 or IPv6); ICMP from an IPv6 source is ``ipv6-icmp``;
  a group-sourced rule refers to the group's id (IPv4, Neutron's default);
* Neutron has no port 0: "all ports" (0-65535) is stored, and read back, as 1-65535, as Exoscale does;
* Neutron allows several groups of one name. Runs at once that each create a group can make two: every
  run keeps the same one (the oldest, then the lowest id), removes the others, and reads only that one;
  a duplicate rule is Neutron's 409, which means the rule is there.

No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import SecurityGroup
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import canonical, parse_rules, ports_from_one

_PROTOCOLS_IN = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
                 "ipv6-icmp": "icmp", "icmpv6": "icmp", "58": "icmp"}


def neutron_canonical(rule, where=None):
    """A Rule as Neutron stores it: tcp/udp ports start at 1."""
    return ports_from_one(rule, "OpenStack (Neutron)", where)


def survivor_order(group):
    """Which of several groups of one name every run keeps: the oldest (Neutron dates them to the second),
    then the lowest id."""
    return (str(group.created_at or ""), str(group.id))


def rule_from_api(rule, name_by_id):
    """One of Neutron's rules (a dict) as a slipway Rule, or None when slipway does not manage it."""
    if rule.get("direction") != "ingress" or rule.get("remote_address_group_id"):
        return None
    protocol = rule.get("protocol")
    proto = "any" if protocol in (None, "", "any") else _PROTOCOLS_IN.get(str(protocol).lower())
    if proto is None:
        return None                       # gre, esp, sctp...: left alone
    if rule.get("remote_group_id"):
        if rule["remote_group_id"] not in name_by_id:
            return None                   # another project's group: it has no name here
        source = "group:" + name_by_id[rule["remote_group_id"]]
    else:
        source = rule.get("remote_ip_prefix") or ("::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0")
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    data = {"proto": proto, "source": source}
    if proto in ("tcp", "udp"):
        data["ports"] = "%d-%d" % (1 if low is None else low, 65535 if high is None else high)
    elif proto == "icmp":
        data.update(icmp_type=-1 if low is None else low, icmp_code=-1 if high is None or low is None else high)
    try:
        parsed = parse_rules([data])
    except CatalogError:
        return None
    return neutron_canonical(parsed[0]) if parsed else None


def rule_body(group_id, rule, index):
    """The create-rule request for ``rule`` in the group ``group_id``."""
    body = {"security_group_id": group_id, "direction": "ingress", "ether_type": "IPv4"}
    if rule.source.startswith("group:"):
        body["remote_group_id"] = index[rule.source[len("group:"):]].id
    else:
        network = ipaddress.ip_network(rule.source)
        body["remote_ip_prefix"] = rule.source
        body["ether_type"] = "IPv6" if network.version == 6 else "IPv4"
    if rule.proto in ("tcp", "udp"):
        body.update(protocol=rule.proto, port_range_min=rule.port_from, port_range_max=rule.port_to)
    elif rule.proto == "icmp":
        body["protocol"] = "ipv6-icmp" if body["ether_type"] == "IPv6" else "icmp"
        if rule.port_from is not None:
            body["port_range_min"] = rule.port_from
            if rule.port_to is not None:
                body["port_range_max"] = rule.port_to
    return body


class NeutronGroups:
    """The group primitives, on the provider's connection and retry budget."""

    def __init__(self, provider):
        self.provider = provider
        self.duplicates = {}              # name -> ids of the other groups of that name, from the last index

    @property
    def network(self):
        return self.provider.conn.network

    def _listing(self, what, **query):
        return self.provider.listing(what, "network", "security_groups", project_id=self.provider.project_id,
                                     **query)

    def index(self):
        groups = sorted(self._listing("list security groups"), key=survivor_order)
        kept = {}
        self.duplicates = {}
        for group in groups:
            if group.name in kept:
                self.duplicates.setdefault(group.name, []).append(group.id)
            else:
                kept[group.name] = group
        name_by_id = {g.id: g.name for g in kept.values()}
        name_by_id.update({dup: name for name, dups in self.duplicates.items() for dup in dups})
        return {name: self._group(group, name_by_id) for name, group in kept.items()}

    @staticmethod
    def _group(group, name_by_id):
        rules, handles = [], {}
        for entry in group.security_group_rules or []:
            rule = rule_from_api(entry, name_by_id)
            if rule is not None:
                rules.append(rule)
                handles.setdefault(rule, []).append(entry.get("id"))
        return SecurityGroup(group.name, group.id, canonical(rules), handles, group.description or "")

    def survivor(self, name):
        """The group of that name every run keeps; the others (made by runs at once) are removed."""
        groups = sorted(self._listing("list security groups named %s" % name, name=name), key=survivor_order)
        for other in groups[1:]:
            # 409: a server already uses it (the other run got that far): it stays, the index reads the survivor
            self.provider.call("remove duplicate security group %s (%s)" % (name, other.id),
                               lambda other=other: self.network.delete_security_group(other.id), tolerated=(404, 409))
        return groups[0] if groups else None

    def create(self, name, description):
        def made_before():
            found = self.network.security_groups(name=name, project_id=self.provider.project_id)
            return next(iter(found), None)

        self.provider.call("create security group %s" % name, lambda: self.network.create_security_group(
            name=name, description=description or ""), look_first=made_before)
        return self.survivor(name).id

    def add_rules(self, group, rules, index):
        for rule in rules:
            what = "add rule %s %s from %s to security group %s" % (
                rule.proto, "" if rule.port_from is None else rule.port_from, rule.source, group.name)

            def add():
                return self.network.create_security_group_rule(**rule_body(group.id, rule, index))

            try:
                # 409: the rule is there (a lost answer, a run at once)
                self.provider.call(what, add, tolerated=(409,))
            except ProviderError as exc:
                if exc.details.get("http_status") != 404:
                    raise
                # Another run at once kept another group of this name and removed this one: use that one.
                survivor = self.survivor(group.name)
                if survivor is None or survivor.id == group.id:
                    raise
                group.id = survivor.id
                self.provider.call(what, add, tolerated=(409,))

    def remove_rules(self, group, rules):
        for rule in rules:
            for rule_id in group.handles.get(rule, []):
                self.provider.call("remove a rule of security group %s" % group.name,
                                   lambda rule_id=rule_id: self.network.delete_security_group_rule(rule_id),
                                   tolerated=(404,))

    def delete(self, group):
        for group_id in [group.id] + self.duplicates.get(group.name, []):
            self.provider.call("delete security group %s" % group.name,
                               lambda group_id=group_id: self.network.delete_security_group(group_id), tolerated=(404,))
