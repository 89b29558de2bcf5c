# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instance, instance_info and security_group on the local clouds: real machines, real SSH.

Skipped (with the reason) on a host that cannot run local machines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import subprocess
import time

import pytest

from module_helpers import LOCAL_A, LOCAL_B, group_rules, instance_task, local_provider

LOCAL = [LOCAL_A, LOCAL_B]
IMAGE = "debian-12-it"


def ssh_pinned(instance, key_path, known_hosts_dir, command):
    """ssh with host-key checking ON, trusting only the host keys the module returned."""
    address = instance["public_ip"] or instance["private_ip"]
    known_hosts = os.path.join(known_hosts_dir, "known_hosts-%s" % instance["name"])
    with open(known_hosts, "w") as handle:
        for key in instance["host_keys"]:
            handle.write("%s %s\n" % (address, key))
    return subprocess.run(
        ["ssh", "-i", key_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", "UserKnownHostsFile=" + known_hosts, "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
         "%s@%s" % (instance["login_user"], address), command],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.long
def test_local_lifecycle_on_two_clouds(ansible_local, local_pair, local_ssh_key, tmp_path):
    key_path = local_ssh_key[0]
    run = ansible_local.playbook

    def task(**kwargs):
        args = dict(image=IMAGE, clouds=LOCAL, name="m1", deployment="loc1",
                    ssh_public_key_file=key_path + ".pub", timeout=300)
        args.update(kwargs)
        return instance_task(**args)

    check = run([task()], check=True)
    assert check.ok and check.result()["changed"] is True, check
    assert run([{"name": "info", "slipway.cloud.instance_info": {"clouds": LOCAL, "deployment": "loc1"}}]
               ).result()["instances"] == []

    made = run([task()], diff=True)
    result = made.result()
    assert made.ok and result["changed"] is True, made
    assert [i["cloud"] for i in result["instances"]] == LOCAL
    for instance in result["instances"]:
        assert ipaddress.ip_address(instance["private_ip"]) in ipaddress.ip_network(local_pair.subnets[instance["cloud"]])
        assert instance["ssh_url"] == "ssh://root@%s" % instance["private_ip"]
        assert instance["state"] == "running" and instance["login_user"] == "root"
        assert (instance["cpu"], instance["ram_gb"]) == (1, 1)
        assert instance["flavor"] == {LOCAL_A: "Tiny", LOCAL_B: "Basic"}[instance["cloud"]]
        assert instance["host_keys"], "wait: ssh returns the host keys"
        timings = instance["timings"]
        assert timings["requested_at"] <= timings["running_at"] <= timings["ssh_ready_at"]
        assert timings["deploy_seconds"] > 0
        # the returned host keys are the machine's: ssh with strict checking against only them works
        answer = ssh_pinned(instance, key_path, str(tmp_path), "nproc; grep MemTotal /proc/meminfo")
        assert answer.returncode == 0, answer.stderr
        cpus, mem = answer.stdout.split("\n")[:2]
        assert cpus.strip() == "1"
        assert 0.8 * 1024 * 1024 <= int(mem.split()[1]) <= 1024 * 1024      # kB, the 1 GB limit
    assert result["clouds"][LOCAL_A]["security_groups"]["slipway_managed"]["after"] == [
        {"proto": "tcp", "ports": 22, "source": "0.0.0.0/0"}]

    again = run([task()])
    assert again.ok and again.result()["changed"] is False, again
    assert [i["id"] for i in again.result()["instances"]] == [i["id"] for i in result["instances"]]

    stop = run([task(clouds=[LOCAL_A], state="stopped")], diff=True)
    assert stop.ok and stop.result()["changed"] is True, stop
    assert stop.result()["instances"][0]["state"] == "stopped"
    assert stop.result()["diff"]["after"][LOCAL_A + "/m1"]["state"] == "stopped"
    assert ssh_pinned(result["instances"][0], key_path, str(tmp_path), "true").returncode != 0
    assert run([task(clouds=[LOCAL_A], state="stopped")]).result()["changed"] is False

    start = run([task(clouds=[LOCAL_A], state="running")])
    assert start.ok and start.result()["changed"] is True, start
    restarted = start.result()["instances"][0]
    assert restarted["state"] == "running" and restarted["timings"]["ssh_ready_at"]
    assert ssh_pinned(restarted, key_path, str(tmp_path), "true").returncode == 0
    assert run([task()]).result()["changed"] is False

    info = run([{"name": "info", "slipway.cloud.instance_info": {"clouds": LOCAL, "deployment": "loc1"}}])
    assert [(i["cloud"], i["name"], i["state"]) for i in info.result()["instances"]] == [
        (LOCAL_A, "m1", "running"), (LOCAL_B, "m1", "running")]

    gone = run([instance_task(clouds=LOCAL, deployment="loc1", state="absent")], diff=True)
    assert gone.ok and gone.result()["changed"] is True, gone
    assert sorted(gone.result()["diff"]["before"]) == [LOCAL_A + "/m1", LOCAL_B + "/m1"]
    assert run([instance_task(clouds=LOCAL, deployment="loc1", state="absent")]).result()["changed"] is False
    assert run([{"name": "info", "slipway.cloud.instance_info": {"clouds": LOCAL, "deployment": "loc1"}}]
               ).result()["instances"] == []


@pytest.mark.long
def test_exact_fleet_on_a_local_cloud(ansible_local, local_ssh_key):
    key_path = local_ssh_key[0]

    def task(count, **kwargs):
        return instance_task(image=IMAGE, cloud=LOCAL_B, count=count, name_pattern="f%d", deployment="loc2",
                             ssh_public_key_file=key_path + ".pub", exact=True, wait="running", **kwargs)

    grown = ansible_local.playbook([task(3)])
    assert grown.ok and [i["name"] for i in grown.result()["instances"]] == ["f1", "f2", "f3"], grown
    check = ansible_local.playbook([task(1)], check=True)
    assert check.result()["clouds"][LOCAL_B]["planned"]["remove"] == ["f2", "f3"]
    shrunk = ansible_local.playbook([task(1)])
    assert shrunk.ok and shrunk.result()["clouds"][LOCAL_B]["done"]["remove"] == ["f2", "f3"], shrunk
    info = ansible_local.playbook([{"name": "info", "slipway.cloud.instance_info": {
        "cloud": LOCAL_B, "deployment": "loc2"}}])
    assert [i["name"] for i in info.result()["instances"]] == ["f1"]
    assert ansible_local.playbook([task(1)]).result()["changed"] is False
    assert ansible_local.playbook([instance_task(cloud=LOCAL_B, deployment="loc2", state="absent")]).ok


@pytest.mark.long
def test_group_converges_identically_on_local_and_moto(local_pair, moto, ansible_moto):
    """One task, the same group on a local cloud (nftables) and on moto (EC2): same rules, then unchanged."""
    ansible_moto.catalog_layers.append(local_pair.layer(ansible_moto.workdir))
    rules = [{"proto": "tcp", "ports": "8080", "source": "198.18.1.5/24"},
             {"proto": "icmp", "icmp_type": 8, "source": "0.0.0.0/0"}]
    options = {"name": "slipway_it_both", "clouds": [LOCAL_A, "moto-a"], "rules": rules}
    task = {"name": "group", "slipway.cloud.security_group": options, "ignore_errors": True}
    try:
        made = ansible_moto.playbook([task])
        result = made.result()
        assert made.ok and result["changed"] is True, made
        assert result["clouds"][LOCAL_A]["after"] == result["clouds"]["moto-a"]["after"] == result["rules"]
        assert result["clouds"][LOCAL_A]["supported"] is True
        assert ("tcp", 8080, 8080, "198.18.1.0/24") in group_rules(moto, "moto-a", "slipway_it_both")
        local_rules = local_provider(local_pair, LOCAL_A).list_security_groups()["slipway_it_both"]
        assert sorted(r.proto for r in local_rules) == ["icmp", "tcp"]
        again = ansible_moto.playbook([task])
        assert again.ok and again.result()["changed"] is False, again
    finally:
        task["slipway.cloud.security_group"]["state"] = "absent"
        gone = ansible_moto.playbook([task])
    assert gone.ok and gone.result()["changed"] is True, gone
    assert "slipway_it_both" not in local_provider(local_pair, LOCAL_A).list_security_groups()


@pytest.mark.long
def test_bounded_wait_fails_clearly_and_reports_the_machine(ansible_local, local_ssh_key):
    key_path = local_ssh_key[0]
    # Its only group opens port 80, so SSH can never answer: the wait must end at the timeout.
    task = instance_task(image=IMAGE, cloud=LOCAL_A, name="slow", deployment="loc3", security_groups=["it_no_ssh"],
                         ssh_public_key_file=key_path + ".pub", wait="ssh", timeout=8)
    started = time.monotonic()
    play = ansible_local.playbook([task])
    result = play.result()
    assert result["failed"] is True, play
    assert "slow" in result["msg"] and LOCAL_A in result["msg"] and "8" in result["msg"], result["msg"]
    assert result["clouds"][LOCAL_A]["done"]["create"] == ["slow"]
    # the machine that was made is reported, so nothing is lost
    assert [i["name"] for i in result["instances"]] == ["slow"]
    assert time.monotonic() - started < 60
    assert result["clouds"][LOCAL_A]["security_groups"]["it_no_ssh"]["after"] == [
        {"proto": "tcp", "ports": 80, "source": "0.0.0.0/0"}]
    gone = ansible_local.playbook([instance_task(cloud=LOCAL_A, deployment="loc3", state="absent")])
    assert gone.ok and gone.result()["changed"] is True, gone
