# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, findings 10 and 8 (local state root): real runs of the local_cloud_host module.

Each test uses a scratch state root; the only host interfaces made are a bridge of an isolated
198.18.x.0/24 cloud and one veth pair without addresses, both removed at the end.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from support.collection import ansible_command, ansible_env
from support.local_cloud import free_subnet, host_can_run_local_machines

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import StateRoot, resolve_images, resolve_root

NOBODY = 65534
HOLDER = ("import fcntl, sys, time\n"
          "handle = open(sys.argv[1], 'r')\n"          # read-only, as in the finding
          "fcntl.flock(handle.fileno(), fcntl.LOCK_EX)\n"
          "print('held', flush=True)\n"
          "time.sleep(300)\n")


def run_module(args, timeout=600, **env):
    """ansible localhost -m slipway.cloud.local_cloud_host -a <json>: (rc, output)."""
    try:
        result = subprocess.run(ansible_command("ansible", "localhost", "-m", "slipway.cloud.local_cloud_host",
                                                "-a", json.dumps(args)),
                                env=ansible_env(**env), check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("local_cloud_host did not finish within %d s: it waited for the lock without end"
                             % timeout)
    return result.returncode, result.stdout


@pytest.fixture
def scratch_root():
    if os.geteuid() != 0:
        pytest.skip("local_cloud_host needs root")
    top = tempfile.mkdtemp(prefix="slipway-sec-host-")
    root = os.path.join(top, "root")
    os.makedirs(root, mode=0o700)
    with open(os.path.join(root, "precious"), "w") as handle:
        handle.write("keep me")
    yield root
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("name", ["..", ".", "a/b"])
def test_a_cloud_named_dot_dot_is_refused_and_the_root_survives(scratch_root, name):
    """issue 18, finding 10: a cloud named '..' (teardown then removed the whole state root), '.' or 'a/b'."""
    definitions = [{"name": name, "subnet": "198.18.250.0/24"}]
    for state in ("present", "absent"):
        rc, output = run_module({"root": scratch_root, "state": state, "build_image": False,
                                 "cloud_definitions": definitions})
        assert os.path.exists(os.path.join(scratch_root, "precious")), output[-2000:]
        assert rc != 0 and "local cloud name %r is not valid" % name in output, output[-2000:]
    assert not os.path.exists(os.path.join(scratch_root, "clouds"))


@pytest.mark.parametrize("bridge", ["eth0", "docker0", "slw0123456789abc"])
def test_a_bridge_outside_the_prefix_is_refused(scratch_root, bridge):
    """issue 18, finding 10: bridge eth0/docker0 (teardown then deleted it) or a 16-character name."""
    existed = host.link_exists(bridge)
    rc, output = run_module({"root": scratch_root, "build_image": False, "cloud_definitions": [
        {"name": "sec-bridge", "subnet": "198.18.250.0/24", "bridge": bridge}]})
    assert rc != 0 and "cloud sec-bridge option bridge '%s' is not valid" % bridge in output, output[-2000:]
    assert "starting with 'slw'" in output
    assert host.link_exists(bridge) == existed and not os.path.exists(os.path.join(scratch_root, "clouds"))


def test_a_held_lock_fails_within_the_bounded_wait_naming_the_holder(scratch_root):
    """issue 18, finding 10: another process held the host lock through a read-only handle and every run froze;
    now the run fails after lock_timeout with the lock file and the holder's pid."""
    lock = os.path.join(scratch_root, "lock")
    with open(lock, "w"):
        pass
    os.chmod(lock, 0o644)                       # as an older version left it
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, lock], stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        rc, output = run_module({"root": scratch_root, "state": "absent"}, timeout=120,
                                SLIPWAY_LOCAL_LOCK_TIMEOUT="1")
        assert rc != 0, output[-2000:]
        assert "host lock %s is still held after 1 s by pid %d (python" % (lock, holder.pid) in output, output[-2000:]
        rc, output = run_module({"root": scratch_root, "state": "absent", "lock_timeout": 0.5}, timeout=120)
        assert rc != 0 and "still held after 0.5 s by pid %d" % holder.pid in output, output[-2000:]
    finally:
        holder.kill()
        holder.wait()
    assert oct(os.stat(lock).st_mode & 0o777) == "0o600"
    rc, output = run_module({"root": scratch_root, "state": "absent"}, timeout=120)
    assert rc == 0, output[-2000:]


@pytest.mark.parametrize("how", ["chmod 0777", "chown nobody", "images chmod 0777"])
def test_a_loose_or_foreign_state_root_is_refused(scratch_root, how):
    """issue 18, finding 8: the local state root (and its image cache) is trusted only when nobody else may write it."""
    images = os.path.join(os.path.dirname(scratch_root), "images")
    os.makedirs(images, mode=0o755)
    if how == "chmod 0777":
        os.chmod(scratch_root, 0o777)
    elif how == "chown nobody":
        os.chown(scratch_root, NOBODY, NOBODY)
    else:
        os.chmod(images, 0o777)
    for state in ("present", "absent"):
        rc, output = run_module({"root": scratch_root, "images": images, "state": state, "build_image": False,
                                 "cloud_definitions": [{"name": "sec-trust", "subnet": "198.18.250.0/24"}]})
        assert rc != 0, output[-2000:]
        what = "image cache %s" % images if how.startswith("images") else "state root %s" % scratch_root
        assert "the local cloud's %s" % what in output, output[-2000:]
        assert ("belongs to uid %d" % NOBODY if how == "chown nobody" else "writable by group or others") in output
    assert not os.path.exists(os.path.join(scratch_root, "lock"))


@pytest.fixture
def set_up_cloud(scratch_root):
    """A real set-up (bridge, apt proxy, nft table) of one cloud in the scratch root; torn down after."""
    reason = host_can_run_local_machines()
    if reason:
        pytest.skip(reason)
    args = {"root": scratch_root, "images": resolve_images(resolve_root(None)), "build_image": False,
            "cloud_definitions": [{"name": "sec-teardown", "subnet": free_subnet(200, 250)}]}
    rc, output = run_module(args)
    assert rc == 0, output[-3000:]
    yield args
    run_module(dict(args, state="absent"))


def test_teardown_with_a_tampered_record_leaves_the_interface_alone(set_up_cloud):
    """issue 18, finding 10: a record whose bridge was changed to another interface made teardown delete it;
    now that record is refused, and once restored, teardown removes exactly the bridge set-up made."""
    state = StateRoot(set_up_cloud["root"])
    record = state.cloud("sec-teardown")
    made = record["bridge"]
    assert record["made"]["bridge"]["name"] == made and host.link_exists(made)
    decoy = "slwtest%d" % (os.getpid() % 10000)
    subprocess.run(["ip", "link", "add", decoy, "type", "veth", "peer", "name", decoy + "p"], check=True)
    try:
        for bridge in (decoy, "lo"):
            state.save(state.cloud_file("sec-teardown"), dict(record, bridge=bridge))
            rc, output = run_module(dict(set_up_cloud, state="absent"))
            assert host.link_exists(bridge), "teardown deleted %s, which set-up did not make" % bridge
            assert rc != 0 and "refusing to tear down local cloud 'sec-teardown'" in output, output[-2000:]
            assert os.path.exists(os.path.join(set_up_cloud["root"], "precious"))
        state.save(state.cloud_file("sec-teardown"), record)
        rc, output = run_module(dict(set_up_cloud, state="absent"))
        assert rc == 0, output[-2000:]
        assert not host.link_exists(made) and host.link_exists(decoy)
    finally:
        subprocess.run(["ip", "link", "del", decoy], check=False)
