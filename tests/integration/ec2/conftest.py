# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for provider tests against moto's EC2 server on loopback.

One server per session (started in-process, stopped at the end); moto is reset and
the fault injector switched off before every test, so tests never see each other.
"""

import pytest
from ec2_helpers import KEY_VALUE, KEY_VAR, SECRET_VALUE, SECRET_VAR, make_cloud, make_placement
from moto_server import MotoServer

from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer(mode="thread").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server):
    moto_server.reset()
    yield moto_server
    moto_server.set_faults(0.0)


@pytest.fixture
def env():
    return {KEY_VAR: KEY_VALUE, SECRET_VAR: SECRET_VALUE}


@pytest.fixture
def cloud(moto):
    return make_cloud(moto.url)


@pytest.fixture
def provider(cloud, env):
    prov = get_provider(cloud, env)
    yield prov
    prov.close()


@pytest.fixture
def image_id(provider):
    images = provider.find_images({"name": "ubuntu/images/*", "owner": "amazon"})
    assert images, "moto ships Ubuntu AMIs owned by amazon"
    return images[0]["id"]


@pytest.fixture
def placement(cloud, image_id):
    return make_placement(cloud, image_id)
