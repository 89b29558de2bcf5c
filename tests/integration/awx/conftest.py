# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the AWX tests: the moto server and the inventory fleet helpers of tests/integration/inventory,
real local machines from tests/support/local_cloud.py, and AWX's side from tests/support/awx_jobs.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INVENTORY_TESTS = os.path.join(os.path.dirname(HERE), "inventory")
for _path in (INVENTORY_TESTS, os.path.dirname(os.path.dirname(HERE))):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# inventory_fleet puts tests/support on sys.path
import inventory_fleet  # noqa: E402,F401  pylint: disable=unused-import
from moto_server import MotoServer  # noqa: E402
from support.local_cloud import (  # noqa: E402,F401  pylint: disable=unused-import
    local_cloud_session, local_clouds, local_machines, local_ssh_key,
)


@pytest.fixture(scope="session")
def awx_moto_server():
    server = MotoServer(mode="process").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def awx_moto(awx_moto_server):
    awx_moto_server.reset()
    return awx_moto_server
