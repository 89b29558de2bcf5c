# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse cache: each catalog file parsed and validated once, then served from JSON by content.

YAML parsing and validation dominate loading a catalog (and importing PyYAML is a noticeable
share of a module run), so ``read_document`` keeps each file that validated as JSON, keyed by
a digest of its bytes, the schema and the cache format, with every LineMap's lines, so a hit
gives the same document, lines included, with no PyYAML. Any failure to write only costs the
next parse.

A cache entry stands in for a catalog file, so it is trusted no more than one: the directory is made
0700 and refused (one clear error) when someone else owns it or could write it, an entry is refused
likewise, and every hit is validated against the schema as a fresh parse is (an entry that fails, or
is too big, is a miss: the file is parsed again). No Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.schema import SCHEMA
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.validation import validate_document
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.yaml_reader import (
    MAX_FILE_BYTES, LineMap, parse_yaml, read_bytes,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
from ansible_collections.slipway.cloud.plugins.module_utils.path_trust import check_directory, check_status

#: Files smaller than this are parsed every time. Even the shipped catalog's small files
#: gain from the cache (no PyYAML import: ~0.1 s of a module run).
CACHE_MIN_BYTES = 0
CACHE_ENV = "SLIPWAY_CATALOG_CACHE"      # a directory, or "off"
CACHE_KEEP = 64                          # newest entries kept
#: an entry bigger than this is a miss (JSON of a file of at most MAX_FILE_BYTES, lines and aliases included)
MAX_ENTRY_BYTES = 16 * MAX_FILE_BYTES
# Bump when the parsed form changes; the schema's text is part of every key as well.
_CACHE_FORMAT = "slipway-catalog-cache-2"
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
            out[_LINES_KEY] = [value.line, list(value.lines.items())]   # pairs: every JSON object is a LineMap
        return out
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise _NotCacheable()   # dates, binary...: parse such files every time


def _decode_object(pairs):
    """A LineMap, as every mapping of a parsed file is; an entry without the lines is not one of ours."""
    mapping = dict(pairs)
    info = mapping.pop(_LINES_KEY, None)
    if not (isinstance(info, list) and len(info) == 2 and isinstance(info[0], int) and isinstance(info[1], list)):
        raise ValueError("not a slipway.cloud catalog cache entry")
    result = LineMap(mapping)
    try:
        result.line, result.lines = info[0], dict(info[1])
    except TypeError:
        raise ValueError("not a slipway.cloud catalog cache entry") from None
    return result


def _check_cache_dir(directory):
    check_directory(directory, "catalog cache directory", key=CACHE_ENV,
                    fix="make it yours with mode 0700 (chmod 700 %s), or set %s to a directory of your own "
                        "(or to off)" % (directory, CACHE_ENV))


def _cache_load(path, source):
    """The validated document of cache entry ``path`` standing for catalog file ``source``; None on a miss."""
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            check_status(path, status, "catalog cache entry", key=CACHE_ENV,
                         fix="remove it, or set %s to off" % CACHE_ENV)
            if status.st_size > MAX_ENTRY_BYTES:
                return None
            document = json.loads(handle.read(MAX_ENTRY_BYTES + 1).decode("utf-8"), object_pairs_hook=_decode_object)
    except (OSError, ValueError, RecursionError):
        return None
    try:
        validate_document(document, source)
    except (CatalogError, RecursionError):
        return None      # not what a fresh parse of the file gives: parse it again
    return document


def _cache_store(directory, path, document):
    """Write atomically; any failure (read-only home, full disk) only costs the next parse."""
    try:
        text = json.dumps(_encode(document), separators=(",", ":"))
        import tempfile  # pylint: disable=import-outside-toplevel
        os.makedirs(directory, mode=0o700, exist_ok=True)
        _check_cache_dir(directory)
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
    Only documents that validated are cached, and a hit is validated again (it stands for the file).
    """
    data = read_bytes(path)
    directory = cache_dir() if cache is None else cache
    entry = None
    if directory and len(data) >= CACHE_MIN_BYTES:
        entry = os.path.join(directory, _cache_key(data) + ".json")
        if os.path.isdir(directory):
            _check_cache_dir(directory)
            document = _cache_load(entry, path)
            if document is not None:
                return document
    document = parse_yaml(data, path)
    if document is None:
        return None
    validate_document(document, path)
    if entry is not None:
        _cache_store(directory, entry, document)
    return document
