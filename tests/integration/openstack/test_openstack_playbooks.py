# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openstack family through real ansible-playbook runs against the loopback OpenStack (Keystone, Nova,
Neutron, Glance, Placement on 127.0.0.1).

What is on the cloud is read independently of slipway: openstacksdk as the harness's own user, on the
internal endpoints (around the fault proxy), and the harness's leftovers helper.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from module_helpers import PUBLIC_KEY, Ansible, instance_task, shipped_catalog
from support.openstack_catalog import CLOUD, FIP_CLOUD, IMAGE, ULTIMUM, YAML_CLOUD, write_layer
from support.openstack_loopback import seed

from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import parse_public_key

pytestmark = [pytest.mark.openstack,
              pytest.mark.filterwarnings("ignore:Support for InfluxDB requires the influxdb library"),
              pytest.mark.filterwarnings("ignore:The 'service_type' parameter is unnecesary"),
              pytest.mark.filterwarnings("ignore:The _compute_attributes method is deprecated")]

#: the shipped generic cloud: any OpenStack, sized by the flavors it lists
SHIPPED = "openstack"


@pytest.fixture
def ansible_os(openstack_cloud, openstack_env, tmp_path):
    """Ansible with the shipped catalog, the loopback layer and the member user's OS_* variables."""
    layer = write_layer(str(tmp_path), openstack_cloud.seeded)
    return Ansible(str(tmp_path), [shipped_catalog(), layer], openstack_env)


@pytest.fixture
def conn(openstack_cloud):
    """The cloud as the harness sees it (internal endpoints: no injected faults)."""
    connection = openstack_cloud.connect("password", interface="internal")
    yield connection
    connection.close()


def servers(conn, deployment):
    """{name: [server, ...]} of the live servers of ``deployment``."""
    found = {}
    for server in conn.compute.servers():
        metadata = server.metadata or {}
        if metadata.get("slipway:deployment") == deployment and server.status != "DELETED":
            found.setdefault(metadata.get("slipway:name"), []).append(server)
    return found


def group_task(name, cloud=SHIPPED, **args):
    args = dict(name=name, cloud=cloud, **args)
    return {"name": "group", "slipway.cloud.security_group": args, "ignore_errors": True}


def remove_group(ansible, name, cloud=SHIPPED):
    ansible.playbook([group_task(name, cloud, state="absent")])


# -- a fleet on the shipped generic cloud ---------------------------------------------------------

def test_fleet_from_debian_12_sized_by_cpu_ram_rerun_check_diff_stop_start_exact_absent(
        ansible_os, conn, openstack_cloud, openstack_leftovers):
    seeded = openstack_cloud.seeded
    run = ansible_os.playbook

    def fleet(**kwargs):
        args = dict(image="debian-12", cloud=SHIPPED, names=["os-1", "os-2", "os-3"], deployment="osf",
                    size={"cpu": 2, "ram_gb": 3}, wait="running", ssh_public_key=PUBLIC_KEY)
        args.update(kwargs)
        return instance_task(**args)

    try:
        # check mode: the plan, with the flavor the cloud's own table gives (sizing: cloud), nothing made
        check = run([fleet()], check=True, diff=True)
        assert check.ok, check
        planned = check.result()
        assert planned["changed"] is True and [i["id"] for i in planned["instances"]] == [None] * 3
        assert {(i["flavor"], i["cpu"], i["ram_gb"]) for i in planned["instances"]} == {("Standard Plus", 4, 4)}
        assert sorted(planned["diff"]["after"]) == ["openstack/os-1", "openstack/os-2", "openstack/os-3"]
        assert servers(conn, "osf") == {}

        made = run([fleet()], diff=True)
        assert made.ok, made
        result = made.result()
        assert result["changed"] is True and result["clouds"][SHIPPED]["done"]["create"] == ["os-1", "os-2", "os-3"]
        newest_public = seeded.images[seed.OTHER_OWNER_IMAGE]      # no owner in the shipped lookup: newest public
        for instance in result["instances"]:
            assert instance["state"] == "running" and instance["login_user"] == "debian"
            assert (instance["flavor"], instance["cpu"], instance["ram_gb"]) == ("Standard Plus", 4, 4)
            assert instance["image_id"] == newest_public
            assert ipaddress.ip_address(instance["private_ip"]) in ipaddress.ip_network(seed.SUBNET[1])
            assert instance["ssh_url"] == "ssh://debian@" + instance["private_ip"]
        assert sorted(result["diff"]["after"]) == ["openstack/os-1", "openstack/os-2", "openstack/os-3"]
        # what Nova says: one server per name, the flavor, the image, the group and the key pair
        live = servers(conn, "osf")
        assert sorted(live) == ["os-1", "os-2", "os-3"] and all(len(v) == 1 for v in live.values())
        for (server,) in live.values():
            assert server.status == "ACTIVE" and server.flavor["original_name"] == "Standard Plus"
            assert server.image["id"] == newest_public
            assert [g["name"] for g in server.security_groups] == ["slipway_managed"]
        # the one key pair, imported once under the name every family gives that key
        pair_name = parse_public_key(PUBLIC_KEY).pair_name
        assert {server.key_name for (server,) in live.values()} == {pair_name}
        assert [k.name for k in conn.compute.keypairs()] == [pair_name]

        again = run([fleet()], diff=True)
        assert again.ok and again.result()["changed"] is False, again
        assert again.result()["diff"] == {"before": {}, "after": {}}
        assert [i["id"] for i in again.result()["instances"]] == [i["id"] for i in result["instances"]]

        stop = run([fleet(names=["os-1"], state="stopped")], diff=True)
        assert stop.ok and stop.result()["changed"] is True, stop
        assert stop.result()["instances"][0]["state"] == "stopped"
        assert stop.result()["diff"]["before"]["openstack/os-1"]["state"] == "running"
        assert stop.result()["diff"]["after"]["openstack/os-1"]["state"] == "stopped"
        assert servers(conn, "osf")["os-1"][0].status == "SHUTOFF"
        assert run([fleet(names=["os-1"], state="stopped")]).result()["changed"] is False
        start = run([fleet(state="running")])
        assert start.ok and start.result()["clouds"][SHIPPED]["done"]["start"] == ["os-1"], start
        assert servers(conn, "osf")["os-1"][0].status == "ACTIVE"

        shrink = run([fleet(names=["os-1", "os-2"], exact=True)])
        assert shrink.ok and shrink.result()["clouds"][SHIPPED]["done"]["remove"] == ["os-3"], shrink
        assert sorted(servers(conn, "osf")) == ["os-1", "os-2"]
        assert run([fleet(names=["os-1", "os-2"], exact=True)]).result()["changed"] is False
    finally:
        gone = run([instance_task(cloud=SHIPPED, deployment="osf", state="absent")], diff=True)
        remove_group(ansible_os, "slipway_managed")
    assert gone.ok and gone.result()["changed"] is True, gone
    assert sorted(gone.result()["diff"]["before"]) == ["openstack/os-1", "openstack/os-2"]
    # absent waits until Nova has deleted them: nothing left, ports and the unused key pair included
    assert openstack_leftovers() == {}
    assert run([instance_task(cloud=SHIPPED, deployment="osf", state="absent")]).result()["changed"] is False


# -- security groups ------------------------------------------------------------------------------

def test_security_group_create_same_rules_written_otherwise_purge_ipv6_group_source(ansible_os, conn):
    rules = [{"proto": "tcp", "ports": [22, 80], "source": "0.0.0.0/0"},
             {"proto": "tcp", "ports": "8000-8100", "source": "2001:db8::/32"},
             {"proto": "icmp", "source": "::/0"},
             {"proto": "udp", "ports": "all", "source": "10.1.0.0/16"},
             {"proto": "tcp", "ports": 5432, "source": "group:os-app"}]
    # the same rules as a user might write them the second time
    respelled = [{"protocol": "TCP", "port": ["80", 22], "cidr": "0.0.0.0/0"},
                 {"proto": "6", "ports": "8000-8100", "source": "2001:0db8:0000::/32"},
                 {"proto": "icmpv6", "source": "::/0", "icmp_type": -1},
                 {"proto": "17", "ports": "1-65535", "source": "10.1.0.0/16"},
                 {"proto": "tcp", "ports": "5432", "source": "os-app"}]
    run = ansible_os.playbook
    try:
        made = run([group_task("os-app", rules=[{"proto": "tcp", "ports": 8080, "source": "10.0.0.0/8"}]),
                    group_task("os-db", rules=rules)], diff=True)
        assert made.ok, made
        assert made.result(1)["changed"] is True
        after = made.result(1)["clouds"][SHIPPED]["after"]
        assert {"proto": "udp", "ports": "1-65535", "source": "10.1.0.0/16"} in after   # Neutron has no port 0
        assert len(after) == 6

        # what Neutron holds: ethertype from the source, ipv6-icmp, the group by id, the default egress rules kept
        (group,) = conn.network.security_groups(name="os-db")
        (app,) = conn.network.security_groups(name="os-app")
        ingress = sorted((r["ethertype"], r["protocol"], r["port_range_min"], r["remote_ip_prefix"], r["remote_group_id"])
                         for r in group.security_group_rules if r["direction"] == "ingress")
        assert ingress == sorted([
            ("IPv4", "tcp", 22, "0.0.0.0/0", None), ("IPv4", "tcp", 80, "0.0.0.0/0", None),
            ("IPv6", "tcp", 8000, "2001:db8::/32", None), ("IPv6", "ipv6-icmp", None, "::/0", None),
            ("IPv4", "udp", None, "10.1.0.0/16", None), ("IPv4", "tcp", 5432, None, app.id)])
        assert sorted(r["ethertype"] for r in group.security_group_rules if r["direction"] == "egress") == [
            "IPv4", "IPv6"]

        same = run([group_task("os-db", rules=respelled)], check=True, diff=True)
        assert same.ok and same.result()["changed"] is False, same
        assert run([group_task("os-db", rules=respelled)]).result()["changed"] is False

        # purge: drop the IPv6 rules; check mode first changes nothing on the cloud
        fewer = [r for r in rules if r["source"].startswith("group:") or ":" not in r["source"]]
        preview = run([group_task("os-db", rules=fewer)], check=True)
        assert preview.ok and preview.result()["changed"] is True, preview
        assert len(conn.network.get_security_group(group.id).security_group_rules) == 8
        purged = run([group_task("os-db", rules=fewer)])
        assert purged.ok and purged.result()["changed"] is True, purged
        assert len(purged.result()["clouds"][SHIPPED]["before"]) == 6
        assert len(purged.result()["clouds"][SHIPPED]["after"]) == 4
        kept = conn.network.get_security_group(group.id).security_group_rules
        assert sorted(r["direction"] for r in kept) == ["egress", "egress"] + ["ingress"] * 4
        # without purge a missing rule stays
        assert run([group_task("os-db", rules=fewer[:1], purge_rules=False)]).result()["changed"] is False
    finally:
        gone = run([group_task("os-db", state="absent"), group_task("os-app", state="absent")])
    assert gone.ok and gone.result(0)["changed"] is True, gone
    assert list(conn.network.security_groups(name="os-db")) == []


# -- floating IPs, instance_info, the owner of an image, clouds.yaml ---------------------------------

def test_floating_ips_instance_info_and_release(ansible_os, conn, openstack_cloud, openstack_leftovers):
    seeded = openstack_cloud.seeded
    run = ansible_os.playbook
    try:
        made = run([instance_task(image=IMAGE, cloud=FIP_CLOUD, names=["fip-1", "fip-2"], deployment="osip",
                                  wait="running", ssh_public_key=PUBLIC_KEY, security_groups=[]),
                    {"name": "info", "slipway.cloud.instance_info": {"cloud": FIP_CLOUD, "deployment": "osip"}}])
        assert made.ok, made
        created = made.result(0)["instances"]
        # the publisher's newest (owner filter): not the newer-looking image of project slipway-other
        assert {i["image_id"] for i in created} == {seeded.newest_debian_id}
        listed = made.named("info")["instances"]
        assert [i["name"] for i in listed] == ["fip-1", "fip-2"]
        for instance in created + listed:
            assert ipaddress.ip_address(instance["public_ip"]) in ipaddress.ip_network(seed.EXTERNAL_SUBNET[1])
            assert ipaddress.ip_address(instance["private_ip"]) in ipaddress.ip_network(seed.SUBNET[1])
        ips = {ip.floating_ip_address: ip for ip in conn.network.ips()}
        assert sorted(ips) == sorted(i["public_ip"] for i in created)
        again = run([instance_task(image=IMAGE, cloud=FIP_CLOUD, names=["fip-1", "fip-2"], deployment="osip",
                                   wait="running", ssh_public_key=PUBLIC_KEY, security_groups=[])])
        assert again.ok and again.result()["changed"] is False, again
        assert len(list(conn.network.ips())) == 2
    finally:
        gone = run([instance_task(cloud=FIP_CLOUD, deployment="osip", state="absent")])
    assert gone.ok and gone.result()["changed"] is True, gone
    assert openstack_leftovers() == {}, "servers, ports, floating IPs and the key pair all go"


def test_a_clouds_yaml_entry_with_an_application_credential(ansible_os, conn):
    # the OS_* variables unset: only the clouds.yaml entry the catalog names (OS_CLIENT_CONFIG_FILE finds it)
    no_variables = {key: None for key in ansible_os.environ if key.startswith("OS_") and key != "OS_CLIENT_CONFIG_FILE"}
    task = instance_task(image=IMAGE, cloud=YAML_CLOUD, name="yaml-1", deployment="osyaml", wait="running",
                         security_groups=[])
    try:
        made = ansible_os.playbook([task], env=no_variables)
        assert made.ok and made.result()["changed"] is True, made
        assert sorted(servers(conn, "osyaml")) == ["yaml-1"]
        # OS_CLOUD names an entry for the shipped cloud the same way
        env = dict(no_variables, OS_CLOUD="slipway-loopback")
        listed = {"cloud": SHIPPED, "deployment": "osyaml"}
        info = ansible_os.playbook([{"name": "info", "slipway.cloud.instance_info": listed}], env=env)
        assert info.ok and [i["name"] for i in info.result()["instances"]] == ["yaml-1"], info
    finally:
        gone = ansible_os.playbook([instance_task(cloud=YAML_CLOUD, deployment="osyaml", state="absent")],
                                   env=no_variables)
    assert gone.ok and gone.result()["changed"] is True, gone


# -- failures -------------------------------------------------------------------------------------

def test_a_server_that_goes_to_error_fails_clearly_and_leaves_nothing(ansible_os, conn, openstack_leftovers):
    failed = ansible_os.playbook([instance_task(image="debian-12", cloud=SHIPPED, names=["big-1"], deployment="oserr",
                                                size={"flavor": seed.TOO_BIG_FLAVOR[0]}, wait="running",
                                                ssh_public_key=PUBLIC_KEY, security_groups=[])])
    result = failed.result()
    assert result["failed"] is True, failed
    message = result["msg"]
    assert "big-1: Nova reports ERROR: No valid host was found" in message, message
    assert "removed big-1, which this run created, so that nothing is left" in message, message
    assert result["instances"] == []
    assert servers(conn, "oserr") == {}
    assert openstack_leftovers() == {}, "the server, its port and the key pair imported for it are gone"


def test_credentials_wrong_or_missing_name_the_variables_and_never_show_a_secret(ansible_os, openstack_env):
    secret = openstack_env["OS_PASSWORD"]
    info = {"name": "info", "slipway.cloud.instance_info": {"cloud": CLOUD}}
    wrong = ansible_os.playbook([info], env={"OS_PASSWORD": "not-" + secret}, verbosity=3, json_output=False)
    assert wrong.rc != 0
    output = wrong.stdout + wrong.stderr
    assert "refused the request" in output and "OS_PASSWORD" in output and "HTTP 401" in output, output[-3000:]
    missing = ansible_os.playbook([info], env={"OS_PASSWORD": None})
    assert missing.result()["failed"] is True
    assert "password auth needs OS_PASSWORD" in missing.result()["msg"], missing.result()["msg"]
    right = ansible_os.playbook([info], verbosity=3, json_output=False)
    assert right.rc == 0, right
    for run in (wrong, missing, right):
        assert secret not in run.stdout + run.stderr


# -- size_info: the catalog's table beside the cloud's ------------------------------------------------

def test_size_info_live_shows_the_clouds_flavors_and_the_drift(ansible_os, openstack_cloud, tmp_path):
    drifted = [("Basic", 1, 1), ("Standard", 2, 2), ("Large", 4, 8), ("Huge", 64, 256)]
    drift_layer = tmp_path / "drift"
    drift_layer.mkdir()
    text = open(write_layer(str(drift_layer), openstack_cloud.seeded, flavors=drifted)).read()
    (drift_layer / "openstack-loopback.yml").write_text(text.replace("os-lb", "os-drift").replace(IMAGE, "os-drift-debian"))
    ansible_os.catalog_layers.append(str(drift_layer))
    tasks = [{"name": name, "slipway.cloud.size_info": args} for name, args in (
        ("table", {"cloud": CLOUD, "live": True}),
        ("drift", {"cloud": "os-drift", "live": True}),
        ("shipped", {"cloud": SHIPPED, "live": True, "cpu": 2, "ram_gb": 3}),
        ("shipped offline", {"cloud": SHIPPED, "cpu": 2, "ram_gb": 3}))]
    run = ansible_os.playbook(tasks)
    assert run.ok, run
    table = run.named("table")
    assert [(f["name"], f["cpu"], f["ram_gb"]) for f in table["flavors"]] == list(ULTIMUM)
    assert {f["name"] for f in table["cloud_flavors"]} == {name for name, _c, _r in ULTIMUM} | {"Oversized"}
    assert table["drift"] == []
    drift = {d["flavor"]: d for d in run.named("drift")["drift"]}
    assert sorted(drift) == ["Huge", "Large"]
    assert (drift["Huge"]["problem"], drift["Huge"]["cloud"]) == ("missing", None)
    assert (drift["Large"]["problem"], drift["Large"]["differs"]) == ("differs", ["cpu"])
    assert (drift["Large"]["catalog"]["cpu"], drift["Large"]["cloud"]["cpu"]) == (4, 8)
    shipped = run.named("shipped")
    assert (shipped["sizing"], shipped["flavors"]) == ("cloud", [])
    assert (shipped["flavor"], shipped["cpu"], shipped["ram_gb"]) == ("Standard Plus", 4, 4)
    assert run.named("shipped offline")["flavor"] is None

    # a create on a cloud whose table drifted is refused before anything is made
    refused = ansible_os.playbook([instance_task(image="os-drift-debian", cloud="os-drift", name="drift-1",
                                                 size={"flavor": "Large"}, wait="running", security_groups=[])])
    assert refused.result()["failed"] is True
    assert "flavor Large has cpu 8 on the cloud, the catalog says cpu 4" in refused.result()["msg"]


# -- faults, and a run killed half-way ---------------------------------------------------------------

@pytest.mark.long
def test_a_fleet_of_ten_converges_exactly_under_thirty_percent_faults(
        ansible_os, conn, openstack_faults, openstack_leftovers):
    task = instance_task(image=IMAGE, cloud=CLOUD, count=10, name_pattern="flt-%02d", deployment="osflt",
                         exact=True, wait="running", ssh_public_key=PUBLIC_KEY, security_groups=[])
    openstack_faults(rate=0.3, seed=3)
    try:
        first = ansible_os.playbook([task])
        live = servers(conn, "osflt")
        second = ansible_os.playbook([task])
        injected = openstack_faults.counters()["injected"]
    finally:
        openstack_faults.off()
        gone = ansible_os.playbook([instance_task(cloud=CLOUD, deployment="osflt", state="absent")])
    assert first.ok, first
    # lost answers (drop-after) of creates were retried: still one server per name
    assert sorted(live) == ["flt-%02d" % n for n in range(1, 11)] and all(len(v) == 1 for v in live.values()), live
    assert second.ok and second.result()["changed"] is False, second
    # about 30 % of some 40 calls of the public lane: 503s, and connections dropped before and after Nova acted
    assert sum(injected.values()) >= 5, injected
    assert gone.ok, gone
    assert openstack_leftovers() == {}


def test_a_run_killed_half_way_then_absent_leaves_nothing(ansible_os, conn, openstack_leftovers):
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"ansible_python_interpreter": sys.executable},
             "tasks": [instance_task(image=IMAGE, cloud=FIP_CLOUD, count=6, name_pattern="kill-%02d",
                                     deployment="oskill", wait="running", ssh_public_key=PUBLIC_KEY)]}]
    path = os.path.join(ansible_os.workdir, "killed.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle)
    from support.collection import ansible_command, ansible_env

    env = ansible_env(SLIPWAY_CATALOG=os.pathsep.join(ansible_os.catalog_layers), **ansible_os.environ)
    process = subprocess.Popen(ansible_command("ansible-playbook", "-i", "localhost,", "-c", "local", path),
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            # half-way: some servers made, and at least one floating IP given, not all of them
            if servers(conn, "oskill") and list(conn.network.ips()):
                break
            time.sleep(0.1)
        still_running = process.poll() is None
        if still_running:
            os.killpg(process.pid, signal.SIGKILL)      # the session this test started, nothing else
    finally:
        process.wait(30)
    assert still_running, "the run ended before it could be killed half-way"
    assert servers(conn, "oskill"), "the killed run made no server"
    assert openstack_leftovers(), "the killed run left nothing to clean up"

    gone = ansible_os.playbook([instance_task(cloud=FIP_CLOUD, deployment="oskill", state="absent")])
    assert gone.ok and gone.result()["changed"] is True, gone
    left = openstack_leftovers()
    left.pop("security_groups", None)         # slipway_managed, ensured before the servers: not the deployment's
    assert left == {}, "no servers, ports, floating IPs or key pairs of the deployment"
    remove_group(ansible_os, "slipway_managed", FIP_CLOUD)
