# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 security groups against moto: converge, stay unchanged, purge or not, check mode."""

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError, Rule
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import parse_rules

WEB = [
    {"proto": "tcp", "ports": [22, 80, 443], "source": "0.0.0.0/0"},
    {"proto": "tcp", "ports": "8000-8100", "source": "10.1.2.3"},
    {"proto": "udp", "ports": 53, "source": "10.0.0.0/8"},
    {"proto": "icmp", "icmp_type": 8, "source": "0.0.0.0/0"},
    {"proto": "icmp", "source": "192.0.2.0/24"},
    {"proto": "tcp", "ports": 22, "source": "::/0"},
    {"proto": "any", "source": "web"},
]
# The same rules as a user might write them another time.
WEB_RESPELLED = [
    {"proto": 6, "ports": ["443", "80", "22"], "source": "0.0.0.0/0"},
    {"proto": "TCP", "ports": "8000 - 8100", "source": "10.1.2.3/32"},
    {"proto": "17", "ports": "53-53", "source": "10.9.9.9/8"},
    {"proto": "icmp", "icmp_type": "8", "icmp_code": -1, "source": "0.0.0.0/0"},
    {"proto": 1, "icmp_type": -1, "source": "192.0.2.77/24"},
    {"proto": "tcp", "ports": 22, "source": "0::0/0"},
    {"proto": -1, "source": "group:web"},
]


def test_create_then_unchanged(provider, moto):
    first = provider.ensure_security_group("web", "web servers", WEB)
    assert first["changed"] is True and first["before"] is None
    assert first["after"] == list(parse_rules(WEB))
    assert first["id"].startswith("sg-")

    moto.clear_counters()
    second = provider.ensure_security_group("web", "web servers", WEB_RESPELLED)
    assert second == {"changed": False, "before": first["after"], "after": first["after"], "id": first["id"]}
    assert set(moto.faults()["actions"]) == {"DescribeSecurityGroups"}
    assert provider.list_security_groups()["web"] == first["after"]


def test_rules_read_back_from_ec2_equal_what_was_asked(provider):
    provider.ensure_security_group("web", "web servers", WEB)
    listed = provider.list_security_groups()
    assert listed["web"] == list(parse_rules(WEB))
    assert "default" in listed


def test_add_and_purge(provider, moto):
    provider.ensure_security_group("app", "app", [{"ports": [22, 80], "source": "0.0.0.0/0"}])
    moto.clear_counters()
    result = provider.ensure_security_group("app", "app", [{"ports": [22, 443], "source": "0.0.0.0/0"}])
    assert result["changed"] is True
    assert result["before"] == [Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 80, 80, "0.0.0.0/0")]
    assert result["after"] == [Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 443, 443, "0.0.0.0/0")]
    actions = moto.faults()["actions"]
    assert actions["RevokeSecurityGroupIngress"] == 1 and actions["AuthorizeSecurityGroupIngress"] == 1
    assert provider.list_security_groups()["app"] == result["after"]


def test_without_purge_extra_rules_stay(provider):
    provider.ensure_security_group("app", "app", [{"ports": [22, 80], "source": "0.0.0.0/0"}])
    result = provider.ensure_security_group("app", "app", [{"ports": 443, "source": "0.0.0.0/0"}], purge_rules=False)
    assert result["changed"] is True
    expected = [Rule("tcp", port, port, "0.0.0.0/0") for port in (22, 80, 443)]
    assert result["after"] == expected
    assert provider.list_security_groups()["app"] == expected
    again = provider.ensure_security_group("app", "app", [{"ports": 443, "source": "0.0.0.0/0"}], purge_rules=False)
    assert again["changed"] is False


def test_check_mode_reports_and_changes_nothing(provider, moto):
    created = provider.ensure_security_group("app", "app", [{"ports": 22, "source": "0.0.0.0/0"}], check_mode=True)
    assert created == {"changed": True, "before": None, "after": [Rule("tcp", 22, 22, "0.0.0.0/0")], "id": None}
    assert "app" not in provider.list_security_groups()

    provider.ensure_security_group("app", "app", [{"ports": 22, "source": "0.0.0.0/0"}])
    moto.clear_counters()
    planned = provider.ensure_security_group("app", "app", [{"ports": 80, "source": "0.0.0.0/0"}], check_mode=True)
    assert planned["changed"] is True and planned["after"] == [Rule("tcp", 80, 80, "0.0.0.0/0")]
    assert set(moto.faults()["actions"]) == {"DescribeSecurityGroups"}
    assert provider.list_security_groups()["app"] == [Rule("tcp", 22, 22, "0.0.0.0/0")]


def test_source_group_must_exist(provider):
    with pytest.raises(ProviderError) as err:
        provider.ensure_security_group("app", "app", [{"ports": 5432, "source": "db-clients"}])
    assert "rules from group(s) db-clients, which do not exist" in err.value.msg
    assert "app" not in provider.list_security_groups()


def test_rule_from_another_group(provider):
    provider.ensure_security_group("clients", "clients", [])
    result = provider.ensure_security_group("db", "db", [{"ports": 5432, "source": "clients"}])
    assert result["after"] == [Rule("tcp", 5432, 5432, "group:clients")]
    assert provider.list_security_groups()["db"] == result["after"]
    assert provider.ensure_security_group("db", "db", [{"ports": "5432", "source": "group:clients"}])["changed"] is False


def test_delete(provider):
    provider.ensure_security_group("tmp", "tmp", [{"ports": 22, "source": "0.0.0.0/0"}])
    assert provider.delete_security_group("tmp", check_mode=True)["changed"] is True
    assert "tmp" in provider.list_security_groups()
    result = provider.delete_security_group("tmp")
    assert result == {"changed": True, "before": [Rule("tcp", 22, 22, "0.0.0.0/0")], "after": None}
    assert "tmp" not in provider.list_security_groups()
    assert provider.delete_security_group("tmp")["changed"] is False


def test_bad_rule_is_a_clear_error(provider):
    from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError

    with pytest.raises(CatalogError, match=r"security group app rules\[0\]\.ports"):
        provider.ensure_security_group("app", "app", [{"ports": "http", "source": "0.0.0.0/0"}])


def test_foreign_protocols_are_left_alone(provider):
    """A rule slipway cannot express (GRE, protocol 47) is neither shown nor purged."""
    group_id = provider.ensure_security_group("vpn", "vpn", [{"ports": 22, "source": "0.0.0.0/0"}])["id"]
    provider._call("add a GRE rule", {"Action": "AuthorizeSecurityGroupIngress", "GroupId": group_id,
                                      "IpPermissions.1.IpProtocol": "47",
                                      "IpPermissions.1.FromPort": "-1", "IpPermissions.1.ToPort": "-1",
                                      "IpPermissions.1.IpRanges.1.CidrIp": "203.0.113.0/24"})
    raw = provider._describe_groups(["vpn"])[0]
    assert "47" in [perm.findtext("ipProtocol") for perm in raw.findall("ipPermissions/item")]
    assert provider.list_security_groups()["vpn"] == [Rule("tcp", 22, 22, "0.0.0.0/0")]
    assert provider.ensure_security_group("vpn", "vpn", [{"ports": 22, "source": "0.0.0.0/0"}])["changed"] is False
