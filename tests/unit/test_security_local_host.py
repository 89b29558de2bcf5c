# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, findings 10 and 8 (local state root): the local cloud's host set-up, engine level.

Plain pytest on scratch state roots. The tests that touch interfaces run their teardown inside a
network namespace of their own (`ip netns exec`, root only), so a bug can only ever delete the
namespace's interfaces, never the host's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import bridges, host, hostlock, hostsetup, state
from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Flavor, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

IS_ROOT = os.geteuid() == 0
NOBODY = 65534
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (chown, network namespaces)")


@pytest.fixture
def scratch():
    """A scratch directory (0700) holding a state root path and an image cache path, removed after."""
    top = tempfile.mkdtemp(prefix="slipway-sec-local-")
    yield top
    subprocess.run(["chattr", "-R", "-i", top], check=False, stderr=subprocess.DEVNULL)
    shutil.rmtree(top, ignore_errors=True)


def make_state(top, **kwargs):
    root = os.path.join(top, "root")
    os.makedirs(root, mode=0o700, exist_ok=True)
    return state.StateRoot(root, os.path.join(top, "images"), **kwargs)


def local_provider(st):
    """The local provider of a cloud living in ``st`` (its constructor reads the root)."""
    cloud = Cloud(name="web", provider="local", flavors=(Flavor("Micro", 1, 0.5),),
                  options=(("subnet", "198.18.77.0/24"), ("root", st.root), ("images", st.images)))
    return get_provider(cloud)


def write_cloud_record(st, file_stem, record):
    os.makedirs(st.path("clouds"), exist_ok=True)
    with open(st.path("clouds", file_stem + ".json"), "w") as handle:
        json.dump(record, handle)


# --------------------------------------------------------------------------- cloud names

@pytest.mark.parametrize("name", ["..", ".", "a/b", "../victim", "web\n", "", "-x", "x" * 64, "a b"])
def test_bad_cloud_names_are_refused_before_any_path(scratch, name):
    """issue 18, finding 10: a cloud named '..', '.', 'a/b' (or ending in a newline) is refused by name."""
    st = make_state(scratch)
    with pytest.raises(ProviderError) as error:
        hostsetup.cloud_definition(name, "198.18.77.0/24", None, st)
    assert "local cloud name" in error.value.msg and "is not valid" in error.value.msg
    with pytest.raises(ProviderError):
        st.group_dir(name)
    with pytest.raises(ProviderError):
        st.cloud_file(name)


@pytest.mark.parametrize("name", ["local-a", "local_b", "a", "web.prod-1", "x" * 63])
def test_good_cloud_names_still_work(scratch, name):
    """issue 18, finding 10: the catalog's cloud names keep working."""
    definition = hostsetup.cloud_definition(name, "198.18.77.0/24", None, make_state(scratch))
    assert definition["name"] == name and bridges.BRIDGE_RE.match(definition["bridge"])


@pytest.mark.parametrize("name", ["..", "."])
def test_teardown_of_a_record_named_dot_dot_keeps_the_state_root(scratch, name):
    """issue 18, finding 10: a cloud record named '..' made teardown remove the whole state root; now refused."""
    st = make_state(scratch)
    write_cloud_record(st, "evil", {"name": name, "subnet": "198.18.77.0/24", "gateway": "198.18.77.1",
                                    "prefixlen": 24, "bridge": "slwnothere0"})
    os.makedirs(st.path("machines"))
    os.makedirs(st.path("groups", "web"))       # a set-up with a security group has this directory
    with open(st.path("precious"), "w") as handle:
        handle.write("keep me")
    try:
        hostsetup.teardown_host(st)
        raised = None
    except ProviderError as exc:
        raised = exc
    assert os.path.exists(st.path("precious")), "teardown removed the state root"
    assert os.path.exists(st.path("clouds", "evil.json"))
    assert raised and "refusing to tear down local cloud" in raised.msg and "nothing was removed" in raised.msg


def test_teardown_refuses_a_bad_cloud_name_given_to_it(scratch):
    """issue 18, finding 10: clouds=['..'] for teardown is one clear error and the root stays."""
    st = make_state(scratch)
    os.makedirs(st.path("groups"))
    with pytest.raises(ProviderError) as error:
        hostsetup.teardown_host(st, [".."])
    assert "local cloud name '..' is not valid (clouds)" in error.value.msg
    assert os.path.isdir(st.path("groups"))


def test_remove_tree_never_leaves_the_root(scratch):
    """issue 18, finding 10: nothing outside the state root (nor the root itself) is ever removed."""
    st = make_state(scratch)
    victim = os.path.join(scratch, "victim")
    os.makedirs(victim)
    for path in (st.root, victim, st.path("groups", "..", "..", "victim"), "/"):
        with pytest.raises(ProviderError) as error:
            st.remove_inside(path)
        assert "not inside the local cloud's state root" in error.value.msg
    assert os.path.isdir(victim) and os.path.isdir(st.root)
    os.makedirs(st.path("groups", "ok"))
    st.remove_inside(st.path("groups", "ok"))
    assert not os.path.exists(st.path("groups", "ok"))


# --------------------------------------------------------------------------- bridges and subnets

@pytest.mark.parametrize("bridge", ["eth0", "docker0", "lo", "virbr0", "slw0123456789abc", "slw", "slw/x",
                                    "slw..", "slw-a\n", "vslw0001"])
def test_bridges_outside_the_prefix_are_refused(scratch, bridge):
    """issue 18, finding 10: bridge eth0/docker0 (teardown then deleted it) or a 16-character name is refused."""
    with pytest.raises(ProviderError) as error:
        hostsetup.cloud_definition("web", "198.18.77.0/24", bridge, make_state(scratch))
    assert error.value.msg.startswith("cloud web option bridge ")
    assert "starting with 'slw'" in error.value.msg and error.value.details["key"] == "options.bridge"


def test_derived_and_prefixed_bridges_are_accepted(scratch):
    """issue 18, finding 10: the names the collection derives (slw-..., slw<hash>) pass the rule."""
    st = make_state(scratch)
    for name in ("local-a", "a-very-long-cloud-name", "x" * 63):
        assert bridges.BRIDGE_RE.match(st.bridge_for(name)) and bridges.BRIDGE_RE.match(
            state.default_bridge_name(name))
    assert hostsetup.cloud_definition("web", "198.18.77.0/24", "slw-web_1", st)["bridge"] == "slw-web_1"


@pytest.mark.parametrize("subnet", ["10.0.0.0/24", "172.16.0.0/24", "192.168.1.0/24", "198.17.255.0/24",
                                    "198.20.0.0/24", "198.16.0.0/14", "2001:db8::/64", "0.0.0.0/0"])
def test_subnets_outside_198_18_slash_15_are_refused(subnet):
    """issue 18, finding 10: subnets only inside 198.18.0.0/15 (already enforced before the fix)."""
    with pytest.raises(ProviderError) as error:
        hostsetup.cloud_definition("web", subnet)
    assert "outside 198.18.0.0/15" in error.value.msg or "not a network" in error.value.msg


def test_subnets_inside_are_accepted():
    """issue 18, finding 10: both /16s of 198.18.0.0/15 are usable."""
    assert hostsetup.cloud_definition("web", "198.19.255.0/24", "slw-web")["gateway"] == "198.19.255.1"


# --------------------------------------------------------------------------- the lock

def test_the_lock_file_is_made_0600_and_an_old_0644_one_tightened(scratch):
    """issue 18, finding 10: the host lock was 0644, so another user could open and hold it."""
    st = make_state(scratch)
    with st.lock():
        assert stat.S_IMODE(os.stat(st.path("lock")).st_mode) == 0o600
    os.chmod(st.path("lock"), 0o644)
    with st.lock():
        pass
    assert stat.S_IMODE(os.stat(st.path("lock")).st_mode) == 0o600


def test_a_lock_file_others_may_write_is_refused(scratch):
    """issue 18, finding 10: a lock file writable by others is refused, not used."""
    st = make_state(scratch)
    with open(st.path("lock"), "w"):
        pass
    os.chmod(st.path("lock"), 0o666)
    with pytest.raises(ProviderError) as error:
        with st.lock():
            pass
    assert "host lock %s is writable by group or others" % st.path("lock") in error.value.msg


@needs_root
def test_a_lock_file_of_another_user_is_refused(scratch):
    """issue 18, finding 10: a lock file another user owns (and so may hold) is refused."""
    st = make_state(scratch)
    with open(st.path("lock"), "w"):
        pass
    os.chmod(st.path("lock"), 0o600)
    os.chown(st.path("lock"), NOBODY, NOBODY)
    with pytest.raises(ProviderError) as error:
        with st.lock():
            pass
    assert "belongs to uid %d" % NOBODY in error.value.msg


def test_a_symlinked_lock_file_is_refused(scratch):
    """issue 18, finding 10: the lock is never opened through a symlink someone planted."""
    st = make_state(scratch)
    os.symlink(os.path.join(scratch, "elsewhere"), st.path("lock"))
    with pytest.raises(ProviderError) as error:
        with st.lock():
            pass
    assert "cannot open the local cloud's host lock" in error.value.msg
    assert not os.path.exists(os.path.join(scratch, "elsewhere"))


HOLDER = textwrap.dedent("""
    import fcntl, sys, time
    handle = open(sys.argv[1], "r")          # read-only, as in the finding
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(120)
""")


def test_a_held_lock_fails_within_the_bounded_wait_naming_the_holder(scratch, monkeypatch):
    """issue 18, finding 10: flock waited forever on a lock another process held read-only; now a bounded wait
    and one error naming the lock file and the holder's pid."""
    monkeypatch.setenv(hostlock.TIMEOUT_ENV, "0.5")
    st = make_state(scratch)
    with st.lock():
        pass                                   # the lock file exists (0600, ours)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, st.path("lock")], stdout=subprocess.PIPE,
                              universal_newlines=True)
    outcome = {}

    def take():
        try:
            with st.lock():
                outcome["taken"] = True
        except ProviderError as exc:
            outcome["error"] = exc

    try:
        assert holder.stdout.readline().strip() == "held"
        taker = threading.Thread(target=take, daemon=True)
        taker.start()
        taker.join(60)                          # not a timing assertion: only "it did not wait forever"
        assert not taker.is_alive(), "the lock was waited for without end"
    finally:
        holder.kill()
        holder.wait()
    error = outcome.get("error")
    assert isinstance(error, hostlock.LockTimeout), outcome
    assert "host lock %s is still held after 0.5 s" % st.path("lock") in error.msg
    assert "pid %d (python" % holder.pid in error.msg and error.details["holders"] == [holder.pid]
    with st.lock():                             # free again once the holder is gone
        pass


def test_lock_timeout_from_the_environment_and_bad_values(monkeypatch):
    """issue 18, finding 10: the wait is bounded by default (300 s), settable, and checked."""
    assert hostlock.resolve_timeout(None, {}) == 300.0
    assert hostlock.resolve_timeout(None, {hostlock.TIMEOUT_ENV: "2.5"}) == 2.5
    assert hostlock.resolve_timeout(7, {hostlock.TIMEOUT_ENV: "2.5"}) == 7.0
    for bad in ("soon", "-1", "1e9"):
        with pytest.raises(ProviderError) as error:
            hostlock.resolve_timeout(bad, {})
        assert "lock_timeout" in error.value.msg and bad not in error.value.msg
    monkeypatch.setenv(hostlock.TIMEOUT_ENV, "3")
    assert state.StateRoot("/tmp/slipway-no-such-root").lock_timeout == 3.0


# --------------------------------------------------------------------------- trust of the state root (finding 8)

@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_state_root_others_may_write_is_refused(scratch, mode):
    """issue 18, finding 8: a state root writable by group or others is not trusted (set-up, lock, provider)."""
    st = make_state(scratch)
    os.chmod(st.root, mode)
    for action in (lambda: st.lock().__enter__(),
                   lambda: hostsetup.ensure_host(st, [hostsetup.cloud_definition("web", "198.18.77.0/24", None, st)],
                                                 build_image=False, check_mode=True),
                   lambda: hostsetup.teardown_host(st), lambda: local_provider(st)):
        with pytest.raises(ProviderError) as error:
            action()
        assert "the local cloud's state root %s is writable by group or others" % st.root in error.value.msg
    assert not os.path.exists(st.path("lock")) and not os.path.exists(st.images)


@needs_root
def test_a_state_root_of_another_user_is_refused(scratch):
    """issue 18, finding 8: a state root another user owns is not trusted."""
    st = make_state(scratch)
    os.chown(st.root, NOBODY, NOBODY)
    for action in (lambda: st.lock().__enter__(), lambda: local_provider(st)):
        with pytest.raises(ProviderError) as error:
            action()
        assert "state root %s belongs to uid %d" % (st.root, NOBODY) in error.value.msg


@needs_root
def test_an_image_cache_of_another_user_or_loose_is_refused(scratch):
    """issue 18, finding 8: the image cache machines boot from is trusted only when nobody else may write it."""
    st = make_state(scratch)
    os.makedirs(st.images)
    os.chmod(st.images, 0o777)
    with pytest.raises(ProviderError) as error:
        local_provider(st)
    assert "image cache %s is writable by group or others" % st.images in error.value.msg
    os.chmod(st.images, 0o755)
    os.chown(st.images, NOBODY, NOBODY)
    with pytest.raises(ProviderError) as error:
        local_provider(st)
    assert "image cache %s belongs to uid %d" % (st.images, NOBODY) in error.value.msg


def test_a_state_root_inside_a_directory_others_may_write_is_refused(scratch):
    """issue 18, finding 8: whoever may write the directory above the root may swap the root."""
    loose = os.path.join(scratch, "shared")
    os.makedirs(loose)
    os.chmod(loose, 0o777)
    st = state.StateRoot(os.path.join(loose, "root"), os.path.join(scratch, "images"))
    with pytest.raises(ProviderError) as error:
        st.lock().__enter__()
    assert "is inside %s, which is writable by others without the sticky bit" % loose in error.value.msg
    os.chmod(loose, 0o1777)                    # sticky, as /tmp: others cannot rename what is ours
    st.check_trusted()


def test_set_up_makes_the_root_private(scratch):
    """issue 18, finding 8: set-up makes the state root 0700 (records, host keys) and the image cache 0755."""
    st = make_state(scratch)
    os.chmod(st.root, 0o755)
    assert st.ensure_dirs() is True
    assert stat.S_IMODE(os.stat(st.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(st.images).st_mode) == 0o755
    assert st.ensure_dirs() is False


# --------------------------------------------------------------------------- teardown of tampered records

# The child Python imports the collection as the tests do (tests/conftest.py aliases it).
PRELUDE = "import runpy; runpy.run_path(%r)\n" % os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")

NETNS_TEARDOWN = PRELUDE + textwrap.dedent("""
    import json, sys
    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup, state
    from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
    st = state.StateRoot(sys.argv[1], sys.argv[2])
    try:
        hostsetup.teardown_host(st, json.loads(sys.argv[3]))
        print(json.dumps({"ok": True}))
    except ProviderError as exc:
        print(json.dumps({"ok": False, "msg": exc.msg}))
""")


@pytest.fixture
def netns():
    """A network namespace of this test (removed after): where the interfaces of these tests live."""
    if not IS_ROOT or not shutil.which("ip"):
        pytest.skip("needs root and iproute2")
    name = "slwsec%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", name], check=False).returncode != 0:
        pytest.skip("cannot make a network namespace here")
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


def in_netns(netns, *argv):
    return subprocess.run(["ip", "netns", "exec", netns] + list(argv), check=False, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)


def link_names(netns):
    out = in_netns(netns, "ip", "-o", "link", "show").stdout
    return set(line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line)


def teardown_in(netns, st, names=None):
    return json.loads(in_netns_python(netns, NETNS_TEARDOWN, st.root, st.images, json.dumps(names)))


def recorded_cloud(st, name, bridge, made=None):
    record = {"name": name, "subnet": "198.18.77.0/24", "gateway": "198.18.77.1", "prefixlen": 24,
              "bridge": bridge, "set_up_at": 1.0}
    if made is not None:
        record["made"] = made
    write_cloud_record(st, name, record)
    return record


@pytest.mark.parametrize("kind, bridge", [("veth", "eth0"), ("bridge", "docker0"), ("veth", "slwtest0")])
def test_teardown_leaves_an_interface_set_up_did_not_make(scratch, netns, kind, bridge):
    """issue 18, finding 10: a record whose bridge is eth0/docker0 (or a link under the prefix that is not a
    bridge) made teardown delete that interface; now the record is refused and the interface stays."""
    st = make_state(scratch)
    extra = ["peer", "name", "secpeer0"] if kind == "veth" else []
    assert in_netns(netns, "ip", "link", "add", bridge, "type", kind, *extra).returncode == 0
    recorded_cloud(st, "web", bridge)
    outcome = teardown_in(netns, st, ["web"])
    assert bridge in link_names(netns), "teardown deleted %s, which set-up did not make" % bridge
    assert not outcome["ok"] and "refusing to tear down local cloud 'web'" in outcome["msg"]
    assert os.path.exists(st.cloud_file("web")), "a refused record stays, for a look by hand"


def test_teardown_leaves_a_bridge_of_another_cloud_or_one_recreated(scratch, netns):
    """issue 18, finding 10: a bridge under the prefix is deleted only with this cloud's mark and ifindex."""
    st = make_state(scratch)
    assert in_netns(netns, "ip", "link", "add", "slw-other", "type", "bridge").returncode == 0
    assert in_netns(netns, "ip", "link", "set", "dev", "slw-other", "alias", bridges.marker(st, "other")).returncode == 0
    recorded_cloud(st, "web", "slw-other", made={"bridge": {"name": "slw-other", "alias": bridges.marker(st, "web"),
                                                            "ifindex": 1}})
    outcome = teardown_in(netns, st, ["web"])
    assert not outcome["ok"] and "does not carry this cloud's mark" in outcome["msg"]
    assert in_netns(netns, "ip", "link", "set", "dev", "slw-other", "alias", bridges.marker(st, "web")).returncode == 0
    outcome = teardown_in(netns, st, ["web"])
    assert not outcome["ok"] and "is not the interface set-up made" in outcome["msg"]
    assert "slw-other" in link_names(netns)


def test_teardown_refuses_recorded_paths_outside(scratch, netns):
    """issue 18, finding 10: a record listing paths set-up does not make (outside the root) is refused."""
    st = make_state(scratch)
    victim = os.path.join(scratch, "victim")
    os.makedirs(victim)
    recorded_cloud(st, "web", "slw-web", made={"paths": ["../victim", "/etc"], "bridge": {"name": "slw-web"}})
    outcome = teardown_in(netns, st, ["web"])
    assert os.path.isdir(victim)
    assert not outcome["ok"] and "lists paths set-up does not make" in outcome["msg"]


def test_teardown_deletes_the_bridge_it_made(scratch, netns):
    """issue 18, finding 10: the bridge set-up made and marked is still removed by teardown (and only it)."""
    st = make_state(scratch)
    definition = hostsetup.cloud_definition("web", "198.18.77.0/24", "slw-web", st)
    assert in_netns(netns, "ip", "link", "add", "slw-web", "type", "bridge").returncode == 0
    assert in_netns(netns, "ip", "link", "add", "slw-keep", "type", "bridge").returncode == 0
    claim = PRELUDE + textwrap.dedent("""
        import json, sys
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup, state
        st = state.StateRoot(sys.argv[1], sys.argv[2])
        print(json.dumps(hostsetup.made_by_set_up(st, json.loads(sys.argv[3]))))
    """)
    made = json.loads(in_netns_python(netns, claim, st.root, st.images, json.dumps(definition)))
    assert made["bridge"]["alias"] == bridges.marker(st, "web") and made["paths"] == ["clouds/web.json", "groups/web"]
    record = dict(definition, set_up_at=1.0, made=made)
    write_cloud_record(st, "web", record)
    outcome = teardown_in(netns, st, ["web"])
    assert outcome["ok"], outcome
    assert "slw-web" not in link_names(netns) and "slw-keep" in link_names(netns)
    assert not os.path.exists(st.cloud_file("web"))


# In a mount namespace of its own: the host's cgroup mounts kept (teardown reads them), a sysfs of ``netns``
# over /sys (so /sys/class/net shows the namespace's links), then into ``netns``.
ENTER = ('T=$1; NS=$2; shift 2; mount --rbind /sys/fs/cgroup "$T" && exec nsenter --net=/run/netns/"$NS" '
         'sh -c \'mount -t sysfs sysfs /sys && mount --move "$0" /sys/fs/cgroup && exec "$@"\' "$T" "$@"')


def in_netns_python(netns, script, *args):
    """Run ``script`` in a child Python inside ``netns`` (see ENTER); its last line of output."""
    keep = tempfile.mkdtemp(prefix="slipway-sec-cgroup-")
    try:
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", ENTER, "sh", keep, netns,
                               sys.executable, "-c", script] + list(args), check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    finally:
        os.rmdir(keep)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_bridge_inspection_reads_only_valid_names():
    """issue 18, finding 10: /sys is never read through a name that is not a bridge name under the prefix."""
    assert bridges.inspect("../../../etc") == {"exists": False}
    assert bridges.inspect("eth0") == {"exists": False}
    assert host.ALLOWED_NETWORK.with_prefixlen == "198.18.0.0/15"
