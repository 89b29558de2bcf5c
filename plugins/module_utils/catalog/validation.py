# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check one parsed catalog file against schema.SCHEMA; a violation is one error naming where.

A small interpreter of the subset of JSON Schema the catalog's schema uses (type, enum,
pattern, minLength, numeric bounds, properties/additionalProperties/propertyNames, required,
minProperties, items, uniqueItems, $ref, oneOf/anyOf/not with the ``x-message`` sentence).
It stops at the first problem and reports it with the file, the line of the key (from the
LineMaps of yaml_reader.py), the dotted key and, for an unknown key or a value outside an enum,
what is valid and the closest valid key. tests/unit/test_catalog_schema.py checks that it
agrees with a real JSON Schema validator. No Ansible imports.
"""

from __future__ import annotations

import math
import re

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.schema import ENV_VAR_PATTERN, SCHEMA
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.yaml_reader import Invalid
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt, name_excerpt

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    and not (isinstance(v, float) and not math.isfinite(v)),
    "null": lambda v: v is None,
}
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "text", "boolean": "true or false",
               "integer": "a whole number", "number": "a number", "null": "empty"}
_PATTERNS = {}


def close_matches(word, candidates, n, cutoff):
    """The closest of ``candidates`` to ``word`` (difflib), for "did you mean" hints."""
    # Imported on the error path only.
    import difflib  # pylint: disable=import-outside-toplevel
    return difflib.get_close_matches(word, candidates, n=n, cutoff=cutoff)


def validate_document(document, path, schema=None):
    """Validate one parsed file (or a part of it with ``schema``); raise CatalogError naming file:line."""
    try:
        _check(document, SCHEMA if schema is None else schema, "", getattr(document, "line", 1))
    except Invalid as exc:
        raise exc.to_error(path) from None


def _pattern(text):
    compiled = _PATTERNS.get(text)
    if compiled is None:
        compiled = _PATTERNS[text] = re.compile(text)
    return compiled


def _ref(schema):
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node = SCHEMA
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _join(path, key):
    return "%s.%s" % (path, key) if path else str(key)


def _check(value, schema, path, line):
    """Raise Invalid for the first problem of ``value`` against ``schema``."""
    schema = _ref(schema)
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](value):
        raise Invalid(path, line, "must be %s, got %s" % (_TYPE_WORDS[kind], _show(value)))
    if "enum" in schema and value not in schema["enum"]:
        raise Invalid(path, line, "%s is not allowed" % _show(value), list(schema["enum"]))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise Invalid(path, line, "must not be empty")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            if schema["pattern"] == ENV_VAR_PATTERN:
                # Never echo it: it may be the secret itself.
                raise Invalid(path, line, "looks like a literal secret; give the NAME of the environment "
                                          "variable that holds it (matching %s), e.g. OS_PASSWORD"
                              % ENV_VAR_PATTERN)
            raise Invalid(path, line, "%s does not match %s" % (_show(value), schema["pattern"]))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
            raise Invalid(path, line, "must be greater than %s, got %s" % (schema["exclusiveMinimum"], value))
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(path, line, "must be at least %s, got %s" % (schema["minimum"], value))
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(path, line, "must be at most %s, got %s" % (schema["maximum"], value))
    elif isinstance(value, dict):
        _check_object(value, schema, path, line)
    elif isinstance(value, list):
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                _check(item, items, "%s[%d]" % (path, index), line)
        if schema.get("uniqueItems"):
            seen = []
            for item in value:
                if item in seen:
                    raise Invalid(path, line, "lists %s twice" % _show(item))
                seen.append(item)
    _check_combinators(value, schema, path, line)


def _check_object(value, schema, path, line):
    lines = getattr(value, "lines", None) or {}
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, item in value.items():
        key_line = lines.get(key, line)
        if not isinstance(key, str):
            raise Invalid(path, key_line, "key %s must be text" % excerpt(key))
        if names is not None and not _pattern(names["pattern"]).search(key):
            raise Invalid(_join(path, name_excerpt(key)), key_line,
                          "name %s must start with a letter or digit and use only letters, digits, '.', '_', '-' "
                          "(1 to 128 characters)" % excerpt(key))
        sub = properties.get(key)
        if sub is None:
            if extra is False:
                close = close_matches(key, list(properties), n=1, cutoff=0.5)
                hint = "; did you mean %r?" % close[0] if close else ""
                raise Invalid(_join(path, name_excerpt(key)), key_line, "unknown key %s%s" % (excerpt(key), hint),
                              sorted(properties))
            if extra is True:
                continue
            sub = extra
        _check(item, sub, _join(path, key), key_line)
    for key in schema.get("required", ()):
        if key not in value:
            raise Invalid(path, line, "missing required key %r" % key)
    if len(value) < schema.get("minProperties", 0):
        raise Invalid(path, line, "must not be empty")


def _valid(value, schema):
    try:
        _check(value, schema, "", 0)
    except Invalid:
        return False
    return True


def _check_combinators(value, schema, path, line):
    if "oneOf" in schema:
        if sum(1 for option in schema["oneOf"] if _valid(value, option)) != 1:
            raise Invalid(path, line, schema.get("x-message", "matches none (or several) of its allowed forms"))
    if "anyOf" in schema and not any(_valid(value, option) for option in schema["anyOf"]):
        raise Invalid(path, line, schema.get("x-message", "matches none of its allowed forms"))
    if "not" in schema and _valid(value, schema["not"]):
        raise Invalid(path, line, schema.get("x-message", "has a forbidden combination of keys"))


def _show(value):
    """A rejected value as an error may show it: its kind, or a short masked excerpt (never a key's body)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return excerpt(value)
