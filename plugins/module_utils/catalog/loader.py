# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog: YAML layers of clouds, logical images and security groups, resolved into placements.

``load_catalog(layers)`` reads the layers in order (layers.py), each file parsed with
line numbers and validated against the schema through the parse cache (cache.py), builds
each entry (entries.py), checks names across files and layers, and returns a Catalog.
``Catalog.resolve`` turns (image, cloud[, overrides]) into a frozen model.Placement that also
says which image, or which catalog default, and which file:line supplied every value.
No Ansible imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from dataclasses import dataclass

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.cache import read_document
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.entries import (
    build_cloud, build_group, build_image, size_spec,
)
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import layer_files, layer_paths
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.validation import close_matches
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt, name_excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Placement
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.sizing import choose_flavor

KINDS = ("clouds", "images", "security_groups")
_KIND_WORD = {"clouds": "cloud", "images": "image", "security_groups": "security group"}
#: the keys of ``defaults:`` (schema.py names the same), each with the form its value is kept in
_DEFAULT_FORMS = {"security_groups": tuple}
_NO_GROUPS = ((), "none: the image names none and the catalog has no defaults.security_groups")


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
    """Read, validate and index ``layers`` (paths, or @shipped, in order). Returns a Catalog.

    ``cache``: see cache.read_document (None: the default cache directory; False: no cache).
    """
    layers = layer_paths(layers)
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
    """Clouds, images, security groups and the catalog-wide defaults of all layers; resolves placements."""

    def __init__(self, layers=()):
        self.layers = tuple(layers)
        self.clouds = {}
        self.images = {}
        self.security_groups = {}
        self.files = []
        #: {key: (value, source)}: the catalog-wide defaults in effect (see _set_defaults)
        self.defaults = {}
        self._defined = {kind: {} for kind in KINDS}
        self._default_at = {}    # key -> _Defined: where the default in effect is set
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
                    self.clouds[name] = build_cloud(name, body, path, line)
                elif kind == "images":
                    self.images[name] = build_image(name, body, path, line, layer)
                else:
                    self.security_groups[name] = build_group(name, body, path, line)
        if document.get("defaults"):
            self._set_defaults(document["defaults"], path, layer)

    def _set_defaults(self, section, path, layer):
        """Take the ``defaults:`` of one file: a later layer's key replaces an earlier layer's, and
        one layer sets each key once (which of its files would win is nothing to rely on)."""
        for key, value in section.items():
            line = section.lines.get(key, section.line)
            earlier = self._default_at.get(key)
            if earlier is not None and earlier.layer == layer:
                raise CatalogError(
                    "%s:%s: defaults.%s is already set at %s, in the same layer; set it once per layer "
                    "(a later layer may override it)" % (path, line, key, earlier.where),
                    file=path, line=line, key="defaults.%s" % key, defined_at=earlier.where)
            self._default_at[key] = _Defined("defaults", key, path, line, layer)
            self.defaults[key] = (_DEFAULT_FORMS[key](value), "catalog defaults at %s:%s" % (path, line))

    def _claim(self, kind, name, path, line, layer):
        earlier = self._defined[kind].get(name)
        if earlier is not None:
            why = ("a later layer may derive from it (parent: %s) under a new name but not redefine it"
                   % name if kind == "images" else "a later layer may not redefine it; choose another name")
            raise CatalogError(
                "%s:%s: %s %s is already defined at %s; %s"
                % (path, line, _KIND_WORD[kind], excerpt(name), earlier.where, why),
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
        at = self._default_at.get("security_groups")
        for group in self.defaults.get("security_groups", ((), None))[0]:
            if group not in groups:
                raise self._unknown("security group", group, groups, file=at.file, line=at.line,
                                    key="defaults.security_groups")
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
        close = close_matches(str(name), list(known), n=3, cutoff=0.6)
        where = ""
        if details.get("file"):
            where = "%s:%s: " % (details["file"], details.get("line"))
        elif details.get("source"):
            where = "%s: " % details["source"]
        listing = sorted(known)
        shown = ", ".join(listing[:30]) + (" ... (%d in all)" % len(listing) if len(listing) > 30 else "")
        msg = "%sunknown %s %s" % (where, word, excerpt(name))
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
            size_value, size_source = size_spec(_call_size(size)), "call-time size override"
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
            # The image chain's own or inherited value (even []) wins over the catalog default.
            groups, groups_source = effective.get("security_groups") or self.defaults.get("security_groups") \
                or _NO_GROUPS
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


def _call_size(size):
    if not isinstance(size, dict):
        raise CatalogError("size must be a mapping {cpu, ram_gb} or {flavor}, got %s" % excerpt(size), key="size")
    size = {k: v for k, v in size.items() if v is not None}
    allowed = ("cpu", "ram_gb", "flavor")
    for key in size:
        if key not in allowed:
            close = close_matches(str(key), allowed, n=1, cutoff=0.5)
            raise CatalogError("size: unknown key %s%s; valid: cpu, ram_gb, flavor"
                               % (excerpt(key), "; did you mean %r?" % close[0] if close else ""),
                               key="size.%s" % name_excerpt(key), valid=list(allowed))
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
        raise CatalogError("security_groups must be a list of group names, got %s" % excerpt(groups),
                           key="security_groups")
    return groups


def _all_own(image):
    yield from image.own
    for values in image.cloud_own.values():
        yield from values
