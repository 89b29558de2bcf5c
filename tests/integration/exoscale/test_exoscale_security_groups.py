# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security groups on the fake Exoscale v2 API: converge, a second ensure unchanged, purge, delete."""

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError, Rule
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import parse_rules

WEB = [
    {"proto": "tcp", "ports": 22, "source": "0.0.0.0/0"},
    {"proto": "tcp", "ports": [80, 443], "source": "0.0.0.0/0"},
    {"proto": "udp", "ports": "60000-61000", "source": "2001:db8::/32"},
    {"proto": "icmp", "icmp_type": 8, "icmp_code": 0, "source": "10.1.2.3"},
    {"proto": "icmp", "source": "::/0"},
    {"proto": "tcp", "ports": "all", "source": "web"},        # from the group itself
]
# The same rules written differently: a second ensure must see no change.
WEB_RESPELLED = [
    {"protocol": "6", "port": "22", "cidr": "0.0.0.0/0"},
    {"proto": "TCP", "ports": ["443", 80], "source": "0.0.0.0/0"},
    {"proto": 17, "ports": "60000-61000", "source": "2001:0db8:0000::/32"},
    {"proto": "icmp", "icmp_type": "8", "icmp_code": 0, "source": "10.1.2.3/32"},
    {"proto": "icmpv6", "icmp_type": -1, "source": "::/0"},
    {"proto": "tcp", "ports": "0-65535", "source": "group:web"},
]


def _server_group(exo, name):
    return next(g for g in exo.state.security_groups.values() if g["name"] == name)


def test_converge_then_unchanged(exo, provider):
    first = provider.ensure_security_group("web", "web servers", parse_rules(WEB))
    assert first["changed"] is True and first["before"] is None and first["id"]
    group = _server_group(exo, "web")
    assert group["description"] == "web servers"
    by_proto = sorted((r["protocol"], r.get("start-port"), r.get("end-port")) for r in group["rules"])
    assert ("icmpv6", None, None) in by_proto and ("tcp", 1, 65535) in by_proto and ("udp", 60000, 61000) in by_proto
    assert len(group["rules"]) == 7
    self_rule = next(r for r in group["rules"] if "security-group" in r)
    assert self_rule["security-group"]["name"] == "web"

    adds = exo.count("add-rule-to-security-group")
    second = provider.ensure_security_group("web", "web servers", parse_rules(WEB_RESPELLED))
    assert second["changed"] is False, second
    assert second["before"] == second["after"] == first["after"]
    assert exo.count("add-rule-to-security-group") == adds
    assert exo.count("delete-rule-from-security-group") == 0
    listed = provider.list_security_groups()
    assert listed["web"] == first["after"]


def test_purge_and_keep(exo, provider):
    provider.ensure_security_group("db", "db", parse_rules(WEB[:2]))
    # A rule added by hand on the cloud.
    group = _server_group(exo, "db")
    exo.state.add_rule(group["id"], {"flow-direction": "ingress", "protocol": "tcp", "start-port": 5432,
                                     "end-port": 5432, "network": "192.0.2.0/24"})
    kept = provider.ensure_security_group("db", "db", parse_rules(WEB[:1]), purge_rules=False)
    assert kept["changed"] is False
    assert Rule("tcp", 5432, 5432, "192.0.2.0/24") in kept["after"]
    purged = provider.ensure_security_group("db", "db", parse_rules(WEB[:1]), purge_rules=True)
    assert purged["changed"] is True
    assert purged["after"] == [Rule("tcp", 22, 22, "0.0.0.0/0")]
    assert [(r["start-port"], r["network"]) for r in _server_group(exo, "db")["rules"]] == [(22, "0.0.0.0/0")]


def test_egress_and_unexpressible_rules_are_left_alone(exo, provider):
    provider.ensure_security_group("edge", "edge", parse_rules(WEB[:1]))
    group = _server_group(exo, "edge")
    exo.state.add_rule(group["id"], {"flow-direction": "egress", "protocol": "tcp", "start-port": 25,
                                     "end-port": 25, "network": "0.0.0.0/0"})
    exo.state.add_rule(group["id"], {"flow-direction": "ingress", "protocol": "gre", "network": "0.0.0.0/0"})
    result = provider.ensure_security_group("edge", "edge", parse_rules(WEB[:1]), purge_rules=True)
    assert result["changed"] is False
    assert len(_server_group(exo, "edge")["rules"]) == 3


def test_check_mode_changes_nothing(exo, provider):
    planned = provider.ensure_security_group("web", "web", parse_rules(WEB), check_mode=True)
    assert planned["changed"] is True and planned["before"] is None
    assert exo.state.security_groups == {}
    provider.ensure_security_group("web", "web", parse_rules(WEB[:1]))
    planned = provider.ensure_security_group("web", "web", parse_rules(WEB[:2]), check_mode=True)
    assert planned["changed"] is True and len(planned["after"]) == 3
    assert len(_server_group(exo, "web")["rules"]) == 1


def test_rules_from_another_group(exo, provider):
    provider.ensure_security_group("bastion", "bastion", parse_rules(WEB[:1]))
    result = provider.ensure_security_group("app", "app", parse_rules(
        [{"proto": "tcp", "ports": 22, "source": "group:bastion"}]))
    assert result["after"] == [Rule("tcp", 22, 22, "group:bastion")]
    with pytest.raises(ProviderError, match="from group\\(s\\) nowhere, which do not exist"):
        provider.ensure_security_group("app2", "app", parse_rules([{"proto": "tcp", "ports": 22,
                                                                    "source": "group:nowhere"}]))


def test_port_zero_alone_is_refused(exo, provider):
    with pytest.raises(ProviderError, match="cannot open port 0"):
        provider.ensure_security_group("z", "z", parse_rules([{"proto": "tcp", "ports": 0, "source": "0.0.0.0/0"}]))
    assert exo.state.security_groups == {}


def test_any_protocol(exo, provider):
    rules = parse_rules([{"proto": "any", "source": "0.0.0.0/0"}])
    assert provider.ensure_security_group("open", "opt-in", rules)["changed"] is True
    assert _server_group(exo, "open")["rules"][0]["protocol"] == "all"
    assert provider.ensure_security_group("open", "opt-in", rules)["changed"] is False


def test_delete(exo, provider):
    provider.ensure_security_group("gone", "gone", parse_rules(WEB[:1]))
    result = provider.delete_security_group("gone", check_mode=True)
    assert result["changed"] is True and exo.state.security_groups
    result = provider.delete_security_group("gone")
    assert result["changed"] is True and result["before"] == [Rule("tcp", 22, 22, "0.0.0.0/0")]
    assert exo.state.security_groups == {}
    assert provider.delete_security_group("gone") == {"changed": False, "before": None, "after": None}
