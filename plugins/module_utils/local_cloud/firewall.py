# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security groups of the local clouds, enforced on the host with one nftables table.

The whole table is rendered from the state root and replaced in one atomic
``nft -f`` transaction, so it always matches the records (also after a crash).

Traffic TO a machine (from the host, or bridged from another machine, which
br_netfilter hands to the forward hook) goes through the machine's chain: replies
to its own connections pass, then each of its groups may accept, then a TCP reset
(or ICMP unreachable) answers: a port is closed until a rule opens it.
Traffic FROM machines to the host reaches only the apt proxy port.

Those rules match on source addresses, so a second table (family ``bridge``, in the same
transaction) makes a source address say who sent a packet: each machine's bridge port
passes only frames with the machine's own MAC, IPv4 from its own address and ARP with
its own sender MAC and address; IPv6 and every other ethertype are dropped at the port.
No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import re

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.host import ALLOWED_NETWORK
from ansible_collections.slipway.cloud.plugins.module_utils.model import Rule

# Machines in these states own their address and keep their chain.
HOLDS_ADDRESS = ("creating", "running", "stopped", "error")
# The families of the tables render_ruleset writes (each named after the state root).
TABLE_FAMILIES = ("inet", "bridge")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")


def group_chain(cloud, group):
    return "g_" + hashlib.sha1(("%s\0%s" % (cloud, group)).encode("utf-8")).hexdigest()[:12]


def machine_chain(machine_id):
    return "m_" + machine_id


def port_chain(machine_id):
    return "p_" + machine_id


def port_name(machine):
    """The machine's bridge port: its host-side veth."""
    return (machine.get("resources") or {}).get("veth") or "vslw" + machine["id"]


def delete_tables(table, delete_table):
    """Remove every table render_ruleset wrote (``delete_table(family, name)``); True if any existed."""
    return [delete_table(family, table) for family in TABLE_FAMILIES].count(True) > 0


def _quote(text):
    return '"%s"' % str(text).replace('"', "'").replace("\\", "/")[:120]


def rule_from_dict(data):
    return Rule(proto=data["proto"], port_from=data.get("port_from"), port_to=data.get("port_to"),
                source=data["source"])


def render_rule(rule, members):
    """nft statements for one Rule; ``members`` maps "group:<name>" -> [member addresses]."""
    matches = []
    if rule.source.startswith("group:"):
        addresses = sorted(members.get(rule.source, ()), key=ipaddress.ip_address)
        if not addresses:
            return []        # no member yet: nothing to accept
        matches.append("ip saddr { %s }" % ", ".join(addresses))
    else:
        network = ipaddress.ip_network(rule.source, strict=False)
        if network.version == 6:
            return []        # machines have no IPv6
        if network.prefixlen:
            matches.append("ip saddr %s" % network)
    if rule.proto in ("tcp", "udp"):
        if rule.port_from is None:
            matches.append("meta l4proto %s" % rule.proto)
        elif rule.port_to in (None, rule.port_from):
            matches.append("%s dport %d" % (rule.proto, rule.port_from))
        else:
            matches.append("%s dport %d-%d" % (rule.proto, rule.port_from, rule.port_to))
    elif rule.proto == "icmp":
        matches.append("meta l4proto icmp")
        if rule.port_from is not None and rule.port_from >= 0:
            matches.append("icmp type %d" % rule.port_from)
            if rule.port_to is not None and rule.port_to >= 0:
                matches.append("icmp code %d" % rule.port_to)
    return [" ".join(matches + ["accept"])]


def render_ruleset(table, clouds, machines, groups, proxy_port):
    """The full nft script that (re)creates ``table``.

    clouds: {name: {"bridge", "subnet", "gateway"}}; machines: record dicts;
    groups: {cloud: {group name: {"rules": [rule dicts]}}}.
    """
    live = [m for m in machines if m.get("state") in HOLDS_ADDRESS and m.get("address")]
    lines = ["table inet %s" % table, "delete table inet %s" % table, "table inet %s {" % table]

    bridges = sorted(c["bridge"] for c in clouds.values())
    lines += ["  chain input {", "    type filter hook input priority filter; policy accept;"]
    if bridges:
        lines.append("    iifname { %s } jump from_machines" % ", ".join(_quote(b) for b in bridges))
    lines += ["  }",
              "  chain from_machines {",
              "    ct state established,related accept",
              "    tcp dport %d accept" % int(proxy_port),
              "    icmp type echo-request accept",
              "    meta l4proto tcp reject with tcp reset",
              "    reject",
              "  }"]

    lines += ["  chain forward {", "    type filter hook forward priority filter; policy accept;"]
    for name in sorted(clouds):
        # Nothing leaves a local cloud's subnet: no routing between clouds, no way out.
        subnet = clouds[name]["subnet"]
        lines.append("    ip saddr %s ip daddr != %s drop" % (subnet, subnet))
    lines += ["    ip daddr %s jump to_machines" % ALLOWED_NETWORK, "  }",
              "  chain output {", "    type filter hook output priority filter; policy accept;",
              "    ip daddr %s jump to_machines" % ALLOWED_NETWORK, "  }",
              "  chain to_machines {"]
    if live:
        lines.append("    ip daddr vmap { %s }" % ", ".join(
            "%s : jump %s" % (m["address"], machine_chain(m["id"]))
            for m in sorted(live, key=lambda m: ipaddress.ip_address(m["address"]))))
    lines.append("  }")

    members = {}
    for machine in live:
        for group in machine.get("security_groups", ()):
            members.setdefault((machine["cloud"], "group:" + group), []).append(machine["address"])

    for cloud in sorted(groups):
        cloud_members = {key[1]: value for key, value in members.items() if key[0] == cloud}
        for name in sorted(groups[cloud]):
            lines.append("  chain %s {" % group_chain(cloud, name))
            lines.append("    comment %s" % _quote("%s/%s" % (cloud, name)))
            for data in groups[cloud][name].get("rules", ()):
                for statement in render_rule(rule_from_dict(data), cloud_members):
                    lines.append("    " + statement)
            lines.append("  }")

    for machine in sorted(live, key=lambda m: m["id"]):
        lines.append("  chain %s {" % machine_chain(machine["id"]))
        lines.append("    comment %s" % _quote("%s/%s" % (machine["cloud"], machine["name"])))
        lines.append("    ct state established,related accept")
        if not machine.get("cloud_firewall", True):
            lines.append("    accept")
        for group in machine.get("security_groups", ()):
            if group in groups.get(machine["cloud"], {}):
                lines.append("    jump %s" % group_chain(machine["cloud"], group))
        lines.append("    meta l4proto tcp reject with tcp reset")
        lines.append("    reject")
        lines.append("  }")
    lines.append("}")
    lines += render_port_table(table, live)
    return "\n".join(lines) + "\n"


def render_port_table(table, live):
    """The ``bridge`` table: anti-spoofing on each machine's bridge port (its host-side veth).

    At bridge prerouting, before br_netfilter hands IPv4 to the inet table: a frame a machine sends
    must carry its own MAC (when recorded) and, for IPv4, its own source address; ARP its own sender
    MAC and address. Everything else (IPv6, VLAN tags, other ethertypes) is dropped.
    """
    lines = ["table bridge %s" % table, "delete table bridge %s" % table, "table bridge %s {" % table,
             "  chain prerouting {", "    type filter hook prerouting priority -300; policy accept;"]
    ports = sorted(live, key=lambda m: m["id"])
    if ports:
        lines.append("    iifname vmap { %s }" % ", ".join(
            "%s : jump %s" % (_quote(port_name(m)), port_chain(m["id"])) for m in ports))
    lines.append("  }")
    for machine in ports:
        address = str(ipaddress.IPv4Address(machine["address"]))
        mac = str(machine.get("mac") or "").lower()
        lines += ["  chain %s {" % port_chain(machine["id"]),
                  "    comment %s" % _quote("%s/%s" % (machine["cloud"], machine["name"]))]
        if _MAC.match(mac):
            lines.append("    ether saddr != %s drop" % mac)
            arp_mac = " arp saddr ether %s" % mac
        else:
            arp_mac = ""      # a machine made before MACs were recorded: its addresses are still checked
        lines += ["    ether type ip ip saddr %s accept" % address,
                  "    ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4%s arp saddr ip %s accept"
                  % (arp_mac, address),
                  "    drop",
                  "  }"]
    lines.append("}")
    return lines
