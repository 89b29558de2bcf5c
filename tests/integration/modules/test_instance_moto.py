# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instance and instance_info on moto's EC2 API server, through real ansible-playbook runs.

What is on the cloud is checked with boto3 against the same moto server, not with slipway's own provider.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import subprocess
import sys
import time

from module_helpers import PUBLIC_KEY, ec2_client, instance_task, live_instances

BOTH = ["moto-a", "moto-b"]


def fleet(**kwargs):
    args = dict(image="trusty", clouds=BOTH, count=3, name_pattern="web-%02d", deployment="d1", wait="running",
                ssh_public_key=PUBLIC_KEY)
    args.update(kwargs)
    return instance_task(**args)


def info_task(**kwargs):
    return {"name": "info", "slipway.cloud.instance_info": kwargs}


def names(result, cloud=None):
    return sorted(i["name"] for i in result["instances"] if cloud is None or i["cloud"] == cloud)


def test_lifecycle_create_rerun_info_stop_start_exact_destroy(ansible_moto, moto):
    run = ansible_moto.playbook

    # check mode: the plan, nothing made
    check = run([fleet()], check=True, diff=True)
    result = check.result()
    assert check.ok, check
    assert result["changed"] is True
    assert [i["id"] for i in result["instances"]] == [None] * 6
    assert sorted(result["diff"]["after"]) == ["moto-a/web-01", "moto-a/web-02", "moto-a/web-03",
                                               "moto-b/web-01", "moto-b/web-02", "moto-b/web-03"]
    assert live_instances(moto, "moto-a") == {} and live_instances(moto, "moto-b") == {}

    # create
    created = run([fleet()], diff=True)
    result = created.result()
    assert created.ok, created
    assert result["changed"] is True
    assert [(i["cloud"], i["name"]) for i in result["instances"]] == [
        (c, "web-%02d" % n) for c in BOTH for n in (1, 2, 3)]
    for instance in result["instances"]:
        assert instance["state"] == "running"
        assert instance["id"].startswith("i-")
        assert instance["image"] == "trusty" and instance["image_id"] == "ami-1e749f67"
        assert (instance["flavor"], instance["cpu"], instance["ram_gb"]) == ("t3.micro", 2, 1)
        assert instance["login_user"] == "ubuntu" and instance["deployment"] == "d1"
        assert instance["ssh_url"] == "ssh://ubuntu@%s" % instance["public_ip"]
        assert instance["tags"]["slipway:managed"] == "true" and instance["tags"]["slipway:image"] == "trusty"
        timings = instance["timings"]
        assert timings["requested_at"] <= timings["running_at"]
        assert timings["deploy_seconds"] == round(timings["running_at"] - timings["requested_at"], 3)
    assert result["diff"]["before"] == {} and len(result["diff"]["after"]) == 6
    assert result["clouds"]["moto-a"]["done"]["create"] == ["web-01", "web-02", "web-03"]
    # the image's group was ensured before the machines were made
    assert "slipway_managed" in result["clouds"]["moto-a"]["security_groups"]
    for cloud in BOTH:
        assert live_instances(moto, cloud) == {"web-01": ["running"], "web-02": ["running"], "web-03": ["running"]}

    # the same task again: unchanged, same machines
    again = run([fleet()], diff=True)
    assert again.ok, again
    assert again.result()["changed"] is False
    assert again.result()["diff"] == {"before": {}, "after": {}}
    assert [i["id"] for i in again.result()["instances"]] == [i["id"] for i in result["instances"]]

    # instance_info: filters, same fields, empty list when none
    found = run([info_task(clouds=BOTH, deployment="d1"), info_task(clouds=BOTH, name=["web-02"]),
                 info_task(clouds=BOTH, deployment="nope"), info_task(cloud="moto-a", image="trusty")])
    assert found.ok, found
    every = found.result(0)["instances"]
    assert len(every) == 6 and found.result(0)["changed"] is False
    assert {k: v for k, v in every[0].items() if k != "timings"} == {
        k: v for k, v in result["instances"][0].items() if k != "timings"}
    assert [(i["cloud"], i["name"]) for i in found.result(1)["instances"]] == [("moto-a", "web-02"),
                                                                               ("moto-b", "web-02")]
    assert found.result(2)["instances"] == []
    assert names(found.result(3)) == ["web-01", "web-02", "web-03"]

    # stop one machine per cloud; again unchanged
    stop = run([fleet(name="web-01", count=None, name_pattern=None, state="stopped")], diff=True)
    assert stop.ok, stop
    assert stop.result()["changed"] is True
    assert {i["state"] for i in stop.result()["instances"]} == {"stopped"}
    assert stop.result()["diff"]["before"]["moto-a/web-01"]["state"] == "running"
    assert stop.result()["diff"]["after"]["moto-a/web-01"]["state"] == "stopped"
    assert live_instances(moto, "moto-b")["web-01"] == ["stopped"]
    stop_again = run([fleet(name="web-01", count=None, name_pattern=None, state="stopped")])
    assert stop_again.result()["changed"] is False, stop_again
    # present neither starts nor stops; running starts it again
    assert run([fleet()]).result()["changed"] is False
    start = run([fleet(state="running")])
    assert start.ok and start.result()["changed"] is True, start
    assert start.result()["clouds"]["moto-a"]["done"]["start"] == ["web-01"]
    assert live_instances(moto, "moto-a")["web-01"] == ["running"]

    # exact: shrink to 2 per cloud; check mode reports the removal and removes nothing
    shrink_check = run([fleet(count=2, exact=True)], check=True, diff=True)
    assert shrink_check.ok, shrink_check
    assert shrink_check.result()["changed"] is True
    assert shrink_check.result()["clouds"]["moto-b"]["planned"]["remove"] == ["web-03"]
    assert sorted(shrink_check.result()["diff"]["before"]) == ["moto-a/web-03", "moto-b/web-03"]
    assert [r["name"] for r in shrink_check.result()["removed"]] == ["web-03", "web-03"]
    assert len(live_instances(moto, "moto-a")) == 3
    shrink = run([fleet(count=2, exact=True)])
    assert shrink.ok and shrink.result()["changed"] is True, shrink
    assert names(shrink.result()) == ["web-01", "web-01", "web-02", "web-02"]
    for cloud in BOTH:
        assert sorted(live_instances(moto, cloud)) == ["web-01", "web-02"]
    assert run([fleet(count=2, exact=True)]).result()["changed"] is False
    # without exact, a smaller count never removes anything
    assert run([fleet(count=1)]).result()["changed"] is False
    assert len(live_instances(moto, "moto-a")) == 2

    # destroy the deployment; again unchanged
    gone = run([instance_task(clouds=BOTH, deployment="d1", state="absent")], diff=True)
    assert gone.ok and gone.result()["changed"] is True, gone
    assert gone.result()["instances"] == []
    assert sorted(gone.result()["diff"]["before"]) == [
        "moto-a/web-01", "moto-a/web-02", "moto-b/web-01", "moto-b/web-02"]
    assert live_instances(moto, "moto-a") == {} and live_instances(moto, "moto-b") == {}
    assert run([instance_task(clouds=BOTH, deployment="d1", state="absent")]).result()["changed"] is False
    assert run([info_task(clouds=BOTH)]).result()["instances"] == []


def test_names_are_per_deployment_and_absent_by_name(ansible_moto, moto):
    run = ansible_moto.playbook
    made = run([fleet(clouds=["moto-a"], names=["a", "b"], count=None, name_pattern=None),
                fleet(clouds=["moto-a"], names=["c"], count=None, name_pattern=None, deployment="d2")])
    assert made.ok, made
    # a name another deployment uses is refused, not duplicated
    taken = run([fleet(clouds=["moto-a"], name="c", count=None, name_pattern=None)])
    assert taken.result()["failed"] is True
    assert "already belongs to deployment 'd2'" in taken.result()["msg"]
    assert live_instances(moto, "moto-a") == {"a": ["running"], "b": ["running"], "c": ["running"]}
    # exact within d1 never touches d2
    exact = run([fleet(clouds=["moto-a"], name="a", count=None, name_pattern=None, exact=True)])
    assert exact.ok and exact.result()["clouds"]["moto-a"]["done"]["remove"] == ["b"], exact
    assert sorted(live_instances(moto, "moto-a")) == ["a", "c"]
    gone = run([instance_task(cloud="moto-a", name="c", state="absent")])
    assert gone.ok and gone.result()["changed"] is True, gone
    assert sorted(live_instances(moto, "moto-a")) == ["a"]


def test_image_lookup_and_size(ansible_moto, moto):
    made = ansible_moto.playbook([
        instance_task(image="trusty-lookup", cloud="moto-a", name="looked-up", wait="running", deployment="d3"),
        instance_task(image="trusty", cloud="moto-a", name="big", wait="running", deployment="d3",
                      size={"cpu": 3, "ram_gb": 8}),
    ])
    assert made.ok, made
    assert made.result(0)["instances"][0]["image_id"] == "ami-1e749f67"
    big = made.result(1)["instances"][0]
    assert (big["flavor"], big["cpu"], big["ram_gb"]) == ("m6i.xlarge", 4, 16)
    types = {r["Instances"][0]["InstanceType"] for r in ec2_client(moto)
             .describe_instances()["Reservations"]}
    assert "m6i.xlarge" in types


def test_fleet_converges_exactly_under_injected_faults(ansible_moto, moto):
    """30% of API calls fail (before or after moto acted): 20 machines, no duplicate, no orphan."""
    moto.set_faults(0.3, when="both", seed=7)
    first = ansible_moto.playbook([fleet(clouds=["moto-a"], count=20, exact=True)])
    moto.set_faults(0.3, when="both", seed=8)
    second = ansible_moto.playbook([fleet(clouds=["moto-a"], count=20, exact=True)])
    injected = moto.faults()
    moto.set_faults(0.0)
    assert first.ok, first
    assert second.ok, second
    assert injected["faults"]["before"] + injected["faults"]["after"] > 0
    live = live_instances(moto, "moto-a")
    assert sorted(live) == ["web-%02d" % n for n in range(1, 21)]
    assert all(states == ["running"] for states in live.values()), live
    assert second.result()["changed"] is False


def test_killed_run_leaves_nothing_absent_cannot_remove(ansible_moto, moto):
    """A playbook killed while it creates: state absent with the same deployment finds every machine."""
    import yaml

    from support.collection import ansible_command, ansible_env

    # Every CreateTags (naming the machines, after RunInstances made them) is throttled: the run
    # keeps backing off, bounded by its deadline, so it is still running when it is killed.
    moto.set_faults(1.0, when="before", kinds=["throttle"], only=["CreateTags"])
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable},
             "tasks": [fleet(clouds=["moto-a"], count=12, deployment="killed")]}]
    path = os.path.join(ansible_moto.workdir, "killed.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle)
    env = ansible_env(SLIPWAY_CATALOG=os.pathsep.join(ansible_moto.catalog_layers), **ansible_moto.environ)
    process = subprocess.Popen(ansible_command("ansible-playbook", "-i", "localhost,", "-c", "local", path),
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if live_instances(moto, "moto-a", deployment="killed"):
                    break
            except Exception:        # this look is subject to the injected faults too
                pass
            time.sleep(0.02)
        still_running = process.poll() is None
        if still_running:
            os.killpg(process.pid, signal.SIGKILL)   # the session this test started, nothing else
    finally:
        process.wait(30)
    moto.set_faults(0.0)
    assert still_running, "the run ended before it could be killed half-way"
    left = live_instances(moto, "moto-a", deployment="killed")
    assert left, "the killed run made no machine"

    found = ansible_moto.playbook([info_task(cloud="moto-a", deployment="killed")])
    assert sum(len(v) for v in left.values()) == len(found.result()["instances"]), found
    gone = ansible_moto.playbook([instance_task(cloud="moto-a", deployment="killed", state="absent")])
    assert gone.ok and gone.result()["changed"] is True, gone
    assert live_instances(moto, "moto-a", deployment="killed") == {}


def test_module_path_and_in_process_path_agree(ansible_moto, moto):
    """SLIPWAY_IN_PROCESS=0 runs the AnsiballZ module; the default runs the engine in the action plugin.

    Both create, re-run unchanged, validate options and destroy the same way.
    """
    results = {}
    for mode in ("0", "1"):
        env = {"SLIPWAY_IN_PROCESS": mode}
        deployment = "path" + mode
        task = fleet(clouds=["moto-a"], count=2, deployment=deployment, name_pattern=deployment + "-%d")
        made = ansible_moto.playbook([task], verbosity=3, json_output=False, env=env)
        assert made.rc == 0 and "changed=1" in made.stdout, (mode, made.stdout[-3000:])
        shipped = "AnsiballZ_instance.py" in made.stdout
        assert shipped == (mode == "0"), made          # which path really ran
        again = ansible_moto.playbook([task], env=env)
        bad = ansible_moto.playbook([instance_task(image="trusty", cloud="moto-a", clouds=["moto-b"], name="x"),
                                     instance_task(image="trusty", cloud="moto-a", name="x", colour="blue")], env=env)
        gone = ansible_moto.playbook([instance_task(cloud="moto-a", deployment=deployment, state="absent")], env=env)
        results[mode] = (again, bad, gone)
        assert again.ok and again.result()["changed"] is False, again
        assert [i["name"] for i in again.result()["instances"]] == [deployment + "-1", deployment + "-2"]
        assert gone.ok and gone.result()["changed"] is True, gone
        assert live_instances(moto, "moto-a", deployment=deployment) == {}
    # the same validation messages either way
    for index in (0, 1):
        assert results["0"][1].result(index)["msg"] == results["1"][1].result(index)["msg"]
    assert "mutually exclusive: cloud|clouds" in results["1"][1].result(0)["msg"]
    assert "colour" in results["1"][1].result(1)["msg"]
    assert sorted(results["0"][0].result()) == sorted(results["1"][0].result())
