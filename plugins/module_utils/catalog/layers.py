# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which catalog layers a run reads, and which files a layer holds.

The one place that knows where the shipped catalog is (``shipped_catalog_dir``), what
``SLIPWAY_CATALOG`` means and what the word ``@shipped`` stands for. Used on the controller
by the action plugins (before a module is shipped away from its collection), by the
modules' runner (in process or AnsiballZ) and by the inventory plugin.

A layer is read only when path_trust trusts it (owned by you or root, writable by no one else): whoever
can write a layer decides where a cloud's credentials go.

Cheap to import on purpose: the action plugins of every task import it, so it needs only
``os`` and the error type (no PyYAML, no schema). No Ansible imports.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.slipway.cloud.plugins.module_utils.masking import path_excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
from ansible_collections.slipway.cloud.plugins.module_utils.path_trust import check_directory

#: the environment variable naming the default layers (os.pathsep-separated)
CATALOG_ENV = "SLIPWAY_CATALOG"
#: a layer name that stands for the collection's shipped catalog/ directory
SHIPPED_LAYER = "@shipped"
YAML_SUFFIXES = (".yml", ".yaml")


def shipped_catalog_dir():
    """The collection's catalog/ directory, or None where it is not on disk (inside an AnsiballZ zip)."""
    # this file is <collection>/plugins/module_utils/catalog/layers.py
    root = os.path.abspath(__file__)
    for dummy in range(4):
        root = os.path.dirname(root)
    path = os.path.join(root, "catalog")
    return path if os.path.isdir(path) else None


def expand_shipped(layers):
    """``layers`` with the word @shipped replaced by the shipped catalog's path (left as is when not found)."""
    shipped = shipped_catalog_dir()
    return [shipped if layer == SHIPPED_LAYER and shipped else layer for layer in layers]


def default_catalog_layers(environ=None):
    """The layers of a task that names none: SLIPWAY_CATALOG's, else the shipped catalog when findable, else []."""
    environ = os.environ if environ is None else environ
    value = environ.get(CATALOG_ENV, "")
    if value.strip():
        return expand_shipped([part.strip() for part in value.split(os.pathsep) if part.strip()])
    shipped = shipped_catalog_dir()
    return [shipped] if shipped else []


def layer_paths(layers):
    """The paths to read for ``layers`` (one path or a list, in order); @shipped must be reachable from here."""
    if isinstance(layers, str):
        layers = [layers]
    paths = [_layer_path(str(layer)) for layer in layers or ()]
    if not paths:
        raise CatalogError("no catalog: give catalog layers (the catalog option) or set %s" % CATALOG_ENV,
                           key="catalog")
    return paths


def _layer_path(layer):
    if layer != SHIPPED_LAYER:
        return layer
    shipped = shipped_catalog_dir()
    if shipped is None:
        raise CatalogError("the shipped catalog (%s) is not reachable from here; run the module through its "
                           "action plugin on the controller, or give the path of the collection's catalog/ "
                           "directory" % SHIPPED_LAYER, key="catalog")
    return shipped


def layer_files(layer):
    """The YAML files of one layer: a directory's *.yml/*.yaml sorted by name, or one file (each file's own
    trust is checked when it is read). A directory someone else could write is refused."""
    try:
        status = os.stat(layer)
    except (OSError, ValueError):
        status = None
    if status is not None and stat.S_ISDIR(status.st_mode):
        check_directory(layer, "catalog layer", status=status)
        names = sorted(n for n in os.listdir(layer) if n.endswith(YAML_SUFFIXES) and not n.startswith("."))
        return [os.path.join(layer, n) for n in names]
    if status is not None and stat.S_ISREG(status.st_mode):
        return [layer]
    shown = path_excerpt(layer)
    raise CatalogError("catalog layer %s does not exist on this host (give a directory of *.yml files or one "
                       "file; modules read the catalog where they run: run them on the controller with "
                       "delegate_to: localhost)" % shown, file=shown)
