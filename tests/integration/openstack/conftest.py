# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loopback OpenStack's tests. Its fixtures (openstack_cloud, openstack_env, openstack_faults,
openstack_leftovers) come from tests/integration/conftest.py, so that every suite shares one cloud per
session; the modules' playbook helper (module_helpers.Ansible) is importable from here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(INTEGRATION, "modules")
if MODULES not in sys.path:
    sys.path.append(MODULES)
