# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side base of the action plugins of catalog-reading modules.

Modules run from a temporary AnsiballZ zip, so their module_utils cannot find the
collection's catalog/ directory. This action runs on the controller first: when the
task sets no ``catalog`` and the controller has no SLIPWAY_CATALOG, it passes the
installed collection's catalog/ directory explicitly, then runs the module of the
same name. A module's action plugin is just::

    class ActionModule(CatalogAction):
        pass
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.plugins.action import ActionBase

CATALOG_ENV = "SLIPWAY_CATALOG"
#: a layer name that stands for the shipped catalog (same word as module_utils/catalog.py)
SHIPPED_LAYER = "@shipped"


def shipped_catalog_dir():
    """<collection>/catalog, found from this file (plugins/plugin_utils/catalog_action.py)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "catalog")
    return path if os.path.isdir(path) else None


def controller_catalog_layers(environ=None):
    """SLIPWAY_CATALOG of the controller (os.pathsep-separated), else the shipped catalog."""
    environ = os.environ if environ is None else environ
    value = environ.get(CATALOG_ENV, "")
    if value.strip():
        return expand_shipped([part for part in value.split(os.pathsep) if part.strip()])
    shipped = shipped_catalog_dir()
    return [shipped] if shipped else None


def expand_shipped(layers):
    """Replace the word @shipped by the shipped catalog's path (left as is when not found)."""
    shipped = shipped_catalog_dir()
    return [shipped if layer == SHIPPED_LAYER and shipped else layer for layer in layers]


class CatalogAction(ActionBase):
    """Fill the module's ``catalog`` default on the controller, then run the module."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(CatalogAction, self).run(tmp, task_vars)
        del tmp  # unused since ansible 2.5
        args = dict(self._task.args)
        if args.get("catalog"):
            layers = args["catalog"]
            if isinstance(layers, list):
                args["catalog"] = expand_shipped(layers)
        else:
            layers = controller_catalog_layers()
            if layers:
                args["catalog"] = layers
        module = self._task.resolved_action or self._task.action
        result.update(self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
        return result
