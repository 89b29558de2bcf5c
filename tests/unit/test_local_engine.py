# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's pure parts, no root needed: subnets, names, cpuinfo, nft rendering, apt sources.

The real machines are tested in tests/integration/local/.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import firewall, host, image, state
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError, Rule

HOST_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Test CPU
physical id\t: 0
siblings\t: 4
core id\t\t: 0
cpu cores\t: 4
apicid\t\t: 0
initial apicid\t: 0
flags\t\t: fpu vme

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Test CPU
physical id\t: 0
siblings\t: 4
core id\t\t: 1
cpu cores\t: 4
apicid\t\t: 2
initial apicid\t: 2
flags\t\t: fpu vme
"""


@pytest.mark.parametrize("subnet", ["198.18.1.0/24", "198.19.255.0/24", "198.18.0.0/16", "198.18.7.16/28"])
def test_subnets_inside_the_range_are_accepted(subnet):
    assert str(host.check_subnet(subnet, "c")) == subnet


@pytest.mark.parametrize("subnet, message", [
    ("10.0.0.0/24", "is outside 198.18.0.0/15"),
    ("172.16.0.0/24", "is outside 198.18.0.0/15"),
    ("192.168.0.0/24", "is outside 198.18.0.0/15"),
    ("198.17.255.0/24", "is outside 198.18.0.0/15"),
    ("198.16.0.0/14", "is outside 198.18.0.0/15"),
    ("2001:db8::/64", "is outside 198.18.0.0/15"),
    ("198.18.1.1/24", "is not a network"),
    ("nonsense", "is not a network"),
    ("198.18.1.0/30", "between /16 and /28"),
    ("", "is missing"),
])
def test_other_subnets_are_refused_with_a_clear_error(subnet, message):
    with pytest.raises(ProviderError) as error:
        host.check_subnet(subnet, "local-q")
    assert error.value.msg.startswith("cloud local-q option subnet")
    assert message in error.value.msg
    assert error.value.details["key"] == "options.subnet"


def test_cpuinfo_has_one_block_per_cpu_and_a_matching_topology():
    text = host.cpuinfo_for(3, HOST_CPUINFO)
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 3
    assert re.findall(r"(?m)^processor\s*: (\d+)$", text) == ["0", "1", "2"]
    assert set(re.findall(r"(?m)^siblings\s*: (\d+)$", text)) == {"3"}
    assert set(re.findall(r"(?m)^cpu cores\s*: (\d+)$", text)) == {"3"}
    assert re.findall(r"(?m)^core id\s*: (\d+)$", text) == ["0", "1", "2"]
    assert set(re.findall(r"(?m)^physical id\s*: (\d+)$", text)) == {"0"}
    assert "model name\t: Test CPU" in blocks[2]


def test_cpu_lists_parse():
    assert host.parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]


def test_bridge_names_fit_linux_and_differ_per_root():
    assert state.default_bridge_name("local-a") == "slw-local-a"
    long_name = state.default_bridge_name("a-very-long-cloud-name")
    assert len(long_name) <= 15 and long_name.startswith("slw")
    other_root = state.default_bridge_name("local-a", "1234abcd")
    assert other_root != "slw-local-a" and len(other_root) <= 15
    assert state.StateRoot("/var/lib/slipway/local").nft_table == "slipway_local"
    assert state.StateRoot("/tmp/x").nft_table.startswith("slipway_local_")
    assert state.StateRoot("/tmp/x").cgroup_parent.startswith("slipway-")


def _ruleset(rules, groups=("web",), members=()):
    clouds = {"local-a": {"bridge": "slw-local-a", "subnet": "198.18.1.0/24", "gateway": "198.18.1.1"}}
    machines = [{"id": "aa11bb22", "name": "web-1", "cloud": "local-a", "state": "running",
                 "address": "198.18.1.2", "security_groups": list(groups)}]
    machines += [{"id": "cc33dd4%d" % i, "name": "m%d" % i, "cloud": "local-a", "state": "running",
                  "address": address, "security_groups": ["lb"]} for i, address in enumerate(members)]
    group_data = {"local-a": {"web": {"rules": [r.to_dict() for r in rules]}, "lb": {"rules": []}}}
    return firewall.render_ruleset("slipway_local_test", clouds, machines, group_data, 3143)


def test_a_machine_is_closed_until_a_rule_opens_it():
    text = _ruleset([])
    chain = text[text.index("chain m_aa11bb22"):]
    chain = chain[:chain.index("\n  }")]
    assert "ct state established,related accept" in chain
    assert chain.rstrip().endswith("reject")
    assert "ip daddr vmap { 198.18.1.2 : jump m_aa11bb22" in text
    assert "tcp dport 3143 accept" in text                     # machines reach the apt proxy only
    assert "ip saddr 198.18.1.0/24 ip daddr != 198.18.1.0/24 drop" in text


def test_a_machine_on_a_cloud_without_security_groups_is_open_on_the_host_side():
    clouds = {"local-a": {"bridge": "slw-local-a", "subnet": "198.18.1.0/24", "gateway": "198.18.1.1"}}
    machines = [{"id": "aa11bb22", "name": "web-1", "cloud": "local-a", "state": "running",
                 "address": "198.18.1.2", "security_groups": [], "cloud_firewall": False}]
    text = firewall.render_ruleset("slipway_local_test", clouds, machines, {}, 3143)
    chain = text[text.index("chain m_aa11bb22"):]
    chain = chain[:chain.index("\n  }")].splitlines()
    assert chain[3].strip() == "accept"                         # before any reject
    assert "ip saddr 198.18.1.0/24 ip daddr != 198.18.1.0/24 drop" in text   # still no way out


def test_rules_render_as_nft_statements():
    rules = [Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 8000, 8100, "198.18.0.0/15"),
             Rule("udp", None, None, "198.18.1.0/24"), Rule("icmp", 8, None, "0.0.0.0/0"),
             Rule("icmp", 3, 4, "0.0.0.0/0"), Rule("any", None, None, "198.18.2.7/32"),
             Rule("tcp", 80, 80, "group:lb"), Rule("tcp", 443, 443, "::/0")]
    text = _ruleset(rules, members=["198.18.1.9", "198.18.1.10"])
    web = text[text.index("chain %s" % firewall.group_chain("local-a", "web")):]
    web = web[:web.index("\n  }")]
    for statement in ("tcp dport 22 accept", "ip saddr 198.18.0.0/15 tcp dport 8000-8100 accept",
                      "ip saddr 198.18.1.0/24 meta l4proto udp accept", "meta l4proto icmp icmp type 8 accept",
                      "meta l4proto icmp icmp type 3 icmp code 4 accept", "ip saddr 198.18.2.7/32 accept",
                      "ip saddr { 198.18.1.9, 198.18.1.10 } tcp dport 80 accept"):
        assert statement in web, statement
    assert "443" not in web                                     # machines have no IPv6
    assert "jump %s" % firewall.group_chain("local-a", "web") in text


def test_a_group_rule_with_no_members_accepts_nothing():
    text = _ruleset([Rule("tcp", 80, 80, "group:lb")])
    assert "dport 80" not in text


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nftables")
def test_the_rendered_table_is_valid_nft():
    rules = [Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("icmp", 3, 4, "0.0.0.0/0"), Rule("tcp", 80, 80, "group:lb"),
             Rule("udp", 53, 53, "198.18.0.0/15")]
    text = _ruleset(rules, members=["198.18.1.9"])
    # Only the table definition (the leading delete needs an existing table, which -c cannot assume).
    check = subprocess.run(["nft", "-c", "-f", "-"], input=text.split("\n", 2)[2], universal_newlines=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert check.returncode == 0, check.stderr


def test_apt_sources_both_formats(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb http://mirror.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian bookworm-updates main\n"
        "deb-src http://mirror.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n")
    (tmp_path / "sources.list.d" / "tools.list").write_text("deb https://tools.example/apt cloud-sdk-bookworm main\n")
    assert image.apt_sources(str(tmp_path)) == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://other.example/debian", "bookworm-updates"),
        ("http://deb.example/debian-security", "bookworm-security"),
        ("https://tools.example/apt", "cloud-sdk-bookworm"),
    ]


def test_flavors_that_do_not_fit_are_refused(monkeypatch):
    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import machines
    from ansible_collections.slipway.cloud.plugins.module_utils.model import Flavor

    class TwoCpus:
        @staticmethod
        def host_cpus():
            return [0, 1]

    monkeypatch.setattr(host, "host_memory_bytes", lambda: 8 * 1024 ** 3)
    flavors = [Flavor("Micro", 1, 0.5), Flavor("Medium", 2, 4), Flavor("Large", 4, 8), Flavor("Fat", 1, 8)]
    machines.check_fits("local-a", "Medium", 2, 4, TwoCpus, flavors)
    for name, cpu, ram in (("Large", 4, 8), ("Fat", 1, 8)):
        with pytest.raises(ProviderError) as error:
            machines.check_fits("local-a", name, cpu, ram, TwoCpus, flavors)
        assert "does not fit this host, which can give a local machine at most 2 cpu and 7.5 GB" in error.value.msg
        assert error.value.details["valid"] == ["Micro", "Medium"]
