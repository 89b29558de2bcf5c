# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures of the loopback OpenStack.

Use from a conftest.py (tests/ must be on sys.path, as the other support modules expect)::

    from support.openstack_loopback.fixtures import (  # noqa: F401  (pytest finds fixtures by name)
        openstack_cloud, openstack_env, openstack_faults, openstack_leftovers)

Fixtures
  openstack_cloud      (session) LoopbackCloud, started fresh for the session (about a minute) and
                       stopped and removed after it, also when tests fail. ``.seeded`` has the ids
                       and names (project, user, application credential, networks, flavors, images),
                       ``.auth(kind)`` / ``.env(kind)`` / ``.connect(kind)`` for kind password (the
                       member user of project slipway), application_credential or admin,
                       ``.layout.clouds_yaml`` has one entry per kind (cloud.CLOUD_NAMES).
                       Skips only when the services cannot be installed on this machine for a
                       reason outside the project (no Python 3.11, no package index); under CI
                       (CI=true) that is a failure instead: there the suite must run.
  openstack_env        (function) the OS_* variables of the member user plus OS_CLIENT_CONFIG_FILE,
                       a fresh dict per test (add OS_CLOUD to pick a clouds.yaml entry instead).
  openstack_faults     (function) faults(rate=0.3, kinds=proxy.KINDS, lanes=("public",), seed=None)
                       switches the fault proxy and returns its counters; faults.counters() reads
                       them. Counters start at zero for the test; faults are off again after it.
  openstack_leftovers  (function) left() -> {kind: [what]}: servers, ports, floating IPs, key pairs
                       and security groups of project slipway made since the test began; {} when
                       the test's deployments cleaned up after themselves.
"""

import pytest

from . import leftovers
from .cloud import LoopbackCloud
from .install import ServicesUnavailable, ensure_venv, in_ci
from .proxy import KINDS


def services_venv():
    """The services' venv, or a skip (outside CI) when this machine cannot install it."""
    try:
        return ensure_venv()
    except ServicesUnavailable as error:
        if in_ci():
            pytest.fail("CI must run the loopback OpenStack tests, but the services cannot be installed: %s"
                        % error, pytrace=False)
        pytest.skip("the OpenStack services cannot be installed on this machine (a reason outside "
                    "slipway.cloud): %s" % error)


@pytest.fixture(scope="session")
def openstack_cloud():
    cloud = LoopbackCloud(services_venv())
    cloud.start()                 # stops what it started if it fails
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture
def openstack_env(openstack_cloud):
    env = openstack_cloud.env("password")
    env["OS_CLIENT_CONFIG_FILE"] = openstack_cloud.layout.clouds_yaml
    return env


class Faults:
    """The fault proxy's switch for one test."""

    def __init__(self, proxy):
        self.proxy = proxy

    def __call__(self, rate=0.3, kinds=KINDS, lanes=("public",), seed=None):
        return self.proxy.set_faults(rate, kinds, lanes, seed)

    def counters(self):
        return self.proxy.counters()

    def off(self):
        return self.proxy.set_faults(0.0)


@pytest.fixture
def openstack_faults(openstack_cloud):
    faults = Faults(openstack_cloud.proxy)
    faults.off()
    openstack_cloud.proxy.counters(reset=True)
    yield faults
    faults.off()


@pytest.fixture
def openstack_leftovers(openstack_cloud):
    conn = openstack_cloud.connect("password", interface="internal")
    before = leftovers.snapshot(conn)
    yield lambda: leftovers.left_since(conn, before)
    conn.close()
