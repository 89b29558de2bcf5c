# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real local machines for tests: set the local clouds up once per session, hand out Clouds.

Use from a conftest.py (tests/ must be on sys.path, as the other support modules expect)::

    from support.local_cloud import (  # noqa: F401  (pytest finds fixtures by name)
        local_cloud_session, local_clouds, local_ssh_key, local_machines)

Fixtures
  local_cloud_session  (session) LocalCloudSession: the catalog's local clouds (local-a, local-b)
                       set up in the default state root ($SLIPWAY_LOCAL_ROOT, else
                       /var/lib/slipway/local). The machines the session made are destroyed after
                       it; the clouds are torn down too if the session set them up, no other machine
                       is on them by then, and SLIPWAY_LOCAL_KEEP is not 1. Skips (with the reason)
                       when not root or the host lacks nspawn.
  local_clouds         (session) {name: model.Cloud} of that session.
  local_ssh_key        (session) (private_key_path, public_key_line): an ed25519 pair in a tmp dir.
  isolated_local_cloud (function) IsolatedCloud: one local cloud "local-iso" (198.18.100-199.0/24) in a fresh
                       temporary state root (the base image cache is shared); torn down after the test.
                       For tests that tear down or crash on purpose without touching the shared set-up.
  local_machines       (function) make(cloud="local-a", names=("t1",), flavor=None, login_user="root",
                       security_groups=("slipway_test_ssh",), wait=True) -> [model.Machine];
                       names get the session's suffix ("t1-3f2a", see LocalCloudSession.name), so
                       parallel sessions never collide; everything it made is destroyed after the
                       test, also when the test fails.

Helpers (plain functions): ssh(machine, key_path, command, user=None) -> CompletedProcess,
leftovers(state_root, ids) -> [str] (what a destroyed machine may have left behind: must be []).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import (  # noqa: E402
    StateRoot, resolve_images, resolve_root,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import (  # noqa: E402
    MANAGED_TAG, Placement, Rule,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider  # noqa: E402

#: the group the fixtures put machines in: SSH from anywhere, nothing else.
TEST_SSH_GROUP = "slipway_test_ssh"
#: tag marking the machines of one test session (its value: the session's token)
SESSION_TAG = "slipway:test-session"
SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]


HOST_TOOLS = ("systemd-nspawn", "debootstrap", "lxcfs", "nft", "apt-cacher-ng", "ip", "ssh-keygen")


def missing_host_tools():
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


def host_can_run_local_machines(install=True):
    """None, or why this host cannot run local machines (the tests then skip with that reason).

    As root on a host without the tools, the set-up playbook installs them first (a fresh CI machine).
    """
    if not sys.platform.startswith("linux"):
        return "local machines need Linux"
    if os.geteuid() != 0:
        return "local machines need root"
    if missing_host_tools() and install:
        run_setup_playbook()
    missing = missing_host_tools()
    if missing:
        return "host lacks %s (ansible-playbook playbooks/local_cloud.yml installs them)" % ", ".join(missing)
    return None


def run_setup_playbook(*extra):
    """ansible-playbook playbooks/local_cloud.yml (the catalog's local clouds), failing loudly."""
    from support.collection import ansible_command, ansible_env, collection_root

    result = subprocess.run(ansible_command("ansible-playbook",
                                            os.path.join(collection_root(), "playbooks", "local_cloud.yml"), *extra),
                            env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False, timeout=1800)
    if result.returncode != 0:
        raise AssertionError("playbooks/local_cloud.yml failed:\n" + result.stdout[-4000:])
    return result.stdout


def catalog_local_clouds():
    """{name: Cloud} of the shipped catalog's local clouds."""
    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog

    catalog = load_catalog([os.path.join(REPO, "catalog")])
    return {name: cloud for name, cloud in catalog.clouds.items() if cloud.provider == "local"}


def ssh(machine, key_path, command, user=None, timeout=120):
    """Run ``command`` on the machine with the real ssh client; returns the CompletedProcess."""
    target = "%s@%s" % (user or machine.login_user or "root", machine.address)
    return subprocess.run(["ssh", "-i", key_path] + SSH_OPTIONS + [target, command], check=False, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)


def leftovers(state, machine_ids):
    """Every trace of the given machines still on the host; [] when destroy did its job."""
    found = []
    links = hostsetup.host.run(["ip", "-o", "link", "show"], check=False)[1]
    netns = hostsetup.host.run(["ip", "netns", "list"], check=False)[1]
    mounts = hostsetup.host.read_text("/proc/self/mountinfo", "")
    table = hostsetup.host.nft_table_text("inet", state.nft_table) or ""
    ports = hostsetup.host.nft_table_text("bridge", state.nft_table) or ""
    cgroup_root = hostsetup.host.CGROUP_ROOT
    for machine_id in machine_ids:
        if ("vslw" + machine_id) in links:
            found.append("link vslw" + machine_id)
        if (state.netns_prefix + machine_id) in netns:
            found.append("netns " + state.netns_prefix + machine_id)
        if state.machine_dir(machine_id) in mounts:
            found.append("mount under " + state.machine_dir(machine_id))
        if ("m_" + machine_id) in table:
            found.append("nft chain m_" + machine_id)
        if ("p_" + machine_id) in ports:
            found.append("nft bridge port chain p_" + machine_id)
        for hierarchy in os.listdir(cgroup_root):
            path = os.path.join(cgroup_root, hierarchy, state.cgroup_parent, machine_id)
            if os.path.exists(path):
                found.append("cgroup " + path)
        if os.path.exists(state.machine_dir(machine_id)):
            found.append("directory " + state.machine_dir(machine_id))
        for name in ("propagate/slw-" + machine_id,):
            if os.path.exists(os.path.join("/run/systemd/nspawn", name)):
                found.append("/run/systemd/nspawn/" + name)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            cmdline = hostsetup.host.read_text("/proc/%s/cmdline" % pid, "") or ""
            if machine_id in cmdline and hostsetup.host.process_start_time(int(pid)) is not None:
                found.append("process %s: %s" % (pid, cmdline.replace("\0", " ")[:120]))
    return found


class LocalCloudSession:
    """The local clouds of one test session, and everything the session made on them."""

    def __init__(self, state, clouds, key_path, public_key, set_up_here):
        self.state = state
        self.clouds = clouds
        self.key_path = key_path
        self.public_key = public_key
        self.set_up_here = set_up_here
        self.made = []            # (cloud name, machine id)
        self.token = "%04x" % (os.getpid() % 0x10000)

    def provider(self, cloud_name):
        return get_provider(self.clouds[cloud_name])

    def placement(self, cloud_name, flavor=None, login_user="root", security_groups=(TEST_SSH_GROUP,)):
        cloud = self.clouds[cloud_name]
        chosen = cloud.flavor(flavor) if flavor else cloud.flavors[0]
        if chosen is None:
            # An unknown flavor is passed through so the provider's error can be tested.
            return Placement(cloud=cloud, image="debian-12", image_id="debian-12", image_lookup=None,
                             login_user=login_user, flavor=flavor, cpu=1, ram_gb=1,
                             security_groups=tuple(security_groups))
        return Placement(cloud=cloud, image="debian-12", image_id="debian-12", image_lookup=None,
                         login_user=login_user, flavor=chosen.name, cpu=chosen.cpu, ram_gb=chosen.ram_gb,
                         security_groups=tuple(security_groups))

    def name(self, name):
        """The machine name as made: parallel test sessions on one host must not collide."""
        return "%s-%s" % (name, self.token)

    def create(self, cloud_name, names, flavor=None, login_user="root", security_groups=(TEST_SSH_GROUP,),
               tags=None, wait=True, timeout=120):
        provider = self.provider(cloud_name)
        all_tags = {MANAGED_TAG: "true", SESSION_TAG: self.token}
        all_tags.update(tags or {})
        known = set(r for _cloud, r in self.made)
        try:
            machines = provider.create_machines(self.placement(cloud_name, flavor, login_user, security_groups),
                                                [self.name(n) for n in names], self.public_key, all_tags)
        finally:
            # Whatever carries this session's tag is ours to destroy, even after an error.
            for machine in provider.list_machines():
                if machine.tags.get(SESSION_TAG) == self.token and machine.id not in known:
                    self.made.append((cloud_name, machine.id))
        if wait:
            machines = provider.wait_machines(machines, "ssh", timeout)
        return machines

    def destroy_made(self):
        for cloud_name, machine_id in reversed(self.made):
            provider = self.provider(cloud_name)
            provider.destroy_machines([machine_id])
        ids = [machine_id for _cloud, machine_id in self.made]
        self.made = []
        return ids


@pytest.fixture(scope="session")
def local_ssh_key():
    reason = host_can_run_local_machines()
    if reason:
        pytest.skip(reason)
    directory = tempfile.mkdtemp(prefix="slipway-local-key-")
    path = os.path.join(directory, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slipway-test", "-f", path], check=True)
    with open(path + ".pub") as handle:
        public = handle.read().strip()
    yield path, public
    shutil.rmtree(directory, ignore_errors=True)


def ensure_test_group(provider):
    provider.ensure_security_group(TEST_SSH_GROUP, "tests: SSH from anywhere", [Rule("tcp", 22, 22, "0.0.0.0/0")])


@pytest.fixture(scope="session")
def local_cloud_session(local_ssh_key):
    reason = host_can_run_local_machines()
    if reason:
        pytest.skip(reason)
    clouds = catalog_local_clouds()
    root = resolve_root(None)
    state = StateRoot(root, resolve_images(root))
    definitions = [hostsetup.cloud_definition(name, cloud.option("subnet"), cloud.option("bridge"), state)
                   for name, cloud in sorted(clouds.items())]
    lease = take_lease(state)       # first: a session ending now will not tear the clouds down under us
    already = set(state.clouds())
    set_up_here = [d["name"] for d in definitions if d["name"] not in already]
    marker = state.path("test-sessions", "set-up-by-tests")
    if set_up_here:
        # The real path: the role (host packages, image, bridges, proxy, nft), as a user would run it.
        run_setup_playbook()
        with open(marker, "w") as handle:
            handle.write("\n".join(set_up_here) + "\n")
    hostsetup.ensure_host(state, definitions)
    session = LocalCloudSession(state, clouds, local_ssh_key[0], local_ssh_key[1], set_up_here)
    for name in clouds:
        ensure_test_group(session.provider(name))
    yield session
    session.destroy_made()
    if os.path.exists(lease):
        os.unlink(lease)
    # The last test session out tears down the clouds test sessions set up (the marker says which),
    # unless another session holds a lease, a machine (molecule's, a user's) is still on them, or
    # SLIPWAY_LOCAL_KEEP=1.
    with state.lock():
        by_tests = (hostsetup.host.read_text(marker, "") or "").split()
        others = [r for r in state.machines() if r.get("cloud") in by_tests]
        sessions = live_leases(state)
        busy = others or sessions or os.environ.get("SLIPWAY_LOCAL_KEEP") == "1"
        if by_tests and not busy:
            os.unlink(marker)
            hostsetup.teardown_host(state, by_tests)
    if not sessions:
        for name in clouds:
            try:
                session.provider(name).delete_security_group(TEST_SSH_GROUP)
            except Exception:  # pylint: disable=broad-except
                pass      # still used by a machine someone else made with it: leave it


def take_lease(state):
    """A file saying this test session uses the state root's clouds (removed at its end)."""
    directory = state.path("test-sessions")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "%d-%d" % (os.getpid(), hostsetup.host.process_start_time(os.getpid())))
    with open(path, "w") as handle:
        handle.write("pytest session\n")
    return path


def live_leases(state):
    """Leases of other test sessions whose process still runs."""
    directory = state.path("test-sessions")
    live = []
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        if name == "set-up-by-tests":
            continue
        pid, _sep, start = name.partition("-")
        if pid.isdigit() and start.isdigit() and hostsetup.host.process_alive(int(pid), int(start)):
            live.append(name)
        else:
            os.unlink(os.path.join(directory, name))
    return live


@pytest.fixture(scope="session")
def local_clouds(local_cloud_session):
    return dict(local_cloud_session.clouds)


@pytest.fixture
def local_machines(local_cloud_session):
    made_before = len(local_cloud_session.made)
    session = local_cloud_session

    def make(cloud="local-a", names=("t1",), **kwargs):
        return session.create(cloud, names, **kwargs)

    yield make
    mine = session.made[made_before:]
    del session.made[made_before:]
    for cloud_name, machine_id in reversed(mine):
        session.provider(cloud_name).destroy_machines([machine_id])


def free_subnet(low, high):
    """A 198.18.<n>.0/24, low <= n < high, on no host interface yet: parallel test runs (and other
    suites' isolated clouds) must not collide. Starts at a place derived from the pid."""
    used = hostsetup.host.run(["ip", "-o", "-4", "addr", "show"], check=False)[1]
    span = high - low
    for step in range(span):
        third = low + (os.getpid() + step) % span
        if " 198.18.%d." % third not in used:
            return "198.18.%d.0/24" % third
    raise AssertionError("no free /24 in 198.18.%d-%d.0 for an isolated local cloud" % (low, high - 1))


class IsolatedCloud:
    """A local cloud of its own state root: ``state``, ``cloud`` (model.Cloud), ``definition``."""

    def __init__(self, root, images, key_path, public_key, subnet=None, name="local-iso"):
        from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Flavor

        subnet = subnet or free_subnet(100, 200)
        self.state = StateRoot(root, images)
        self.key_path = key_path
        self.public_key = public_key
        self.cloud = Cloud(name=name, provider="local",
                           flavors=(Flavor("Micro", 1, 0.5), Flavor("Small", 2, 2)),
                           options=(("subnet", subnet), ("root", root), ("images", images)))
        self.definition = hostsetup.cloud_definition(name, subnet, None, self.state)

    def catalog_layer(self, directory, image):
        """A catalog layer file in ``directory``: this cloud, and ``image`` (a copy of debian-12 of 1 cpu /
        0.5 GB on it, login root). Returns its path."""
        layer = {"clouds": {self.cloud.name: {"provider": "local", "security_groups": True,
                                              "options": dict(self.cloud.options),
                                              "flavors": {f.name: {"cpu": f.cpu, "ram_gb": f.ram_gb}
                                                          for f in self.cloud.flavors}}},
                 "images": {image: {"parent": "debian-12", "size": {"cpu": 1, "ram_gb": 0.5},
                                    "clouds": {self.cloud.name: {"image_id": "debian-12", "login_user": "root"}}}}}
        path = os.path.join(str(directory), "local.yml")
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(layer, handle)
        return path

    def provider(self):
        return get_provider(self.cloud)

    def set_up(self):
        result = hostsetup.ensure_host(self.state, [self.definition])
        ensure_test_group(self.provider())
        return result

    def teardown(self):
        return hostsetup.teardown_host(self.state)


@pytest.fixture
def isolated_local_cloud(local_ssh_key):
    reason = host_can_run_local_machines()
    if reason:
        pytest.skip(reason)
    images = resolve_images(resolve_root(None))
    root = tempfile.mkdtemp(prefix="slipway-local-iso-")
    iso = IsolatedCloud(root, images, local_ssh_key[0], local_ssh_key[1])
    iso.set_up()
    yield iso
    iso.teardown()
    shutil.rmtree(root, ignore_errors=True)
