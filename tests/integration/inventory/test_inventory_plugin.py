# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instances through real `ansible-inventory`, `ansible` and `ansible-doc` runs.

EC2-family clouds are three regions of one moto server; the local clouds are real
machines where the host can run them (tests that need them skip with the reason otherwise).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import stat
import subprocess

import inventory_fleet as fleet
import pytest
from inventory_fleet import group_hosts, hostvars
from support.collection import collection_root


def seed_three_clouds(url):
    """moto-1: 3 inv-debian (d1, login user from the tag); moto-2: 2 inv-debian-web (d2/x);
    moto-3: 2 inv-debian (d3), stopped. Plus one machine without slipway:managed."""
    fleet.seed(url, "us-east-1", 3, "a", deployment="d1", login_user="admin-tag")
    fleet.seed(url, "us-west-2", 2, "b", image="inv-debian-web", deployment="d2/x")
    fleet.seed(url, "eu-west-1", 2, "c", deployment="d3", stop=True)
    fleet.seed_unmanaged(url, "us-east-1")


MOTO_CLOUDS = ["moto-1", "moto-2", "moto-3"]


def named(*names):
    """Host names as the default hostnames=name.cloud gives them: a-0 on moto-1 is a-0.moto-1, etc."""
    cloud_of = {"a": "moto-1", "b": "moto-2", "c": "moto-3"}
    return ["%s.%s" % (name, cloud_of[name[0]]) for name in names]


MOTO_HOSTS = named("a-0", "a-1", "a-2", "b-0", "b-1", "c-0", "c-1")


def test_ansible_doc_renders(inventory):
    proc = inventory.run("ansible-doc", "-t", "inventory", "slipway.cloud.instances")
    for text in ("slipway.cloud.instances", "filters", "address", "keyed_groups", "cache_plugin", "known_hosts_file",
                 "hostnames", "name.cloud", "enabled_var", "EXAMPLES"):
        assert text in proc.stdout


def test_moto_clouds_groups_and_host_vars(moto, moto_catalog, inventory):
    seed_three_clouds(moto.url)
    source = inventory.write("moto.slipway.yml", catalog=[moto_catalog], clouds=MOTO_CLOUDS)

    graph = inventory.graph(source)
    for group in ("@cloud_moto_1:", "@cloud_moto_2:", "@cloud_moto_3:", "@image_inv_debian:",
                  "@image_inv_debian_web:", "@deployment_d1:", "@deployment_d2_x:", "@deployment_d3:"):
        assert group in graph, graph
    assert "stranger" not in graph

    data, stderr = inventory.list(source)
    assert "WARNING" not in stderr, stderr
    hv = hostvars(data)
    assert sorted(hv) == MOTO_HOSTS
    assert group_hosts(data, "cloud_moto_1") == named("a-0", "a-1", "a-2")
    assert group_hosts(data, "image_inv_debian_web") == named("b-0", "b-1")
    assert group_hosts(data, "deployment_d3") == named("c-0", "c-1")

    a0, b0, c0 = (hv[host] for host in named("a-0", "b-0", "c-0"))
    # login user: the machine's own tag wins; otherwise the catalog's login user of the image on that cloud
    assert a0["ansible_user"] == "admin-tag" and b0["ansible_user"] == "admin"
    assert a0["ansible_host"].startswith("54.")          # moto's public addresses come first by default
    assert a0["slipway_ssh_url"] == "ssh://admin-tag@" + a0["ansible_host"]
    assert (b0["slipway_cloud"], b0["slipway_image"], b0["slipway_deployment"]) == ("moto-2", "inv-debian-web", "d2/x")
    assert (b0["slipway_flavor"], b0["slipway_cpu"], b0["slipway_ram_gb"]) == ("t3.small", 2, 2)
    assert a0["slipway_state"] == "running" and c0["slipway_state"] == "stopped"
    assert a0["slipway_id"].startswith("i-")


def test_address_preference(moto, moto_catalog, inventory):
    (instance_id,) = fleet.seed(moto.url, "us-east-1", 1, "a")
    described = fleet.ec2_client(moto.url, "us-east-1").describe_instances(InstanceIds=[instance_id])
    instance = described["Reservations"][0]["Instances"][0]
    public, private = instance["PublicIpAddress"], instance["PrivateIpAddress"]
    for address, expected in ((["private", "public"], private), ("public", public)):
        source = inventory.write("address.slipway.yml", catalog=[moto_catalog], clouds=["moto-1"], address=address)
        data = inventory.list(source)[0]
        assert hostvars(data)["a-0.moto-1"]["ansible_host"] == expected, address


@pytest.mark.parametrize("filters,expected", [
    ({"image": "inv-debian-web"}, named("b-0", "b-1")),
    ({"deployment": ["d1", "d3"]}, named("a-0", "a-1", "a-2", "c-0", "c-1")),
    ({"state": "stopped"}, named("c-0", "c-1")),
    ({"image": "inv-debian*", "state": ["running"]}, named("a-0", "a-1", "a-2", "b-0", "b-1")),
    ({"deployment": "nothing-like-this"}, []),
])
def test_filters(moto, moto_catalog, inventory, filters, expected):
    seed_three_clouds(moto.url)
    source = inventory.write("filtered.slipway.yml", catalog=[moto_catalog], clouds=MOTO_CLOUDS, filters=filters)
    data = inventory.list(source)[0]
    assert sorted(hostvars(data)) == expected


ENGINE = "ansible_collections.slipway.cloud.plugins.module_utils."
#: the engine modules a cached run loads: the name rule (cached host names are checked again), the model it
#: imports and the one excerpt of rejected values its warnings use
NAME_RULE = (ENGINE + "names", ENGINE + "model", ENGINE + "masking")


class ImportRecorder:
    """Environment for a child Python that writes, at exit, the names of every module it imported."""

    def __init__(self, directory):
        self.directory = os.path.join(directory, "import-recorder")
        self.path = os.path.join(directory, "imported.txt")
        os.makedirs(self.directory)
        with open(os.path.join(self.directory, "sitecustomize.py"), "w") as handle:
            handle.write("import atexit, os, sys\n"
                         "atexit.register(lambda: open(os.environ['SLIPWAY_TEST_IMPORTS'], 'w')"
                         ".write('\\n'.join(sorted(sys.modules))))\n")
        self.env = {"PYTHONPATH": self.directory, "SLIPWAY_TEST_IMPORTS": self.path}

    def modules(self):
        with open(self.path) as handle:
            return handle.read().split("\n")


def test_cache_serves_hosts_without_listing_or_importing_providers(moto, moto_catalog, inventory):
    fleet.seed(moto.url, "us-east-1", 2, "a")
    fleet.seed(moto.url, "eu-west-1", 1, "c")
    options = dict(catalog=[moto_catalog], clouds=MOTO_CLOUDS, cache=True, cache_plugin="ansible.builtin.jsonfile",
                   cache_connection=inventory.path("cache"), cache_timeout=600)
    source = inventory.write("cached.slipway.yml", **options)
    data = inventory.list(source)[0]
    assert sorted(hostvars(data)) == named("a-0", "a-1", "c-0")

    fleet.seed(moto.url, "us-west-2", 1, "b")           # the cache does not know this one yet
    recorder = ImportRecorder(inventory.workdir)
    data, stderr = inventory.list(source, env=recorder.env)
    assert sorted(hostvars(data)) == named("a-0", "a-1", "c-0"), stderr
    assert "WARNING" not in stderr, stderr
    loaded = recorder.modules()
    assert "ansible_collections.slipway.cloud.plugins.inventory.instances" in loaded      # the recorder works
    assert [name for name in loaded if (name.startswith(ENGINE) and name not in NAME_RULE)
            or name.split(".")[0] == "libcloud"] == []

    # every cloud fails, by name (no credentials): the source fails, and nothing is cached
    no_credentials = {name: "" for name in fleet.CREDENTIALS}
    no_credentials["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    data, stderr = inventory.list(source, "--flush-cache", env=no_credentials, check=False)
    assert data is None
    for cloud in MOTO_CLOUDS:
        assert "cloud %s: " % cloud in stderr

    # a full listing replaces the old entry; it is the run that imports the engine (and no libcloud for EC2)
    data = inventory.list(source, "--flush-cache", env=recorder.env)[0]
    assert sorted(hostvars(data)) == named("a-0", "a-1", "b-0", "c-0")
    loaded = recorder.modules()
    assert ENGINE + "providers.ec2" in loaded and "libcloud" not in loaded
    data = inventory.list(source, env=recorder.env)[0]
    assert sorted(hostvars(data)) == named("a-0", "a-1", "b-0", "c-0")
    assert [name for name in recorder.modules() if name.startswith(ENGINE) and name not in NAME_RULE] == []

    # filters apply to cached hosts too
    filtered = inventory.write("cached-filtered.slipway.yml", filters={"image": "nope"}, **options)
    data = inventory.list(filtered, env=recorder.env)[0]
    assert hostvars(data) == {}


def test_wrong_endpoint_warns_and_lists_the_others(moto, moto_catalog, inventory):
    seed_three_clouds(moto.url)
    source = inventory.write("down.slipway.yml", catalog=[moto_catalog])     # every cloud, moto-down too
    data, stderr = inventory.list(source)
    assert sorted(hostvars(data)) == MOTO_HOSTS
    warning = " ".join(stderr.split())
    assert "cloud moto-down was not listed" in warning and "127.0.0.1:9" in warning, stderr
    for cloud in MOTO_CLOUDS:
        assert "cloud %s was not listed" % cloud not in warning

    strict = inventory.write("strict.slipway.yml", catalog=[moto_catalog], strict=True)
    proc = inventory.run("ansible-inventory", "-i", strict, "--list", check=False,
                         env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert proc.returncode != 0
    assert "moto-down" in proc.stderr and "listing failed" in " ".join(proc.stderr.split())


def test_missing_credentials_name_the_variable(moto, moto_catalog, inventory):
    fleet.seed(moto.url, "us-east-1", 1, "a")
    source = inventory.write("creds.slipway.yml", catalog=[moto_catalog], clouds=["moto-1"])
    inventory.env.pop(fleet.KEY_VAR)
    # its only cloud failing fails the source (non-strict too); the error names the cloud and the variable
    data, stderr = inventory.list(source, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}, check=False)
    assert data is None
    text = " ".join(stderr.split())
    assert "no cloud could be listed" in text and "moto-1" in text and fleet.KEY_VAR in text, stderr


def test_constructed_options(moto, moto_catalog, inventory):
    seed_three_clouds(moto.url)
    source = inventory.write(
        "constructed.slipway.yml", catalog=[moto_catalog], clouds=MOTO_CLOUDS,
        keyed_groups=[{"key": "slipway_state", "prefix": "state"}],
        groups={"web": "slipway_image == 'inv-debian-web'"},
        compose={"ansible_port": 2222, "login": "ansible_user ~ '@' ~ slipway_cloud"})
    data = inventory.list(source)[0]
    assert group_hosts(data, "state_stopped") == named("c-0", "c-1")
    assert group_hosts(data, "web") == named("b-0", "b-1")
    hv = hostvars(data)
    assert hv["a-0.moto-1"]["ansible_port"] == 2222 and hv["b-1.moto-2"]["login"] == "admin@moto-2"


@pytest.mark.parametrize("options,words", [
    ({"filters": {"colour": "red"}}, ["colour", "image, deployment, state"]),
    ({"clouds": ["moto-9"]}, ["moto-9", "moto-1"]),
    ({"address": "elastic"}, ["address", "public, private"]),
    ({"catalog": ["does-not-exist"]}, ["does-not-exist"]),
])
def test_bad_options_give_one_clear_error(moto_catalog, inventory, options, words):
    config = dict({"catalog": [moto_catalog]}, **options)
    source = inventory.write("bad.slipway.yml", **config)
    proc = inventory.run("ansible-inventory", "-i", source, "--list", check=False,
                         env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert proc.returncode != 0
    text = " ".join(proc.stderr.split())
    assert "bad.slipway.yml" in text
    for word in words:
        assert word in text, text


def test_other_file_names_are_not_ours(moto_catalog, inventory):
    source = inventory.write("plain.yml", catalog=[moto_catalog])
    proc = inventory.run("ansible-inventory", "-i", source, "--list", check=False,
                         env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert proc.returncode != 0
    assert "could not be verified by inventory plugin 'slipway.cloud.instances'" in " ".join(proc.stderr.split())


# -- with real local machines --------------------------------------------------------------

def test_local_and_moto_machines_at_once(moto, moto_catalog, shipped_catalog, inventory, local_machines,
                                         local_ssh_key):
    run_id = "inv%d" % os.getpid()
    on_a = local_machines("local-a", names=(run_id + "-a1",),
                          tags={"slipway:deployment": run_id, "slipway:image": "debian-12"})
    on_b = local_machines("local-b", names=(run_id + "-b1",),
                          tags={"slipway:deployment": run_id, "slipway:image": "debian-12"})
    seed_three_clouds(moto.url)
    source = inventory.write("everything.slipway.yml", catalog=[shipped_catalog, moto_catalog],
                             clouds=MOTO_CLOUDS + ["local-a", "local-b"])

    graph = inventory.graph(source)
    for group in ("@cloud_local_a:", "@cloud_local_b:", "@cloud_moto_1:", "@image_debian_12:",
                  "@deployment_" + run_id + ":"):
        assert group in graph, graph

    data, stderr = inventory.list(source)
    hv = hostvars(data)
    mine = [on_a[0].name + ".local-a", on_b[0].name + ".local-b"]     # the fixture adds its session's suffix
    assert set(MOTO_HOSTS + mine) <= set(hv), (sorted(hv), stderr)
    assert group_hosts(data, "deployment_" + run_id) == mine
    for machine, host in ((on_a[0], hv[mine[0]]), (on_b[0], hv[mine[1]])):
        assert host["ansible_host"] == machine.private_ip
        assert host["ansible_user"] == "root"
        assert host["slipway_ssh_url"] == "ssh://root@" + machine.private_ip
        assert host["slipway_state"] == "running"
        assert host["slipway_host_keys"] and host["slipway_host_keys"][0].startswith("ssh-")
    # host keys are pinned by default, in a file under $XDG_CACHE_HOME named after the source
    (pinned,) = known_hosts_files(inventory, "everything-")
    for machine, host in ((on_a[0], hv[mine[0]]), (on_b[0], hv[mine[1]])):
        assert host["ansible_ssh_common_args"] == "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % pinned
        assert host["ansible_ssh_host_key_checking"] is True
        assert pinned_lines(pinned, machine.private_ip) == sorted(machine.host_keys)
    assert not any("ansible_ssh_common_args" in hv[host] or "ansible_ssh_host_key_checking" in hv[host]
                   for host in MOTO_HOSTS)   # no keys, nothing pinned

    # the shipped inventories/local reaches them through the plugin's host vars and its group_vars
    # (whose ansible_python_interpreter must win over the controller's venv Python set in the env),
    # with strict host key checking against the file the plugin pinned the keys in
    local_inventory = os.path.join(collection_root(), "inventories", "local")
    with open(os.path.join(local_inventory, "group_vars", "all.yml")) as handle:
        assert "StrictHostKeyChecking=no" not in handle.read()
    proc = inventory.run("ansible", "-i", local_inventory, ":".join(mine), "-m", "ansible.builtin.ping",
                         "-o", "-vvv", "--private-key", local_ssh_key[0], check=False, env=NO_SSH_MASTER)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in mine:
        assert "%s | SUCCESS" % host in proc.stdout and '"ping": "pong"' in proc.stdout
    (local_pinned,) = known_hosts_files(inventory, "local-")
    assert "StrictHostKeyChecking=yes" in proc.stdout and "UserKnownHostsFile=" + local_pinned in proc.stdout
    assert "StrictHostKeyChecking=no" not in proc.stdout
    for machine in (on_a[0], on_b[0]):
        assert pinned_lines(local_pinned, machine.private_ip) == sorted(machine.host_keys)


#: every ssh run connects anew (no ControlPersist master of an earlier run), so each one checks the host key
NO_SSH_MASTER = {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}


def known_hosts_files(inventory, prefix):
    return glob.glob(os.path.join(inventory.env["XDG_CACHE_HOME"], "slipway.cloud", "known_hosts", prefix + "*"))


def pinned_lines(path, address):
    """The keys pinned for ``address`` ("type data" each, sorted); the file must be private to its owner."""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as handle:
        lines = [line.split() for line in handle.read().splitlines()]
    return sorted(" ".join(fields[1:]) for fields in lines if fields[0] == address)


def test_pinned_host_keys_are_checked_strictly(shipped_catalog, inventory, local_machines, local_ssh_key):
    run_id = "pin%d" % os.getpid()
    (machine,) = local_machines("local-a", names=(run_id + "-k1",), tags={"slipway:image": "debian-12"})
    options = dict(catalog=[shipped_catalog], clouds=["local-a"], cache=True,
                   cache_plugin="ansible.builtin.jsonfile", cache_connection=inventory.path("cache"),
                   cache_timeout=600, known_hosts_file="pins/known_hosts")      # relative to the inventory file
    source = inventory.write("pinned.slipway.yml", **options)
    pinned = inventory.path("pins/known_hosts")

    host = machine.name + ".local-a"
    hv = hostvars(inventory.list(source)[0])
    assert hv[host]["ansible_ssh_common_args"] == \
        "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % pinned
    assert pinned_lines(pinned, machine.private_ip) == sorted(machine.host_keys)

    def ping(*extra, env=None):
        return inventory.run("ansible", "-i", source, host, "-m", "ansible.builtin.ping", "-o",
                             "--private-key", local_ssh_key[0], *extra, check=False,
                             env=dict(NO_SSH_MASTER, ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", **(env or {})))

    proc = ping()
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr

    # another key pinned for the machine's address (the cached run reuses the file): ssh refuses
    other = inventory.path("other_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    with open(other + ".pub") as handle:
        wrong = " ".join(handle.read().split()[:2])
    with open(pinned) as handle:
        kept = [line for line in handle.read().splitlines() if line.split()[0] != machine.private_ip]
    with open(pinned, "w") as handle:
        handle.write("\n".join(kept + ["%s %s" % (machine.private_ip, wrong)]) + "\n")
    # also with host key checking off in the environment, as AWX and ansible-runner set it: the plugin's
    # host variable ansible_ssh_host_key_checking keeps ssh from getting "-o StrictHostKeyChecking=no" first
    for env in (None, {"ANSIBLE_HOST_KEY_CHECKING": "False"}):
        proc = ping(env=env)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "UNREACHABLE" in output, (env, output)
        assert re.search(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED", output), output

    # a real listing writes the machine's own keys again
    proc = ping("--flush-cache")
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr
    assert pinned_lines(pinned, machine.private_ip) == sorted(machine.host_keys)

    # a cached run whose file is gone writes it from the cached hosts
    os.unlink(pinned)
    inventory.list(source)
    assert pinned_lines(pinned, machine.private_ip) == sorted(machine.host_keys)

    # false: nothing pinned, no SSH arguments; the user's compose wins over the pinned file
    off = inventory.write("off.slipway.yml", **dict(options, known_hosts_file=False))
    assert not {"ansible_ssh_common_args", "ansible_ssh_host_key_checking"} & set(hostvars(inventory.list(off)[0])[host])
    own = inventory.write("own.slipway.yml", **dict(options, compose={"ansible_ssh_common_args": "'-o Foo=bar'"}))
    assert hostvars(inventory.list(own)[0])[host]["ansible_ssh_common_args"] == "-o Foo=bar"


# -- with the loopback OpenStack -----------------------------------------------------------

@pytest.mark.openstack
def test_openstack_and_local_machines_at_once(openstack_cloud, openstack_env, shipped_catalog, inventory,
                                              local_machines, tmp_path):
    """One source lists Nova's servers (their metadata carries the slipway tags) beside real local machines."""
    import dataclasses

    from support.openstack_catalog import CLOUD, IMAGE, write_layer

    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

    run_id = "osinv%d" % os.getpid()
    layer = write_layer(str(tmp_path), openstack_cloud.seeded)
    catalog = load_catalog([shipped_catalog, layer], cache=False)
    provider = get_provider(catalog.cloud(CLOUD), openstack_env)
    placement = dataclasses.replace(catalog.resolve(IMAGE, CLOUD), security_groups=())
    made = provider.create_machines(placement, [run_id + "-o1", run_id + "-o2"], None, {"slipway:deployment": run_id})
    try:
        provider.wait_machines(made, "running", 300)
        (on_a,) = local_machines("local-a", names=(run_id + "-a1",),
                                 tags={"slipway:deployment": run_id, "slipway:image": "debian-12"})
        inventory.env.update(openstack_env)
        source = inventory.write("mixed.slipway.yml", catalog=[shipped_catalog, layer], clouds=[CLOUD, "local-a"])
        data, stderr = inventory.list(source)
        hv = hostvars(data)
        openstack_hosts = ["%s.%s" % (m.name, CLOUD) for m in made]
        local_host = on_a.name + ".local-a"
        assert set(openstack_hosts + [local_host]) <= set(hv), (sorted(hv), stderr)
        assert group_hosts(data, "deployment_" + run_id) == sorted(openstack_hosts + [local_host])
        assert group_hosts(data, "cloud_os_lb") == openstack_hosts
        for machine, host in zip(made, openstack_hosts):
            assert hv[host]["ansible_host"] == machine.private_ip
            assert hv[host]["ansible_user"] == "debian"
            assert (hv[host]["slipway_state"], hv[host]["slipway_flavor"], hv[host]["slipway_cpu"]) == (
                "running", "Basic", 1)
            assert hv[host]["slipway_image"] == IMAGE and "slipway_host_keys" not in hv[host]
        assert hv[local_host]["ansible_user"] == "root" and hv[local_host]["slipway_host_keys"]
    finally:
        provider.destroy_machines(made)
        provider.close()
