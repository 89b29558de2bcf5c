# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security tests of issue 18: the modules' playbook helper and the moto fixtures (module_helpers.py) are
importable from here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = os.path.join(INTEGRATION, "modules")
if MODULES not in sys.path:
    sys.path.append(MODULES)
