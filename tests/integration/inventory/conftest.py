# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the inventory plugin's tests: one moto server (a subprocess) for the session,
reset before each test; real local machines from tests/support/local_cloud.py where the host can."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import inventory_fleet as fleet  # noqa: E402  (puts tests/ and tests/support on sys.path)
from inventory_fleet import Inventory  # noqa: E402
from moto_server import MotoServer  # noqa: E402
from support.collection import ansible_env, collection_root  # noqa: E402
from support.local_cloud import (  # noqa: E402,F401  pylint: disable=unused-import
    local_cloud_session, local_clouds, local_machines, local_ssh_key,
)


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer(mode="process").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server):
    moto_server.reset()
    return moto_server


@pytest.fixture
def inventory(tmp_path):
    env = ansible_env(**fleet.CREDENTIALS)
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    # the plugin's default known_hosts files go under $XDG_CACHE_HOME: this test's, not ~/.cache
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    return Inventory(str(tmp_path), env)


@pytest.fixture
def moto_catalog(moto, tmp_path):
    """A catalog layer with moto-1..3 (three regions of the moto server) and moto-down."""
    return fleet.write_catalog(str(tmp_path / "catalog"), moto.url, down="moto-down", http_timeout=20)


@pytest.fixture
def shipped_catalog():
    return os.path.join(collection_root(), "catalog")
