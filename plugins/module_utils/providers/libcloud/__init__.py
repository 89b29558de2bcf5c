# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Any other libcloud driver: the primitives (provider.py) and what differs between libcloud releases
(compat.py).
"""
