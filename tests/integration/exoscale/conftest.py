# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for provider tests against the fake Exoscale v2 API (tests/support/exoscale_server.py).

One server per session; its state is reset before every test, and after every test
the server must have seen no request that Exoscale's OpenAPI document does not allow.
"""

import pytest
from exo_helpers import ENV, make_cloud
from exoscale_server import ExoscaleFake

from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider


@pytest.fixture(scope="session")
def exo_server():
    server = ExoscaleFake(op_polls=1, settle_reads=1).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def exo(exo_server):
    exo_server.reset()
    yield exo_server
    violations = list(exo_server.violations)
    exo_server.reset()
    assert violations == [], "requests the OpenAPI document does not allow:\n" + "\n".join(violations)


@pytest.fixture
def env():
    return dict(ENV)


@pytest.fixture
def cloud(exo):
    return make_cloud(exo.url)


@pytest.fixture
def provider(cloud, env):
    prov = get_provider(cloud, env)
    yield prov
    prov.close()
