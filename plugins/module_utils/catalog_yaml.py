# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog files as YAML that remembers lines, and the located problem every catalog check raises.

``parse_yaml`` gives LineMaps (dicts that know their own line and each key's line), so a
later check can name the file and line of any value. A key written twice in one mapping is
an error here, not a silent override. ``Invalid`` is a problem at a line and key path; its
``to_error(path)`` is the one wording of "file:line: key: problem; valid: ..." used by the
loader and the schema check alike. No Ansible imports.
"""

from __future__ import annotations

from importlib.util import find_spec

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError

# PyYAML is imported on first parse only: a catalog served from the parse cache needs none,
# and the import is a noticeable share of a module run.
HAS_YAML = find_spec("yaml") is not None
YAML_IMPORT_ERROR = None if HAS_YAML else "No module named 'yaml'"
_YAML = []   # [yaml module, loader class] once imported


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
            raise Invalid("", line, "a mapping key must be text, got %r" % (key,)) from None
        if seen:
            raise Invalid("", line, "key %r appears twice in one mapping (first on line %d)" % (key, lines[key]))
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
    """A catalog file's bytes; an unreadable file is a CatalogError naming it."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CatalogError("cannot read catalog file %s: %s" % (path, exc.strerror or exc), file=path) from None


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
        return loader.get_single_data()
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
