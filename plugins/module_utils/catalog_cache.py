# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse cache: each catalog file parsed and validated once, then served from JSON by content.

YAML parsing and validation dominate loading a catalog (and importing PyYAML is a noticeable
share of a module run), so ``read_document`` keeps each file that validated as JSON, keyed by
a digest of its bytes, the schema and the cache format, with every LineMap's lines, so a hit
gives the same document, lines included, with no PyYAML and no validation. Any failure to
write only costs the next parse. No Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.slipway.cloud.plugins.module_utils.catalog_schema import SCHEMA
from ansible_collections.slipway.cloud.plugins.module_utils.catalog_validation import validate_document
from ansible_collections.slipway.cloud.plugins.module_utils.catalog_yaml import LineMap, parse_yaml, read_bytes

#: Files smaller than this are parsed every time. Even the shipped catalog's small files
#: gain from the cache (no PyYAML import, no validation: ~0.1 s of a module run).
CACHE_MIN_BYTES = 0
CACHE_ENV = "SLIPWAY_CATALOG_CACHE"      # a directory, or "off"
CACHE_KEEP = 64                          # newest entries kept
# Bump when the parsed form changes; the schema's text is part of every key as well.
_CACHE_FORMAT = "slipway-catalog-cache-1"
_LINES_KEY = "\u0000lines"
_SCHEMA_TEXT = json.dumps(SCHEMA, sort_keys=True).encode("utf-8")


class _NotCacheable(Exception):
    pass


def cache_dir(environ=None):
    """Where validated parses are kept: $SLIPWAY_CATALOG_CACHE, else ~/.cache/slipway.cloud/catalog; None if off."""
    environ = os.environ if environ is None else environ
    value = environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "false", "no") else value
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "slipway.cloud", "catalog")


def _cache_key(data):
    digest = hashlib.sha256(_CACHE_FORMAT.encode())
    digest.update(_SCHEMA_TEXT)
    digest.update(data)
    return digest.hexdigest()


def _encode(value):
    """The document as JSON-able data, each LineMap's lines under a key YAML text cannot hold."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotCacheable()
            out[key] = _encode(item)
        if isinstance(value, LineMap):
            out[_LINES_KEY] = [value.line, value.lines]
        return out
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise _NotCacheable()   # dates, binary...: parse such files every time


def _decode_object(pairs):
    mapping = dict(pairs)
    info = mapping.pop(_LINES_KEY, None)
    if info is None:
        return mapping
    result = LineMap(mapping)
    result.line, result.lines = info
    return result


def _cache_load(path):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"), object_pairs_hook=_decode_object)
    except (OSError, ValueError):
        return None


def _cache_store(directory, path, document):
    """Write atomically; any failure (read-only home, full disk) only costs the next parse."""
    try:
        text = json.dumps(_encode(document), separators=(",", ":"))
        import tempfile  # pylint: disable=import-outside-toplevel
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
        entries = sorted((e for e in os.scandir(directory) if e.name.endswith(".json")),
                         key=lambda e: e.stat().st_mtime, reverse=True)
        for old in entries[CACHE_KEEP:]:
            os.unlink(old.path)
    except (OSError, _NotCacheable, ValueError, TypeError):
        pass


def read_document(path, cache=None):
    """One file parsed AND validated (None when empty), through the cache when it is big enough.

    ``cache`` is a cache directory, or None to use cache_dir(); pass False to bypass it.
    Only documents that validated are cached, so a hit skips validation too.
    """
    data = read_bytes(path)
    directory = cache_dir() if cache is None else cache
    entry = None
    if directory and len(data) >= CACHE_MIN_BYTES:
        entry = os.path.join(directory, _cache_key(data) + ".json")
        document = _cache_load(entry)
        if document is not None:
            return document
    document = parse_yaml(data, path)
    if document is None:
        return None
    validate_document(document, path)
    if entry is not None:
        _cache_store(directory, entry, document)
    return document
