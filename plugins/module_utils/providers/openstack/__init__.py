# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenStack: the primitives (provider.py) over openstacksdk (sdk.py), and Neutron security groups
(groups.py).
"""
