# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side base of the action plugins of catalog-reading modules.

Modules run from a temporary AnsiballZ zip, so their module_utils cannot find the
collection's catalog/ directory. This action runs on the controller first: when the
task sets no ``catalog`` it passes the controller's default layers (SLIPWAY_CATALOG, else
the installed collection's catalog/ directory), and it replaces the word ``@shipped`` in a
task's own layers by that directory; then it runs the module of the same name. Where the
shipped catalog is and what the word means is module_utils/catalog/layers.py's to say,
which is cheap to import (this runs for every task). A module's action plugin is just::

    class ActionModule(CatalogAction):
        pass
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import (
    default_catalog_layers, expand_shipped,
)


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
            layers = default_catalog_layers()
            if layers:
                args["catalog"] = layers
        module = self._task.resolved_action or self._task.action
        result.update(self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
        return result
