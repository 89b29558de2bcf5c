# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog files as YAML that remembers lines, and the located problem every catalog check raises.

``parse_yaml`` gives LineMaps (dicts that know their own line and each key's line), so a
later check can name the file and line of any value. A key written twice in one mapping is
an error here, not a silent override. ``Invalid`` is a problem at a line and key path; its
``to_error(path)`` is the one wording of "file:line: key: problem; valid: ..." used by the
loader and the schema check alike.

Every catalog file is read here, within limits: at most MAX_FILE_BYTES (checked before reading),
only from a file path_trust trusts, nesting at most MAX_DEPTH deep, and aliases adding at most
MAX_ALIAS_NODES nodes (counted on the composed nodes, before anything is built, so a "billion laughs"
costs a few milliseconds). No Ansible imports.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
from ansible_collections.slipway.cloud.plugins.module_utils.path_trust import check_status

# PyYAML is imported on first parse only: a catalog served from the parse cache needs none,
# and the import is a noticeable share of a module run.
HAS_YAML = find_spec("yaml") is not None
YAML_IMPORT_ERROR = None if HAS_YAML else "No module named 'yaml'"
_YAML = []   # [yaml module, loader class] once imported

#: the largest catalog file read, in bytes (1 MiB); a bigger one is refused before it is read
MAX_FILE_BYTES = 1024 * 1024
#: how many nodes the aliases of one file may add (each alias counts as every node it stands for)
MAX_ALIAS_NODES = 100000
#: how deep mappings and lists may nest in one file, aliases followed
MAX_DEPTH = 50
_SIZE_CAP = 2 ** 40   # expanded sizes are counted up to this (a bomb's true size has no use)


class Invalid(Exception):
    """A problem of a catalog file at ``line``, under the dotted key ``path``, with the values that are valid."""

    def __init__(self, path, line, problem, valid=None):
        super().__init__(problem)
        self.path, self.line, self.problem, self.valid = path, line, problem, valid

    def to_error(self, file):
        """The CatalogError naming ``file``, the line, the key and what would be valid."""
        where = "%s:%s" % (file, self.line) if self.line else file
        key = self.path or None
        msg = "%s: %s%s" % (where, "%s: " % key if key else "", self.problem)
        if self.valid:
            msg += "; valid: %s" % ", ".join(str(v) for v in self.valid)
        return CatalogError(msg, file=file, line=self.line or None, key=key, valid=self.valid)


class LineMap(dict):
    """A mapping from YAML that remembers its own line and each key's line (1-based)."""

    __slots__ = ("line", "lines")

    def line_of(self, key):
        return self.lines.get(key, self.line)


def _construct_line_map(loader, node):
    loader.flatten_mapping(node)
    mapping = LineMap()
    mapping.line = node.start_mark.line + 1
    lines = mapping.lines = {}
    yield mapping
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            seen = key in lines
        except TypeError:
            raise Invalid("", line, "a mapping key must be text, got %s" % excerpt(key)) from None
        if seen:
            raise Invalid("", line, "key %s appears twice in one mapping (first on line %d)"
                          % (excerpt(key), lines[key]))
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = line


def _yaml():
    """(yaml, LineLoader): a SafeLoader (libyaml's parser when present, several times faster)
    whose mappings are LineMaps and where a duplicate key is an error."""
    if not _YAML:
        import yaml  # pylint: disable=import-outside-toplevel

        class LineLoader(getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader):  # pylint: disable=too-many-ancestors
            pass

        LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_line_map)
        _YAML[:] = [yaml, LineLoader]
    return _YAML


def read_bytes(path):
    """A catalog file's bytes, from a trusted file of at most MAX_FILE_BYTES; else a CatalogError naming it."""
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            check_status(path, status, "catalog file")
            if status.st_size > MAX_FILE_BYTES:
                raise _too_big(path, status.st_size)
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CatalogError("cannot read catalog file %s: %s" % (path, exc.strerror or exc), file=path) from None
    if len(data) > MAX_FILE_BYTES:     # grew while being read
        raise _too_big(path, len(data))
    return data


def _too_big(path, size):
    return CatalogError("%s: %d bytes, more than the %d bytes (1 MiB) a catalog file may hold; split it into "
                        "several files of the layer" % (path, size, MAX_FILE_BYTES), file=path, limit=MAX_FILE_BYTES)


def _too_deep(path, line=None, where=""):
    return CatalogError("%s%s: mappings and lists nest deeper than %d levels%s (the most a catalog file may)"
                        % (path, ":%d" % line if line else "", MAX_DEPTH, where),
                        file=path, line=line, limit=MAX_DEPTH)


def read_yaml(path):
    """Parse one YAML file into LineMaps; errors name the file and line."""
    return parse_yaml(read_bytes(path), path)


def parse_yaml(data, path):
    """Parse YAML text (bytes or str) read from ``path`` into LineMaps."""
    if not HAS_YAML:
        raise CatalogError("PyYAML is required to read the catalog (pip install PyYAML): %s"
                           % YAML_IMPORT_ERROR, file=path)
    yaml, line_loader = _yaml()
    loader = line_loader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_nodes(node, path)
        return loader.construct_document(node)
    except RecursionError:
        raise _too_deep(path) from None
    except Invalid as exc:
        raise exc.to_error(path) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        where = "%s:%s:%s" % (path, line, mark.column + 1) if mark is not None else path
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise CatalogError("%s: YAML syntax error: %s" % (where, problem), file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise CatalogError("%s: YAML error: %s" % (path, exc), file=path) from None
    finally:
        loader.dispose()


def check_nodes(root, path):
    """Refuse a composed document that nests deeper than MAX_DEPTH, refers to itself through an alias, or
    whose aliases add more than MAX_ALIAS_NODES nodes: one walk over the distinct nodes (aliases share them)."""
    if root.id == "scalar":
        return
    memo = {}
    size = _measure(root, 1, memo, set(), path)[0]
    written = sum(1 + entry[4] for entry in memo.values())   # each distinct list or mapping and its scalars
    if size - written > MAX_ALIAS_NODES:
        node = max(memo.values(), key=lambda entry: entry[0] * (entry[2] - 1))[3]
        line = node.start_mark.line + 1
        raise CatalogError(
            "%s:%d: aliases would expand this file by more than %d nodes (the anchor on line %d and the aliases to "
            "it, with those nested in it); a catalog has no need for that many: write the values out, or use fewer "
            "nested aliases" % (path, line, MAX_ALIAS_NODES, line), file=path, line=line, limit=MAX_ALIAS_NODES)


def _measure(node, depth, memo, on_path, path):
    """[expanded size, height, times met, node, scalars in it] of a mapping or list node (memoised: an alias
    meets it again)."""
    key = id(node)
    entry = memo.get(key)
    if entry is not None:
        if depth + entry[1] - 1 > MAX_DEPTH:
            raise _too_deep(path, node.start_mark.line + 1, " once aliases are followed")
        entry[2] += 1
        return entry
    if key in on_path:
        line = node.start_mark.line + 1
        raise CatalogError("%s:%d: an alias refers to the mapping or list that holds it (anchored on this line); "
                           "a catalog file cannot be recursive" % (path, line), file=path, line=line)
    if depth > MAX_DEPTH:
        raise _too_deep(path, node.start_mark.line + 1)
    on_path.add(key)
    size, height, scalars = 1, 0, 0
    children = [part for pair in node.value for part in pair] if node.id == "mapping" else node.value
    for child in children:
        if child.id == "scalar":
            scalars += 1
            continue
        sub = _measure(child, depth + 1, memo, on_path, path)
        size += sub[0]
        height = max(height, sub[1])
    on_path.discard(key)
    entry = memo[key] = [min(size + scalars, _SIZE_CAP), height + 1, 1, node, scalars]
    return entry
