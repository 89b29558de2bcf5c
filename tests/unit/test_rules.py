# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security-group rules: parsing, normalisation, comparison."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Rule
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import (
    diff_rules,
    normalise_proto,
    normalise_source,
    parse_rules,
    rules_to_dicts,
)


def one(**rule):
    parsed = parse_rules([rule])
    assert len(parsed) == 1, parsed
    return parsed[0]


# -- protocols ---------------------------------------------------------------

@pytest.mark.parametrize("written, expected", [
    ("tcp", "tcp"), ("TCP", "tcp"), (6, "tcp"), ("6", "tcp"),
    ("udp", "udp"), (17, "udp"), ("17", "udp"),
    ("icmp", "icmp"), (1, "icmp"), ("1", "icmp"),
    ("any", "any"), ("all", "any"), (-1, "any"), ("-1", "any"), (" Any ", "any"),
])
def test_proto_aliases(written, expected):
    assert normalise_proto(written) == expected


@pytest.mark.parametrize("bad", ["sctp", 47, "", None, True, 6.0])
def test_unknown_proto_lists_valid_ones(bad):
    with pytest.raises(CatalogError) as err:
        parse_rules([{"proto": bad, "ports": 22, "source": "0.0.0.0/0"}])
    assert "rules[0].proto" in err.value.msg
    assert "tcp, udp, icmp, any" in err.value.msg


def test_proto_defaults_to_tcp():
    assert one(ports=22, source="0.0.0.0/0") == Rule("tcp", 22, 22, "0.0.0.0/0")


# -- ports -------------------------------------------------------------------

@pytest.mark.parametrize("ports, expected", [
    (80, (80, 80)), ("80", (80, 80)), (" 80 ", (80, 80)), ("80-80", (80, 80)),
    ("8000-8100", (8000, 8100)), ("8000 - 8100", (8000, 8100)), (0, (0, 0)), (65535, (65535, 65535)),
    ("all", (0, 65535)), ("0-65535", (0, 65535)), ([22], (22, 22)),
])
def test_port_forms(ports, expected):
    rule = one(proto="tcp", ports=ports, source="0.0.0.0/0")
    assert (rule.port_from, rule.port_to) == expected


def test_port_written_as_int_or_string_is_the_same_rule():
    assert parse_rules([{"ports": 80, "source": "0.0.0.0/0"}]) == parse_rules([{"ports": "80", "source": "0.0.0.0/0"}])


def test_port_list_expands_sorted():
    rules = parse_rules([{"proto": "tcp", "ports": [443, 80, "8000-8001"], "source": "0.0.0.0/0"}])
    assert [(r.port_from, r.port_to) for r in rules] == [(80, 80), (443, 443), (8000, 8001)]


@pytest.mark.parametrize("bad", [65536, -1, "100-80", "http", "", [], None, True, 80.5, "1-2-3", "-5"])
def test_bad_ports_name_index_and_field(bad):
    rules = [{"ports": 22, "source": "0.0.0.0/0"}, {"proto": "udp", "ports": bad, "source": "0.0.0.0/0"}]
    with pytest.raises(CatalogError) as err:
        parse_rules(rules, where="security_groups.web.rules")
    assert err.value.msg.startswith("security_groups.web.rules[1].ports:")
    assert err.value.details["key"] == "security_groups.web.rules[1].ports"


def test_backwards_range_suggests_the_right_one():
    with pytest.raises(CatalogError, match='write "80-100"'):
        parse_rules([{"ports": "100-80", "source": "0.0.0.0/0"}])


def test_tcp_needs_ports():
    with pytest.raises(CatalogError, match=r"rules\[0\]\.ports: is required for tcp"):
        parse_rules([{"proto": "tcp", "source": "0.0.0.0/0"}])


# -- sources -----------------------------------------------------------------

@pytest.mark.parametrize("written, expected", [
    ("0.0.0.0/0", "0.0.0.0/0"),
    ("10.0.0.1", "10.0.0.1/32"),
    ("10.0.0.5/24", "10.0.0.0/24"),
    ("10.0.0.0/8", "10.0.0.0/8"),
    (" 192.0.2.7/32 ", "192.0.2.7/32"),
    ("::/0", "::/0"),
    ("2001:DB8::1", "2001:db8::1/128"),
    ("2001:db8:0:0::/32", "2001:db8::/32"),
    ("web", "group:web"),
    ("group:web", "group:web"),
    ("slipway_managed", "group:slipway_managed"),
])
def test_source_normalisation(written, expected):
    assert normalise_source(written) == expected


@pytest.mark.parametrize("bad", ["10.0.0.300", "10.0.0.0/33", "1.2.3", "::g", "", None, 10, "bad\nname", "x" * 300])
def test_bad_sources(bad):
    with pytest.raises(CatalogError) as err:
        parse_rules([{"ports": 22, "source": bad}])
    assert "rules[0].source" in err.value.msg


def test_source_required():
    with pytest.raises(CatalogError, match=r"rules\[0\]\.source: is required"):
        parse_rules([{"proto": "tcp", "ports": 22}])


def test_source_list_expands():
    rules = parse_rules([{"ports": 22, "source": ["10.0.0.1", "0.0.0.0/0"]}])
    assert [r.source for r in rules] == ["0.0.0.0/0", "10.0.0.1/32"]


# -- icmp and any ------------------------------------------------------------

@pytest.mark.parametrize("rule, expected", [
    ({"proto": "icmp", "source": "0.0.0.0/0"}, (None, None)),
    ({"proto": "icmp", "icmp_type": -1, "source": "0.0.0.0/0"}, (None, None)),
    ({"proto": "icmp", "icmp_type": "-1", "icmp_code": -1, "source": "0.0.0.0/0"}, (None, None)),
    ({"proto": "icmp", "icmp_type": "all", "source": "0.0.0.0/0"}, (None, None)),
    ({"proto": "icmp", "icmp_type": 8, "source": "0.0.0.0/0"}, (8, None)),
    ({"proto": "icmp", "icmp_type": 8, "icmp_code": -1, "source": "0.0.0.0/0"}, (8, None)),
    ({"proto": "icmp", "icmp_type": "3", "icmp_code": "4", "source": "0.0.0.0/0"}, (3, 4)),
    ({"proto": 1, "ports": 8, "source": "0.0.0.0/0"}, (8, None)),
])
def test_icmp_forms(rule, expected):
    parsed = one(**rule)
    assert parsed.proto == "icmp"
    assert (parsed.port_from, parsed.port_to) == expected


def test_icmp_code_without_type():
    with pytest.raises(CatalogError, match=r"icmp_code: an ICMP code needs an icmp_type"):
        parse_rules([{"proto": "icmp", "icmp_code": 4, "source": "0.0.0.0/0"}])


@pytest.mark.parametrize("bad", [256, -2, "echo"])
def test_bad_icmp_type(bad):
    with pytest.raises(CatalogError, match=r"rules\[0\]\.icmp_type"):
        parse_rules([{"proto": "icmp", "icmp_type": bad, "source": "0.0.0.0/0"}])


def test_icmp_fields_only_with_icmp():
    with pytest.raises(CatalogError, match=r"icmp_type: only valid with proto: icmp"):
        parse_rules([{"proto": "tcp", "ports": 22, "icmp_type": 8, "source": "0.0.0.0/0"}])


@pytest.mark.parametrize("ports", [None, "all", "0-65535"])
def test_any_proto(ports):
    rule = {"proto": "all", "source": "0.0.0.0/0"}
    if ports is not None:
        rule["ports"] = ports
    assert one(**rule) == Rule("any", None, None, "0.0.0.0/0")


def test_any_proto_with_a_port_is_an_error():
    with pytest.raises(CatalogError, match="proto any covers every port"):
        parse_rules([{"proto": "any", "ports": 80, "source": "0.0.0.0/0"}])


# -- shape errors ------------------------------------------------------------

def test_unknown_key_lists_valid_keys():
    with pytest.raises(CatalogError) as err:
        parse_rules([{"proto": "tcp", "ports": 22, "source": "0.0.0.0/0", "cidr_ip": "x"}])
    assert "rules[0].cidr_ip: unknown key" in err.value.msg
    assert "proto, ports, source" in err.value.msg


@pytest.mark.parametrize("bad", ["tcp/22", 22, None, ["tcp", 22]])
def test_rule_must_be_a_mapping(bad):
    with pytest.raises(CatalogError, match=r"rules\[0\]: must be a mapping"):
        parse_rules([bad])


@pytest.mark.parametrize("bad", [{"proto": "tcp"}, "tcp:22"])
def test_rules_must_be_a_list(bad):
    with pytest.raises(CatalogError, match="must be a list of rules"):
        parse_rules(bad)


def test_none_is_no_rules():
    assert parse_rules(None) == ()
    assert parse_rules([]) == ()


def test_aliases_for_keys():
    assert one(protocol="tcp", port=22, cidr="0.0.0.0/0") == Rule("tcp", 22, 22, "0.0.0.0/0")


def test_key_given_twice_through_alias():
    with pytest.raises(CatalogError, match="given twice"):
        parse_rules([{"ports": 22, "port": 23, "source": "0.0.0.0/0"}])


# -- canonical order, dedup, diff -------------------------------------------

def test_duplicates_written_differently_collapse():
    rules = parse_rules([
        {"proto": "tcp", "ports": 80, "source": "0.0.0.0/0"},
        {"proto": 6, "ports": "80-80", "source": "0.0.0.0/0"},
        {"proto": "TCP", "ports": "80", "source": "0.0.0.0/00"},
    ])
    assert rules == (Rule("tcp", 80, 80, "0.0.0.0/0"),)


def test_order_is_proto_then_ports_then_source():
    rules = parse_rules([
        {"proto": "any", "source": "group:b"},
        {"proto": "udp", "ports": 53, "source": "10.0.0.0/8"},
        {"proto": "tcp", "ports": 443, "source": "::/0"},
        {"proto": "tcp", "ports": 443, "source": "0.0.0.0/0"},
        {"proto": "tcp", "ports": 22, "source": "group:a"},
        {"proto": "icmp", "source": "0.0.0.0/0"},
    ])
    assert [(r.proto, r.port_from, r.source) for r in rules] == [
        ("tcp", 22, "group:a"), ("tcp", 443, "0.0.0.0/0"), ("tcp", 443, "::/0"),
        ("udp", 53, "10.0.0.0/8"), ("icmp", None, "0.0.0.0/0"), ("any", None, "group:b"),
    ]


def test_diff_rules():
    current = parse_rules([{"ports": 22, "source": "0.0.0.0/0"}, {"ports": 80, "source": "0.0.0.0/0"}])
    wanted = parse_rules([{"ports": "22", "source": "0.0.0.0/0"}, {"ports": 443, "source": "0.0.0.0/0"}])
    to_add, to_remove = diff_rules(current, wanted)
    assert to_add == (Rule("tcp", 443, 443, "0.0.0.0/0"),)
    assert to_remove == (Rule("tcp", 80, 80, "0.0.0.0/0"),)
    assert diff_rules(wanted, wanted) == ((), ())
    assert diff_rules(None, wanted) == (wanted, ())


def test_rules_to_dicts_spelling():
    rules = parse_rules([
        {"ports": 22, "source": "0.0.0.0/0"},
        {"proto": "udp", "ports": "60000-61000", "source": "10.1.2.3"},
        {"proto": "icmp", "icmp_type": 8, "source": "web"},
        {"proto": "any", "source": "::/0"},
    ])
    assert rules_to_dicts(rules) == [
        {"proto": "tcp", "ports": 22, "source": "0.0.0.0/0"},
        {"proto": "udp", "ports": "60000-61000", "source": "10.1.2.3/32"},
        {"proto": "icmp", "icmp_type": 8, "icmp_code": None, "source": "group:web"},
        {"proto": "any", "ports": None, "source": "::/0"},
    ]


def test_parse_accepts_rule_objects():
    rule = Rule("tcp", 22, 22, "0.0.0.0/0")
    assert parse_rules([rule, {"ports": 22, "source": "0.0.0.0/0"}]) == (rule,)


# -- property: normalising is idempotent and round-trips ----------------------

_ipv4 = st.builds(lambda a, p: "%s/%d" % (".".join(str((a >> s) & 255) for s in (24, 16, 8, 0)), p),
                  st.integers(0, 2 ** 32 - 1), st.integers(0, 32))
_ipv4_host = st.builds(lambda a: ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0)), st.integers(0, 2 ** 32 - 1))
_ipv6 = st.builds(lambda a, p: "%x:%x::%x/%d" % (a >> 32 & 0xffff, a >> 16 & 0xffff, a & 0xffff, p),
                  st.integers(0, 2 ** 48 - 1), st.integers(0, 128))
_group = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
_source = st.one_of(_ipv4, _ipv4_host, _ipv6, _group, _group.map(lambda g: "group:" + g))
_port = st.integers(0, 65535)
_ports = st.one_of(
    _port, _port.map(str),
    st.tuples(_port, _port).map(lambda t: "%d-%d" % (min(t), max(t))),
    st.lists(_port, min_size=1, max_size=3),
    st.just("all"),
)
_tcp_udp = st.fixed_dictionaries({"proto": st.sampled_from(["tcp", "udp", 6, 17, "6", "TCP"]),
                                  "ports": _ports, "source": _source})
_icmp = st.fixed_dictionaries({"proto": st.sampled_from(["icmp", 1, "1"]), "source": _source},
                              optional={"icmp_type": st.integers(-1, 255)})
_any = st.fixed_dictionaries({"proto": st.sampled_from(["any", "all", -1, "-1"]), "source": _source})
_rule = st.one_of(_tcp_udp, _icmp, _any)


@settings(max_examples=300, deadline=None)
@given(st.lists(_rule, max_size=8))
def test_normalise_is_idempotent(rules):
    once = parse_rules(rules)
    twice = parse_rules(rules_to_dicts(once))
    assert twice == once
    assert parse_rules(list(once)) == once
    assert diff_rules(once, twice) == ((), ())


@settings(max_examples=200, deadline=None)
@given(st.lists(_rule, max_size=6), st.randoms())
def test_order_and_duplicates_do_not_matter(rules, rng):
    shuffled = rules + rules
    rng.shuffle(shuffled)
    assert parse_rules(shuffled) == parse_rules(rules)
