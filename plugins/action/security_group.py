# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.security_group with the controller's default catalog (plugin_utils/catalog_action.py),
run inside this action when the task runs on the controller (plugin_utils/in_process.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.plugin_utils.catalog_action import CatalogAction
from ansible_collections.slipway.cloud.plugins.plugin_utils.in_process import InProcessEngine


class ActionModule(InProcessEngine, CatalogAction):
    MODULE = "security_group"
