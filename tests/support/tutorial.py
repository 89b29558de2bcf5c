# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of tests/integration/tutorial: playbooks run for real on local machines.

The shared local clouds (local-a, local-b) come from support/local_cloud.py. Tests that need a cloud
the shipped catalog does not have (no security groups, flavors bigger than the host) get it from the
``extra_clouds`` fixture: a test catalog layer, and those clouds set up in their own state root and subnets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

from support.collection import ansible_command, ansible_env, collection_root  # noqa: E402
from support.local_cloud import host_can_run_local_machines, leftovers  # noqa: E402

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import (  # noqa: E402
    StateRoot, resolve_images, resolve_root,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider  # noqa: E402

#: clouds of the test layer, each in the state root of the extra_clouds fixture
NO_GROUPS_CLOUD, NO_GROUPS_SUBNET = "tut-nosg", "198.18.47.0/24"
BIG_CLOUD, BIG_SUBNET = "tut-big", "198.18.48.0/24"

TEST_LAYER = """\
# Test layer of tests/integration/tutorial: clouds the shipped catalog does not have, and images
# whose security groups make the failure cases.
clouds:
  {nosg}:
    description: a local cloud without security groups (the firewall role protects its machines)
    provider: local
    security_groups: false
    # Its machines load nftables themselves (the firewall role): they keep CAP_NET_ADMIN.
    options: {{subnet: {nosg_subnet}, root: {root}, images: {images}, machine_net_admin: true}}
    flavors:
      Tiny: {{cpu: 1, ram_gb: 1}}
  {big}:
    description: a local cloud whose big flavor no 2-core host can give
    provider: local
    options: {{subnet: {big_subnet}, root: {root}, images: {images}}}
    flavors:
      Tiny: {{cpu: 1, ram_gb: 1}}
      Huge: {{cpu: 64, ram_gb: 512}}

security_groups:
  tut_no_ssh:
    description: tests - only HTTP, so SSH never answers
    rules:
      - {{proto: tcp, ports: 80, source: 0.0.0.0/0}}
  tut_ssh_only:
    description: tests - only SSH, so HTTP is closed by the cloud
    rules:
      - {{proto: tcp, ports: 22, source: 0.0.0.0/0}}

images:
  debian-12-no-ssh:
    parent: debian-12
    security_groups: [tut_no_ssh]
  debian-12-ssh-only:
    parent: debian-12
    security_groups: [tut_ssh_only]
  debian-12-extra:
    parent: debian-12
    clouds:
      {nosg}: {{image_id: debian-12, login_user: root}}
      {big}: {{image_id: debian-12, login_user: root}}
  debian-12-sudo:
    description: logs in as a user with sudo, so the roles must escalate
    parent: debian-12-extra
    login_user: debian
"""


class ExtraClouds:
    """The test layer and the clouds it adds (set up in a state root of their own)."""

    def __init__(self, directory, state):
        self.directory = directory
        self.state = state
        self.layer = os.path.join(directory, "layer")
        self.catalog = [os.path.join(collection_root(), "catalog"), self.layer]

    def env(self, **extra):
        """Environment for ansible-playbook: this collection, the catalog with the test layer."""
        env = ansible_env(**extra)
        env["SLIPWAY_CATALOG"] = os.pathsep.join(self.catalog)
        return env


@pytest.fixture(scope="session")
def extra_clouds(local_cloud_session):
    reason = host_can_run_local_machines()
    if reason:
        pytest.skip(reason)
    directory = tempfile.mkdtemp(prefix="slipway-tutorial-tests-")
    root = os.path.join(directory, "root")
    images = resolve_images(resolve_root(None))
    state = StateRoot(root, images)
    try:
        os.makedirs(os.path.join(directory, "layer"))
        with open(os.path.join(directory, "layer", "tests.yml"), "w") as handle:
            handle.write(TEST_LAYER.format(nosg=NO_GROUPS_CLOUD, nosg_subnet=NO_GROUPS_SUBNET, big=BIG_CLOUD,
                                           big_subnet=BIG_SUBNET, root=root, images=images))
        definitions = [hostsetup.cloud_definition(NO_GROUPS_CLOUD, NO_GROUPS_SUBNET, None, state),
                       hostsetup.cloud_definition(BIG_CLOUD, BIG_SUBNET, None, state)]
        hostsetup.ensure_host(state, definitions)
        yield ExtraClouds(directory, state)
    finally:
        # Also after a failed set-up: whatever part of it was made goes.
        hostsetup.teardown_host(state)
        shutil.rmtree(directory, ignore_errors=True)


def run_playbook(playbook, env, *args, timeout=900):
    """ansible-playbook PLAYBOOK ARGS; returns the CompletedProcess (stdout and stderr together)."""
    path = playbook if os.path.isabs(playbook) else os.path.join(collection_root(), "playbooks", playbook)
    return subprocess.run(ansible_command("ansible-playbook", path, *args), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout, check=False)


def machines_of(catalog_layers, deployment, clouds):
    """[(cloud, Machine)] of ``deployment`` that still exist, asked of each cloud directly."""
    catalog = load_catalog(catalog_layers)
    found = []
    for name in clouds:
        provider = get_provider(catalog.cloud(name))
        try:
            for machine in provider.list_machines():
                if (machine.tags or {}).get(DEPLOYMENT_TAG) == deployment and machine.state != "terminated":
                    found.append((name, machine))
        finally:
            provider.close()
    return found


def destroy_deployment(extra, deployment, clouds):
    """Remove what a failed test may have left, with the collection's own destroy.yml."""
    run_playbook("destroy.yml", extra.env(), "-e", json.dumps({"deployment": deployment, "clouds": clouds}))


def state_roots(extra):
    """Every state root a test's machines may live in: the shared one and the extra clouds'."""
    return [StateRoot(resolve_root(None)), extra.state]


class MachineWatcher(threading.Thread):
    """Notes the id of every local machine of ``deployment`` while a playbook runs.

    A run that fails half-way returns no ids (the cloud's error is all it reports), yet what it made
    must be gone afterwards: the ids seen here are checked against the host with leftovers().
    """

    def __init__(self, extra, deployment, interval=0.2):
        super(MachineWatcher, self).__init__(daemon=True)
        self.roots = state_roots(extra)
        self.deployment = deployment
        self.interval = interval
        self.seen = {}                # machine id -> StateRoot
        self._halt = threading.Event()

    def look(self):
        for state in self.roots:
            try:
                records = state.machines()
            except (OSError, ValueError):
                continue          # a record being written; the next look reads it
            for record in records:
                if (record.get("tags") or {}).get(DEPLOYMENT_TAG) == self.deployment:
                    self.seen[record["id"]] = state

    def run(self):
        while not self._halt.is_set():
            self.look()
            self._halt.wait(self.interval)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join()
        return False


def assert_nothing_left(extra, deployment, clouds, watcher=None):
    """No machine of the deployment on any cloud, and no trace on the host of any machine it had."""
    left = machines_of(extra.catalog, deployment, clouds)
    assert not left, "teardown left machines: %s" % ", ".join("%s/%s" % (c, m.name) for c, m in left)
    if watcher is not None:
        for state in set(watcher.seen.values()):
            ids = [machine_id for machine_id, where in watcher.seen.items() if where is state]
            traces = leftovers(state, ids)
            assert not traces, "teardown left on the host: %s" % traces
