# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security tests of issue 18 that need real runs: the modules' playbook helper and the moto fixtures
(module_helpers.py) are importable from here; the local machines' fixtures come from tests/support/local_cloud.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(INTEGRATION, "modules")
if MODULES not in sys.path:
    sys.path.append(MODULES)
TESTS = os.path.dirname(INTEGRATION)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.local_cloud import (  # noqa: E402,F401  pylint: disable=unused-import
    isolated_local_cloud, local_ssh_key,
)
