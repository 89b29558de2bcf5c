# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tutorial for real: fixtures in tests/support/tutorial.py and tests/support/local_cloud.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.local_cloud import local_cloud_session, local_ssh_key  # noqa: E402,F401  pylint: disable=unused-import
from support.tutorial import extra_clouds  # noqa: E402,F401  pylint: disable=unused-import
