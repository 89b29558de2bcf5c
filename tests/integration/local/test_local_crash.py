# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIGKILL the creating process half-way, then destroy or tear down: nothing may be left.

Runs in an isolated state root (its own cloud, bridge, nft table, cgroup parent), so
tearing down never touches the shared local clouds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from support.local_cloud import TEST_SSH_GROUP, leftovers

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CREATOR = textwrap.dedent("""
    import sys
    sys.path.insert(0, %(tests)r)
    import conftest  # the ansible_collections.slipway.cloud alias
    from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Flavor, Placement
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider
    cloud = Cloud(name="local-iso", provider="local", flavors=(Flavor("Micro", 1, 0.5),),
                  options=(("subnet", %(subnet)r), ("root", %(root)r), ("images", %(images)r)))
    placement = Placement(cloud=cloud, image="debian-12", image_id="debian-12", image_lookup=None,
                          login_user="root", flavor="Micro", cpu=1, ram_gb=0.5, security_groups=(%(group)r,))
    provider = get_provider(cloud)
    machines = provider.create_machines(placement, ["crash-1", "crash-2"], %(key)r, {"slipway:managed": "true"})
    provider.wait_machines(machines, "ssh", 120)
    print("created", flush=True)
    import time
    time.sleep(600)
""")


def start_creator(iso, pause):
    env = dict(os.environ, SLIPWAY_LOCAL_TEST_PAUSE=pause)
    code = CREATOR % {"tests": TESTS, "subnet": iso.cloud.option("subnet"), "root": iso.state.root,
                      "images": iso.state.images, "group": TEST_SSH_GROUP, "key": iso.public_key}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def paused_at(iso, step):
    directory = iso.state.path("machines")
    if not os.path.isdir(directory):
        return False
    return any(os.path.exists(os.path.join(directory, m, "paused-at-" + step)) for m in os.listdir(directory))


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def machine_ids(iso):
    return [r["id"] for r in iso.state.machines()]


@pytest.mark.parametrize("step", ["mount", "cgroups", "network", "spawn"])
def test_sigkill_mid_create_then_teardown_leaves_nothing(isolated_local_cloud, step):
    iso = isolated_local_cloud
    proc = start_creator(iso, "%s:60" % step)
    try:
        wait_for(lambda: paused_at(iso, step), what="the creator to reach " + step)
    finally:
        kill(proc)
    ids = machine_ids(iso)
    assert len(ids) == 2, "both machines are recorded before anything is made"
    # The half-made machines are listed (state unknown: their creator is gone), so destroy can find them.
    listed = {m.name: m.state for m in iso.provider().list_machines()}
    assert listed == {"crash-1": "unknown", "crash-2": "unknown"}

    iso.teardown()
    assert leftovers(iso.state, ids) == []
    assert host.Cgroups(iso.state.cgroup_parent).existing() == []
    assert not host.nft_table_exists("inet", iso.state.nft_table)
    assert not host.link_exists(iso.definition["bridge"])
    iso.set_up()      # the fixture's finalizer tears down again


def test_sigkill_after_boot_then_destroy_leaves_nothing(isolated_local_cloud):
    """The creator dies after the machines run: they live on (the nspawn outlives it), and destroy finds them."""
    iso = isolated_local_cloud
    proc = start_creator(iso, "none:0")
    try:
        wait_for(lambda: proc.stdout.readline().strip() == "created", timeout=120, what="the machines")
    finally:
        kill(proc)
    provider = iso.provider()
    machines = provider.list_machines()
    assert sorted((m.name, m.state) for m in machines) == [("crash-1", "running"), ("crash-2", "running")]
    provider.wait_machines(machines, "ssh", 30)
    ids = [m.id for m in machines]
    provider.destroy_machines(machines)
    assert provider.list_machines() == []
    assert leftovers(iso.state, ids) == []


def test_sigkill_during_destroy_then_destroy_again(isolated_local_cloud):
    iso = isolated_local_cloud
    provider = iso.provider()
    proc = start_creator(iso, "none:0")
    try:
        wait_for(lambda: proc.stdout.readline().strip() == "created", timeout=120, what="the machines")
    finally:
        kill(proc)
    machines = provider.list_machines()
    ids = [m.id for m in machines]
    code = textwrap.dedent("""
        import sys, os, signal
        sys.path.insert(0, %(tests)r)
        import conftest
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host, machines, state
        root = state.StateRoot(%(root)r, %(images)r)
        record = root.machine(%(id)r)
        engine = machines.Machines(root)
        original = host.unmount
        def unmount_then_die(path):
            original(path)
            os.kill(os.getpid(), signal.SIGKILL)     # dies between unmount and network/cgroup removal
        host.unmount = unmount_then_die
        engine.destroy(record)
    """) % {"tests": TESTS, "root": iso.state.root, "images": iso.state.images, "id": ids[0]}
    result = subprocess.run([sys.executable, "-c", code], check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert result.returncode == -signal.SIGKILL
    assert any(m.id == ids[0] and m.state == "terminated" for m in provider.list_machines())
    assert leftovers(iso.state, ids[:1]) != []
    provider.destroy_machines(provider.list_machines())
    assert provider.list_machines() == []
    assert leftovers(iso.state, ids) == []
