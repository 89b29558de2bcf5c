# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs slipway.cloud.local_cloud_host with the controller's default catalog (see plugin_utils/catalog_action.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.plugin_utils.catalog_action import CatalogAction


class ActionModule(CatalogAction):
    pass
