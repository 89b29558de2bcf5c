# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security-group rules: parse what users write, normalise it, compare it.

Users write ``{proto: tcp, ports: "8000-8100", source: 10.0.0.0/8}``; clouds hand
back the same rule as ``6``, ``8000``..``8100`` and ``10.0.0.0/8``. Both become the
same canonical ``model.Rule`` so a second run is "unchanged" however each side
spelled it. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.slipway.cloud.plugins.module_utils.masking import EXCERPT_CHARS, excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, ProviderError, Rule
from ansible_collections.slipway.cloud.plugins.module_utils.names import GROUP_NAME_RE

PROTOCOLS = ("tcp", "udp", "icmp", "any")
_PROTO_ALIASES = {
    "tcp": "tcp", "6": "tcp",
    "udp": "udp", "17": "udp",
    "icmp": "icmp", "1": "icmp", "icmpv6": "icmp", "58": "icmp",
    "any": "any", "all": "any", "-1": "any",
}
_KEYS = ("proto", "ports", "source", "icmp_type", "icmp_code")
_KEY_ALIASES = {"protocol": "proto", "port": "ports", "cidr": "source", "sources": "source"}
_VALID_SOURCES = "a CIDR (0.0.0.0/0, 2001:db8::/32), an address (10.0.0.1), or a security group name"
_VALID_PORTS = "a port 0-65535 (80), a range (\"8000-8100\"), a list of those, or \"all\""
# Looks like an address (digits and dots, or hex and colons) even if it is a broken one:
# such a value is reported as a bad CIDR instead of silently becoming a group name.
_ADDRESS_LIKE = re.compile(r"^[0-9.]+(/\S*)?$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/\S*)?$")
_GROUP_NAME = GROUP_NAME_RE
_ALL_WORDS = ("all", "any", "-1")


def _fail(where, index, field, msg, value=None):
    prefix = "%s[%d]" % (where, index) if index is not None else where
    if field:
        prefix += ".%s" % field
    raise CatalogError("%s: %s" % (prefix, msg), key=prefix, value=_printable(value))


def _printable(value):
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return excerpt(value) if not isinstance(value, str) or len(value) > EXCERPT_CHARS else value


def _as_int(where, index, field, value, low, high, what):
    if isinstance(value, bool):
        _fail(where, index, field, "%s is not %s" % (excerpt(value), what), value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.match(r"^\s*-?\d+\s*$", value):
        number = int(value)
    else:
        _fail(where, index, field, "%s is not %s" % (excerpt(value), what), value)
    if not low <= number <= high:
        _fail(where, index, field, "%s is out of range: %s" % (excerpt(value), what), value)
    return number


def normalise_proto(value, where="rule", index=None):
    """"TCP", 6, "6" -> "tcp"; -1, "all" -> "any"."""
    key = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if key not in _PROTO_ALIASES:
        _fail(where, index, "proto", "unknown protocol %s; valid: tcp, udp, icmp, any (or 6, 17, 1, -1)"
              % (excerpt(value),), value)
    return _PROTO_ALIASES[key]


def normalise_source(value, where="rule", index=None):
    """A canonical CIDR ("10.0.0.0/8", a host as "/32" or "/128"), or "group:<name>"."""
    if not isinstance(value, str) or not value.strip():
        _fail(where, index, "source", "%s is not valid; use %s" % (excerpt(value), _VALID_SOURCES), value)
    text = value.strip()
    if text.startswith("group:"):
        name = text[len("group:"):].strip()
        if not _GROUP_NAME.match(name):
            _fail(where, index, "source", "%s is not a valid group name" % (excerpt(value),), value)
        return "group:" + name
    if _ADDRESS_LIKE.match(text) or "::" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            _fail(where, index, "source", "%s is not a valid CIDR or address (%s); use %s"
                  " (for a group with such a name write \"group:NAME\")" % (excerpt(value), exc, _VALID_SOURCES), value)
        return network.with_prefixlen
    if not _GROUP_NAME.match(text):
        _fail(where, index, "source", "%s is neither a CIDR nor a valid group name; use %s"
              % (excerpt(value), _VALID_SOURCES), value)
    return "group:" + text


def _port_ranges(value, where, index):
    """``ports`` as a list of (from, to); "all" means every port (an empty value is an error)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        _fail(where, index, "ports", "empty list; use %s" % _VALID_PORTS, value)
    ranges = []
    for item in items:
        if isinstance(item, str) and item.strip().lower() in _ALL_WORDS:
            ranges.append((0, 65535))
            continue
        if isinstance(item, str) and re.match(r"^\s*\d+\s*-\s*\d+\s*$", item):
            low_text, high_text = item.split("-")
            low = _as_int(where, index, "ports", low_text, 0, 65535, _VALID_PORTS)
            high = _as_int(where, index, "ports", high_text, 0, 65535, _VALID_PORTS)
            if low > high:
                _fail(where, index, "ports", "range %s runs backwards; write \"%d-%d\"" % (excerpt(item), high, low), item)
            ranges.append((low, high))
            continue
        port = _as_int(where, index, "ports", item, 0, 65535, _VALID_PORTS)
        ranges.append((port, port))
    return ranges


def _icmp_value(value, where, index, field):
    """ICMP type or code: -1 / "all" / None mean all -> None."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _ALL_WORDS):
        return None
    number = _as_int(where, index, field, value, -1, 255, "an ICMP %s 0-255, or -1 for all" % field[5:])
    return None if number == -1 else number


def _rule_dict(item, where, index):
    if not isinstance(item, dict):
        _fail(where, index, None, "must be a mapping like {proto: tcp, ports: 22, source: 0.0.0.0/0}, got %s"
              % (excerpt(item),), item)
    data = {}
    for key, value in item.items():
        canonical = _KEY_ALIASES.get(key, key)
        if canonical not in _KEYS:
            _fail(where, index, str(key), "unknown key; valid keys: %s" % ", ".join(_KEYS), key)
        if canonical in data:
            _fail(where, index, str(key), "given twice (as %s and an alias)" % canonical, key)
        data[canonical] = value
    return data


def parse_rule(item, where="rules", index=None):
    """One user-written rule -> list of canonical Rules (a port list or source list expands)."""
    data = _rule_dict(item, where, index)
    proto = normalise_proto(data.get("proto", "tcp"), where, index)
    if "source" not in data:
        _fail(where, index, "source", "is required: %s" % _VALID_SOURCES)
    raw_sources = data["source"] if isinstance(data["source"], (list, tuple)) else [data["source"]]
    if not raw_sources:
        _fail(where, index, "source", "empty list; use %s" % _VALID_SOURCES, data["source"])
    sources = [normalise_source(source, where, index) for source in raw_sources]

    if proto == "icmp":
        if "ports" in data and ("icmp_type" in data or "icmp_code" in data):
            _fail(where, index, "ports", "give the ICMP type as icmp_type (with icmp_code), not also as ports")
        icmp_type = _icmp_value(data.get("icmp_type", data.get("ports")), where, index, "icmp_type")
        icmp_code = _icmp_value(data.get("icmp_code"), where, index, "icmp_code")
        if icmp_type is None and icmp_code is not None:
            _fail(where, index, "icmp_code", "an ICMP code needs an icmp_type", data.get("icmp_code"))
        ranges = [(icmp_type, icmp_code)]
    else:
        for field in ("icmp_type", "icmp_code"):
            if field in data:
                _fail(where, index, field, "only valid with proto: icmp", data[field])
        if proto == "any":
            if data.get("ports") is not None and _port_ranges(data["ports"], where, index) != [(0, 65535)]:
                _fail(where, index, "ports", "proto any covers every port; leave ports out or use tcp/udp",
                      data["ports"])
            ranges = [(None, None)]
        else:
            if "ports" not in data:
                _fail(where, index, "ports", "is required for %s: %s" % (proto, _VALID_PORTS))
            ranges = _port_ranges(data["ports"], where, index)
    return [Rule(proto, low, high, source) for low, high in ranges for source in sources]


def rule_sort_key(rule):
    source = rule.source
    if source.startswith("group:"):
        source_key = (2, 0, 0, source)
    else:
        network = ipaddress.ip_network(source)
        source_key = (0 if network.version == 4 else 1, int(network.network_address), network.prefixlen, "")
    return (PROTOCOLS.index(rule.proto),
            -1 if rule.port_from is None else rule.port_from,
            -1 if rule.port_to is None else rule.port_to,
            source_key)


def canonical(rules):
    """Sorted, deduplicated tuple of Rules."""
    return tuple(sorted(set(rules), key=rule_sort_key))


def ports_from_one(rule, cloud_word, where=None):
    """``rule`` as a cloud whose tcp/udp ports start at 1 stores it ("0-N" is kept as "1-N"), for clouds
    such as Exoscale and Neutron. Both the wanted and the read-back rules go through this, so "all ports"
    (0-65535) compares unchanged with what such an API returns (1-65535); port 0 alone is refused."""
    if rule.proto in ("tcp", "udp") and rule.port_from == 0:
        if rule.port_to == 0:
            raise ProviderError("%s: %s cannot open port 0 (%s); ports start at 1"
                                % (where or "rule", cloud_word, rule.proto), rule=rule.to_dict())
        return Rule(rule.proto, 1, rule.port_to, rule.source)
    return rule


def parse_rules(items, where="rules"):
    """A list of user-written rules -> canonical, sorted, deduplicated tuple of Rule.

    ``where`` names the list in errors ("security_groups.web.rules"); an error
    names the rule index and field and lists what would be valid.
    """
    if items is None:
        return ()
    if isinstance(items, (dict, str)) or not hasattr(items, "__iter__"):
        raise CatalogError("%s: must be a list of rules like {proto: tcp, ports: 22, source: 0.0.0.0/0}, got %s"
                           % (where, excerpt(items)), key=where)
    parsed = []
    for index, item in enumerate(items):
        if isinstance(item, Rule):
            parsed.append(item)
        else:
            parsed.extend(parse_rule(item, where, index))
    return canonical(parsed)


def diff_rules(current, wanted):
    """(to_add, to_remove), each a canonical tuple, turning ``current`` into ``wanted``."""
    current_set = set(current or ())
    wanted_set = set(wanted or ())
    return canonical(wanted_set - current_set), canonical(current_set - wanted_set)


def rule_to_dict(rule):
    """The user-facing spelling of one Rule; parse_rules() reads it back unchanged."""
    if rule.proto == "icmp":
        return {"proto": "icmp", "icmp_type": rule.port_from, "icmp_code": rule.port_to, "source": rule.source}
    if rule.proto == "any":
        return {"proto": "any", "ports": None, "source": rule.source}
    if rule.port_from == rule.port_to:
        ports = rule.port_from
    else:
        ports = "%d-%d" % (rule.port_from, rule.port_to)
    return {"proto": rule.proto, "ports": ports, "source": rule.source}


def rules_to_dicts(rules):
    return [rule_to_dict(rule) for rule in canonical(rules)]
