# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures every integration suite may use: the loopback OpenStack (tests/support/openstack_loopback).

Defined here, once for all the suites below, so that one pytest session starts one cloud (about a minute,
800 MB), when the first test that asks for it runs, and every suite's OpenStack tests share it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.openstack_loopback.fixtures import (  # noqa: E402,F401  pylint: disable=unused-import
    openstack_cloud, openstack_env, openstack_faults, openstack_leftovers,
)
