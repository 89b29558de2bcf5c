# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provider interface (base.py), the algorithms every family shares, the family registry
(families.py), and one folder per family: its primitives (provider.py) and its wire.
"""
