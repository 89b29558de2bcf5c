# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog: YAML layers of clouds, logical images and security groups.

``load_catalog(layers)`` reads the layers in order, validates every file against
catalog_schema.SCHEMA (keeping file:line for every key, so each error names where
it is), checks names across files, and returns a Catalog. ``Catalog.resolve``
turns (image, cloud[, overrides]) into a frozen model.Placement that also says
which image and file supplied every value. No Ansible imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from importlib.util import find_spec

# PyYAML is imported on first parse only: a catalog served from the parse cache needs none,
# and the import is a noticeable share of a module run.
HAS_YAML = find_spec("yaml") is not None
YAML_IMPORT_ERROR = None if HAS_YAML else "No module named 'yaml'"
_YAML = []   # [yaml module, loader class] once imported

from ansible_collections.slipway.cloud.plugins.module_utils.catalog_schema import ENV_VAR_PATTERN, SCHEMA
from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    CatalogError, Cloud, Flavor, Placement, SlipwayError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.rules import canonical, parse_rules
from ansible_collections.slipway.cloud.plugins.module_utils.sizing import choose_flavor

_SCHEMA_TEXT = json.dumps(SCHEMA, sort_keys=True).encode("utf-8")
ENV_VAR = "SLIPWAY_CATALOG"
#: a layer name that stands for the collection's shipped catalog/ directory
SHIPPED_LAYER = "@shipped"
YAML_SUFFIXES = (".yml", ".yaml")
KINDS = ("clouds", "images", "security_groups")
_KIND_WORD = {"clouds": "cloud", "images": "image", "security_groups": "security group"}


# ---------------------------------------------------------------------------
# YAML with line numbers
# ---------------------------------------------------------------------------

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
            raise _Invalid("", line, "a mapping key must be text, got %r" % (key,)) from None
        if seen:
            raise _Invalid("", line, "key %r appears twice in one mapping (first on line %d)"
                           % (key, lines[key]))
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


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CatalogError("cannot read catalog file %s: %s" % (path, exc.strerror or exc), file=path) from None


def read_yaml(path):
    """Parse one YAML file into LineMaps; errors name the file and line."""
    return parse_yaml(_read_bytes(path), path)


def parse_yaml(data, path):
    """Parse YAML text (bytes or str) read from ``path`` into LineMaps."""
    if not HAS_YAML:
        raise CatalogError("PyYAML is required to read the catalog (pip install PyYAML): %s"
                           % YAML_IMPORT_ERROR, file=path)
    yaml, line_loader = _yaml()
    loader = line_loader(data)
    try:
        return loader.get_single_data()
    except _Invalid as exc:
        raise _error(path, exc) from None
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


# ---------------------------------------------------------------------------
# Validation against the schema (the subset of JSON Schema SCHEMA uses)
# ---------------------------------------------------------------------------

class _Invalid(Exception):
    def __init__(self, path, line, problem, valid=None):
        super().__init__(problem)
        self.path, self.line, self.problem, self.valid = path, line, problem, valid


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


def _close_matches(word, candidates, n, cutoff):
    # Imported on the error path only.
    import difflib  # pylint: disable=import-outside-toplevel
    return difflib.get_close_matches(word, candidates, n=n, cutoff=cutoff)


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
    """Raise _Invalid for the first problem of ``value`` against ``schema``."""
    schema = _ref(schema)
    kind = schema.get("type")
    if kind is not None and not _TYPES[kind](value):
        raise _Invalid(path, line, "must be %s, got %s" % (_TYPE_WORDS[kind], _show(value)))
    if "enum" in schema and value not in schema["enum"]:
        raise _Invalid(path, line, "%s is not allowed" % _show(value), list(schema["enum"]))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise _Invalid(path, line, "must not be empty")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            if schema["pattern"] == ENV_VAR_PATTERN:
                # Never echo it: it may be the secret itself.
                raise _Invalid(path, line, "looks like a literal secret; give the NAME of the environment "
                                           "variable that holds it (matching %s), e.g. OS_PASSWORD"
                               % ENV_VAR_PATTERN)
            raise _Invalid(path, line, "%s does not match %s" % (_show(value), schema["pattern"]))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
            raise _Invalid(path, line, "must be greater than %s, got %s" % (schema["exclusiveMinimum"], value))
        if "minimum" in schema and value < schema["minimum"]:
            raise _Invalid(path, line, "must be at least %s, got %s" % (schema["minimum"], value))
        if "maximum" in schema and value > schema["maximum"]:
            raise _Invalid(path, line, "must be at most %s, got %s" % (schema["maximum"], value))
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
                    raise _Invalid(path, line, "lists %s twice" % _show(item))
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
            raise _Invalid(path, key_line, "key %r must be text" % (key,))
        if names is not None and not _pattern(names["pattern"]).search(key):
            raise _Invalid(_join(path, key), key_line,
                           "name %r must start with a letter or digit and use only letters, digits, '.', '_', '-'"
                           % key)
        sub = properties.get(key)
        if sub is None:
            if extra is False:
                close = _close_matches(key, list(properties), n=1, cutoff=0.5)
                hint = "; did you mean %r?" % close[0] if close else ""
                raise _Invalid(_join(path, key), key_line, "unknown key %r%s" % (key, hint),
                               sorted(properties))
            if extra is True:
                continue
            sub = extra
        _check(item, sub, _join(path, key), key_line)
    for key in schema.get("required", ()):
        if key not in value:
            raise _Invalid(path, line, "missing required key %r" % key)
    if len(value) < schema.get("minProperties", 0):
        raise _Invalid(path, line, "must not be empty")


def _valid(value, schema):
    try:
        _check(value, schema, "", 0)
    except _Invalid:
        return False
    return True


def _check_combinators(value, schema, path, line):
    if "oneOf" in schema:
        if sum(1 for option in schema["oneOf"] if _valid(value, option)) != 1:
            raise _Invalid(path, line, schema.get("x-message", "matches none (or several) of its allowed forms"))
    if "anyOf" in schema and not any(_valid(value, option) for option in schema["anyOf"]):
        raise _Invalid(path, line, schema.get("x-message", "matches none of its allowed forms"))
    if "not" in schema and _valid(value, schema["not"]):
        raise _Invalid(path, line, schema.get("x-message", "has a forbidden combination of keys"))


def _show(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def validate_document(document, path, schema=None):
    """Validate one parsed file (or a part of it with ``schema``); raise CatalogError naming file:line."""
    try:
        _check(document, SCHEMA if schema is None else schema, "", getattr(document, "line", 1))
    except _Invalid as exc:
        raise _error(path, exc) from None


def _error(path, exc):
    where = "%s:%s" % (path, exc.line) if exc.line else path
    key = exc.path or None
    msg = "%s: %s%s" % (where, "%s: " % key if key else "", exc.problem)
    if exc.valid:
        msg += "; valid: %s" % ", ".join(str(v) for v in exc.valid)
    return CatalogError(msg, file=path, line=exc.line or None, key=key, valid=exc.valid)


# ---------------------------------------------------------------------------
# Parsed-file cache: YAML parsing dominates loading a large catalog
# ---------------------------------------------------------------------------

#: Files smaller than this are parsed every time. Even the shipped catalog's small files
#: gain from the cache (no PyYAML import, no validation: ~0.1 s of a module run).
CACHE_MIN_BYTES = 0
CACHE_ENV = "SLIPWAY_CATALOG_CACHE"      # a directory, or "off"
CACHE_KEEP = 64                          # newest entries kept
# Bump when the parsed form changes; the schema's text is part of every key as well.
_CACHE_FORMAT = "slipway-catalog-cache-1"
_LINES_KEY = "\u0000lines"


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
    data = _read_bytes(path)
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


# ---------------------------------------------------------------------------
# The catalog's objects
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SecurityGroupDef:
    name: str
    description: str
    rules: tuple                 # (model.Rule, ...) canonical, from rules.parse_rules
    image_ports: bool = False    # also open the placed image's ports
    source: str | None = None

    def rules_for(self, ports=()):
        """The group's rules for a machine whose image declares ``ports``."""
        if not self.image_ports or not ports:
            return self.rules
        return canonical(self.rules + parse_rules(port_rule_dicts(ports), where="ports"))


def port_rule_dicts(ports):
    """Rule dicts (rules.py format) opening tcp ``ports`` from anywhere (IPv4, like the SSH rule)."""
    return [{"proto": "tcp", "ports": port, "source": "0.0.0.0/0"} for port in ports]


@dataclass
class ImageDef:
    """One image as written in one file (its own values only; see Catalog.resolve)."""

    name: str
    file: str
    line: int
    layer: int
    description: str | None = None
    os: str | None = None
    parent: str | None = None
    # [(field, value, source)] for image-level values, and per cloud
    own: list = field(default_factory=list)
    cloud_own: dict = field(default_factory=dict)
    lines: dict = field(default_factory=dict)


@dataclass
class _Defined:
    kind: str
    name: str
    file: str
    line: int
    layer: int

    @property
    def where(self):
        return "%s:%s" % (self.file, self.line)


def default_catalog_layers(environ=None):
    """Layers from SLIPWAY_CATALOG (os.pathsep-separated), else the shipped catalog/ when findable."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "")
    if value.strip():
        return [part.strip() for part in value.split(os.pathsep) if part.strip()]
    shipped = shipped_catalog_dir()
    return [shipped] if shipped else []


def shipped_catalog_dir():
    """The collection's catalog/ directory, or None (e.g. inside an AnsiballZ zip)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(os.path.dirname(here)), "catalog")
    return path if os.path.isdir(path) else None


def _expand_layer(layer):
    if layer != SHIPPED_LAYER:
        return layer
    shipped = shipped_catalog_dir()
    if shipped is None:
        raise CatalogError("the shipped catalog (%s) is not reachable from here; run the module through its "
                           "action plugin on the controller, or give the path of the collection's catalog/ "
                           "directory" % SHIPPED_LAYER, key="catalog")
    return shipped


def layer_files(layer):
    """The YAML files of one layer: a directory's *.yml/*.yaml sorted by name, or one file."""
    if os.path.isdir(layer):
        names = sorted(n for n in os.listdir(layer) if n.endswith(YAML_SUFFIXES) and not n.startswith("."))
        return [os.path.join(layer, n) for n in names]
    if os.path.isfile(layer):
        return [layer]
    raise CatalogError("catalog layer %s does not exist on this host (give a directory of *.yml files or one "
                       "file; modules read the catalog where they run: run them on the controller with "
                       "delegate_to: localhost)" % layer, file=layer)


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector around bulk work.

    Loading or resolving a large catalog allocates hundreds of thousands of small
    containers that all stay alive; each automatic collection re-walks them, which
    costs more than the work itself (measured: resolving 100,000 placements 1.4 s
    with collections, 0.5 s without). Nothing here makes reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_catalog(layers, cache=None):
    """Read, validate and index ``layers`` (paths, in order). Returns a Catalog.

    ``cache``: see read_document (None: the default cache directory; False: no cache).
    """
    if isinstance(layers, str):
        layers = [layers]
    layers = [_expand_layer(str(layer)) for layer in layers or ()]
    if not layers:
        raise CatalogError("no catalog: give catalog layers (the catalog option) or set %s" % ENV_VAR,
                           key="catalog")
    catalog = Catalog(layers)
    with paused_gc():
        for index, layer in enumerate(layers):
            for path in layer_files(layer):
                document = read_document(path, cache)
                if document is None:
                    continue
                catalog._add_document(document, path, index)
        catalog._check_references()
    return catalog


class Catalog:
    """Clouds, images and security groups of all layers; resolves placements."""

    def __init__(self, layers=()):
        self.layers = tuple(layers)
        self.clouds = {}
        self.images = {}
        self.security_groups = {}
        self.files = []
        self._defined = {kind: {} for kind in KINDS}
        self._memo = {}          # (image, cloud) -> {field: (value, source)}
        self._sizes = {}         # (cloud, (cpu, ram_gb, flavor)) -> SizeChoice
        self._placements = {}    # (image, cloud) -> Placement, without call-time overrides

    # -- building ----------------------------------------------------------
    def _add_document(self, document, path, layer):
        self.files.append(path)
        for kind in KINDS:
            section = document.get(kind)
            if not section:
                continue
            for name, body in section.items():
                line = section.lines.get(name, section.line)
                self._claim(kind, name, path, line, layer)
                if kind == "clouds":
                    self.clouds[name] = _build_cloud(name, body, path, line)
                elif kind == "images":
                    self.images[name] = _build_image(name, body, path, line, layer)
                else:
                    self.security_groups[name] = _build_group(name, body, path, line)

    def _claim(self, kind, name, path, line, layer):
        earlier = self._defined[kind].get(name)
        if earlier is not None:
            why = ("a later layer may derive from it (parent: %s) under a new name but not redefine it"
                   % name if kind == "images" else "a later layer may not redefine it; choose another name")
            raise CatalogError(
                "%s:%s: %s %r is already defined at %s; %s"
                % (path, line, _KIND_WORD[kind], name, earlier.where, why),
                file=path, line=line, key="%s.%s" % (kind, name), defined_at=earlier.where)
        self._defined[kind][name] = _Defined(kind, name, path, line, layer)

    def _check_references(self):
        clouds = self.clouds
        groups = self.security_groups
        for image in self.images.values():
            if image.parent is not None and image.parent not in self.images:
                line = image.lines.get("parent", image.line)
                raise self._unknown("image", image.parent, self.images, file=image.file, line=line,
                                    key="images.%s.parent" % image.name)
            for cloud_name, values in image.cloud_own.items():
                cloud = clouds.get(cloud_name)
                line = image.lines.get(("clouds", cloud_name), image.line)
                if cloud is None:
                    raise self._unknown("cloud", cloud_name, clouds, file=image.file, line=line,
                                        key="images.%s.clouds.%s" % (image.name, cloud_name))
                for name, value, source in values:
                    if name == "size" and value[2] is not None and cloud.flavor(value[2]) is None:
                        try:
                            choose_flavor(cloud, flavor=value[2], source=source)
                        except CatalogError as exc:
                            details = dict(exc.details, file=image.file, line=int(source.rsplit(":", 1)[1]),
                                           key="images.%s.clouds.%s.size.flavor" % (image.name, cloud_name))
                            raise CatalogError(exc.msg, **details) from None
            for name, value, source in _all_own(image):
                if name == "security_groups":
                    for group in value:
                        if group not in groups:
                            raise self._unknown("security group", group, groups, file=image.file,
                                                line=int(source.rsplit(":", 1)[1]),
                                                key="images.%s.security_groups" % image.name)
        self._check_cycles()

    def _check_cycles(self):
        done = set()
        for start in self.images:
            path, on_path = [], set()
            name = start
            while name is not None and name not in done:
                if name in on_path:
                    cycle = path[path.index(name):] + [name]
                    image = self.images[name]
                    raise CatalogError(
                        "%s:%s: parent cycle: %s" % (image.file, image.lines.get("parent", image.line),
                                                     " -> ".join(cycle)),
                        file=image.file, line=image.lines.get("parent", image.line),
                        key="images.%s.parent" % name, cycle=cycle)
                path.append(name)
                on_path.add(name)
                name = self.images[name].parent
            done.update(path)

    # -- look-ups ----------------------------------------------------------
    def _unknown(self, word, name, known, **details):
        close = _close_matches(str(name), list(known), n=3, cutoff=0.6)
        where = ""
        if details.get("file"):
            where = "%s:%s: " % (details["file"], details.get("line"))
        elif details.get("source"):
            where = "%s: " % details["source"]
        listing = sorted(known)
        shown = ", ".join(listing[:30]) + (" ... (%d in all)" % len(listing) if len(listing) > 30 else "")
        msg = "%sunknown %s %r" % (where, word, name)
        if close:
            msg += "; did you mean %s?" % " or ".join(repr(c) for c in close)
        msg += "; known %ss: %s" % (word, shown or "none")
        return CatalogError(msg, valid=listing[:100], **details)

    def cloud(self, name):
        cloud = self.clouds.get(name)
        if cloud is None:
            raise self._unknown("cloud", name, self.clouds, key="cloud")
        return cloud

    def image(self, name):
        image = self.images.get(name)
        if image is None:
            raise self._unknown("image", name, self.images, key="image")
        return image

    def security_group(self, name):
        group = self.security_groups.get(name)
        if group is None:
            raise self._unknown("security group", name, self.security_groups, key="security_groups")
        return group

    # -- resolution --------------------------------------------------------
    def _effective(self, name, cloud):
        """{field: (value, source)} for image ``name`` on ``cloud``, inheritance applied (memoised)."""
        memo = self._memo
        hit = memo.get((name, cloud))
        if hit is not None:
            return hit
        chain = []
        while name is not None and (name, cloud) not in memo:
            chain.append(name)
            name = self.images[name].parent
        base = memo[(name, cloud)] if name is not None else {}
        for link in reversed(chain):
            image = self.images[link]
            per_cloud = image.cloud_own.get(cloud)
            if image.own or per_cloud:
                effective = dict(base)
                # Walking down: a copy's values replace its parent's; at each level the
                # per-cloud value replaces that same level's image-wide one.
                for key, value, source in image.own:
                    effective[key] = (value, source)
                for key, value, source in per_cloud or ():
                    effective[key] = (value, source)
                base = effective
            memo[(link, cloud)] = base      # shared with the parent when the image adds nothing
        return base

    def chain(self, image):
        """[image, parent, grandparent, ...]"""
        names = []
        while image is not None:
            names.append(image)
            image = self.images[image].parent
        return names

    def available_clouds(self, image):
        """Clouds (catalog order) where ``image`` has a native image id or lookup."""
        self.image(image)
        return [cloud for cloud in self.clouds if "native" in self._effective(image, cloud)]

    def resolve(self, image, cloud, size=None, security_groups=None):
        """The Placement of ``image`` on ``cloud``.

        ``size`` ({cpu, ram_gb} or {flavor}) and ``security_groups`` (names) are
        call-time overrides that win over the catalog.
        """
        plain = size is None and security_groups is None
        if plain:
            hit = self._placements.get((image, cloud))
            if hit is not None:
                return hit
        target = self.clouds.get(cloud) or self.cloud(cloud)
        if image not in self.images:
            self.image(image)
        return self._place(image, target, self._effective(image, cloud), size, security_groups)

    def _place(self, image, target, effective, size, security_groups):
        """resolve() once the names are known good and inheritance is applied."""
        cloud = target.name
        plain = size is None and security_groups is None
        native = effective.get("native")
        if native is None:
            available = self.available_clouds(image)
            raise CatalogError(
                "image %r has no image_id or image_lookup for cloud %s (looked in %s); "
                "it is available on: %s"
                % (image, cloud, " -> ".join(self.chain(image)), ", ".join(available) or "no cloud"),
                image=image, cloud=cloud, key="clouds", valid=available)
        (how, value), native_source = native
        image_id, image_lookup = (value, None) if how == "id" else (None, dict(value))

        login = effective.get("login_user")
        if login is None:
            raise CatalogError("image %r has no login_user for cloud %s (looked in %s)"
                               % (image, cloud, " -> ".join(self.chain(image))),
                               image=image, cloud=cloud, key="login_user")

        if size is not None:
            size_value, size_source = _size_spec(_call_size(size)), "call-time size override"
        elif "size" in effective:
            size_value, size_source = effective["size"]
        else:
            raise CatalogError("image %r has no size for cloud %s (looked in %s): give size {cpu, ram_gb} or {flavor}"
                               % (image, cloud, " -> ".join(self.chain(image))),
                               image=image, cloud=cloud, key="size")
        choice = self._sizes.get((cloud, size_value))
        if choice is None:
            cpu, ram_gb, flavor = size_value
            choice = choose_flavor(target, cpu=cpu, ram_gb=ram_gb, flavor=flavor, source=size_source)
            self._sizes[(cloud, size_value)] = choice

        if security_groups is not None:
            groups, groups_source = tuple(_call_groups(security_groups)), "call-time security_groups override"
            for group in groups:
                self.security_group(group)
        else:
            groups, groups_source = effective.get("security_groups", ((), "default (none)"))
        if not target.security_groups:
            groups, groups_source = (), "cloud %s has no security groups" % cloud
        ports, ports_source = effective.get("ports", ((), "default (none)"))

        placement = new_placement(
            cloud=target, image=image, image_id=image_id, image_lookup=image_lookup, login_user=login[0],
            flavor=choice.flavor_name, cpu=choice.cpu, ram_gb=choice.ram_gb, security_groups=groups, ports=ports,
            sources=(("image_id" if how == "id" else "image_lookup", native_source), ("login_user", login[1]),
                     ("flavor", size_source), ("cpu", size_source), ("ram_gb", size_source),
                     ("security_groups", groups_source), ("ports", ports_source)))
        if plain and image_lookup is None:   # a lookup dict is mutable: hand out fresh ones
            self._placements[(image, cloud)] = placement
        return placement

    def resolve_all(self, images=None, clouds=None, size=None, security_groups=None):
        """Placements of ``images`` (default: all) on ``clouds`` (default: all), in catalog order.

        An image is skipped on a cloud where it has no native image (that is what
        available_clouds reports); every other problem raises as resolve() does.
        """
        images = list(self.images) if images is None else list(images)
        clouds = list(self.clouds) if clouds is None else list(clouds)
        placements = []
        with paused_gc():
            for cloud in clouds:
                self.cloud(cloud)
            targets = [self.clouds[cloud] for cloud in clouds]
            for image in images:
                self.image(image)
                for target in targets:
                    effective = self._effective(image, target.name)
                    if "native" in effective:
                        placements.append(self._place(image, target, effective, size, security_groups))
        return placements

    def describe_images(self):
        """[{name, description, os, parent, clouds, source}] for every image, catalog order."""
        result = []
        for name, image in self.images.items():
            description, os_name = image.description, image.os
            parent = image.parent
            while (description is None or os_name is None) and parent is not None:
                ancestor = self.images[parent]
                description = description if description is not None else ancestor.description
                os_name = os_name if os_name is not None else ancestor.os
                parent = ancestor.parent
            result.append({"name": name, "description": description, "os": os_name,
                           "parent": image.parent, "clouds": self.available_clouds(name),
                           "source": "%s:%s" % (image.file, image.line)})
        return result

    def security_group_rules(self, name, ports=()):
        """Rules of group ``name`` for an image declaring ``ports``."""
        return self.security_group(name).rules_for(ports)


_PLACEMENT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Placement)
                       if f.default is not dataclasses.MISSING}


def new_placement(**values):
    """Placement(**values) without the frozen dataclass's per-field object.__setattr__.

    That generated __init__ costs about as much as the rest of a resolution; filling
    the instance dict directly gives an identical, still immutable object
    (tests/unit/test_catalog.py compares both ways of building one).
    """
    placement = object.__new__(Placement)
    data = dict(_PLACEMENT_DEFAULTS)
    data.update(values)
    placement.__dict__.update(data)
    return placement


def _size_spec(size):
    """A size mapping as a hashable (cpu, ram_gb, flavor)."""
    return (size.get("cpu"), size.get("ram_gb"), size.get("flavor"))


def _call_size(size):
    if not isinstance(size, dict):
        raise CatalogError("size must be a mapping {cpu, ram_gb} or {flavor}, got %r" % (size,), key="size")
    size = {k: v for k, v in size.items() if v is not None}
    allowed = ("cpu", "ram_gb", "flavor")
    for key in size:
        if key not in allowed:
            close = _close_matches(str(key), allowed, n=1, cutoff=0.5)
            raise CatalogError("size: unknown key %r%s; valid: cpu, ram_gb, flavor"
                               % (key, "; did you mean %r?" % close[0] if close else ""),
                               key="size.%s" % key, valid=list(allowed))
    if "flavor" in size:
        if len(size) > 1:
            raise CatalogError("size: give either flavor or cpu and ram_gb, not both", key="size")
    elif not ("cpu" in size and "ram_gb" in size):
        raise CatalogError("size: give both cpu and ram_gb (or a flavor)", key="size")
    return size


def _call_groups(groups):
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) for g in groups):
        raise CatalogError("security_groups must be a list of group names, got %r" % (groups,),
                           key="security_groups")
    return groups


def _all_own(image):
    yield from image.own
    for values in image.cloud_own.values():
        yield from values


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _build_cloud(name, body, path, line):
    flavors = tuple(
        Flavor(name=str(flavor), cpu=spec["cpu"], ram_gb=spec["ram_gb"],
               disk_gb=spec.get("disk_gb"), price=spec.get("price"))
        for flavor, spec in (body.get("flavors") or {}).items())
    sizing = body.get("sizing", "table")
    if sizing == "table" and not flavors:
        raise CatalogError("%s:%s: clouds.%s: give flavors (name -> {cpu, ram_gb}) or sizing: explicit"
                           % (path, line, name), file=path, line=line, key="clouds.%s" % name,
                           valid=["flavors", "sizing: explicit"])
    return Cloud(
        name=name,
        provider=body["provider"],
        region=body.get("region"),
        endpoint=body.get("endpoint"),
        credentials=tuple((body.get("credentials") or {}).items()),
        security_groups=body.get("security_groups", True),
        sizing=sizing,
        flavors=flavors,
        options=_freeze(dict(body.get("options") or {})),
        source="%s:%s" % (path, line),
    )


_IMAGE_FIELDS = ("login_user", "size", "security_groups", "ports")
_CLOUD_FIELDS = ("login_user", "size", "security_groups")


def _build_image(name, body, path, line, layer):
    lines = body.lines
    image = ImageDef(name=name, file=path, line=line, layer=layer, description=body.get("description"),
                     os=body.get("os"), parent=body.get("parent"))
    image.lines = {"parent": lines.get("parent", line)}
    for key in _IMAGE_FIELDS:
        if key in body:
            value = body[key]
            if key in ("security_groups", "ports"):
                value = tuple(value)
            elif key == "size":
                value = _size_spec(value)
            image.own.append((key, value, "%s at %s:%s" % (name, path, lines[key])))
    clouds = body.get("clouds") or {}
    for cloud_name, spec in clouds.items():
        cloud_line = clouds.lines[cloud_name]
        image.lines[("clouds", cloud_name)] = cloud_line
        values = []
        spec = spec or {}
        spec_lines = getattr(spec, "lines", {})
        where = "%s clouds.%s at %s:" % (name, cloud_name, path)
        if "image_id" in spec:
            values.append(("native", ("id", spec["image_id"]), where + str(spec_lines["image_id"])))
        elif "image_lookup" in spec:
            values.append(("native", ("lookup", dict(spec["image_lookup"])), where + str(spec_lines["image_lookup"])))
        for key in _CLOUD_FIELDS:
            if key in spec:
                value = spec[key]
                if key == "security_groups":
                    value = tuple(value)
                elif key == "size":
                    value = _size_spec(value)
                values.append((key, value, where + str(spec_lines[key])))
        image.cloud_own[cloud_name] = values
    return image


def _build_group(name, body, path, line):
    where = "security_groups.%s.rules" % name
    rules_line = body.lines.get("rules", line)
    try:
        rules = parse_rules(list(body.get("rules") or ()), where=where)
    except SlipwayError as exc:
        details = dict(exc.details, file=path, line=rules_line)
        details.setdefault("key", where)
        raise CatalogError("%s:%s: %s" % (path, rules_line, exc.msg), **details) from None
    return SecurityGroupDef(name=name, description=body.get("description") or "slipway.cloud group %s" % name,
                            rules=tuple(rules), image_ports=bool(body.get("image_ports", False)),
                            source="%s:%s" % (path, line))
