# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partial failure across clouds, bad input, and secrets, through real ansible-playbook runs on moto."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from module_helpers import FAKE_SECRET, PUBLIC_KEY, ec2_client, instance_task, live_instances


def test_one_cloud_failing_keeps_the_others_and_reports_each(ansible_moto, moto):
    play = ansible_moto.playbook([instance_task(image="trusty", clouds=["moto-a", "moto-down", "moto-b"], count=2,
                                                name_pattern="app-%d", deployment="p1", wait="running")])
    result = play.result()
    assert result["failed"] is True, play
    clouds = result["clouds"]
    assert clouds["moto-a"]["status"] == "ok" and clouds["moto-b"]["status"] == "ok"
    assert clouds["moto-down"]["status"] == "failed"
    assert "moto-down" in result["msg"] and "1 of 3 clouds failed" in result["msg"]
    assert "127.0.0.1:9" in clouds["moto-down"]["error"]["msg"]          # the endpoint is named
    assert result["failed_clouds"] == ["moto-down"]
    # the machines made on the other clouds are reported and kept
    assert sorted((i["cloud"], i["name"]) for i in result["instances"]) == [
        ("moto-a", "app-1"), ("moto-a", "app-2"), ("moto-b", "app-1"), ("moto-b", "app-2")]
    assert live_instances(moto, "moto-a") == {"app-1": ["running"], "app-2": ["running"]}
    assert live_instances(moto, "moto-b") == {"app-1": ["running"], "app-2": ["running"]}
    # and a re-run on the healthy clouds finds them: nothing to do
    again = ansible_moto.playbook([instance_task(image="trusty", clouds=["moto-a", "moto-b"], count=2,
                                                 name_pattern="app-%d", deployment="p1", wait="running")])
    assert again.ok and again.result()["changed"] is False, again


BAD_INPUTS = [
    # (options, words the one error must contain)
    ({"image": "nosuch", "cloud": "moto-a", "name": "x"}, ["unknown image", "nosuch", "trusty"]),
    ({"image": "trusty", "cloud": "nowhere", "name": "x"}, ["unknown cloud", "nowhere", "moto-a"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "size": {"cpu": 64, "ram_gb": 512}},
     ["64", "moto-a", "m6i.xlarge"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "size": {"flavor": "x9.huge"}}, ["x9.huge", "t3.micro"]),
    ({"image": "trusty", "cloud": "moto-nocreds", "name": "x"}, ["SLIPWAY_TEST_UNSET_", "moto-nocreds"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "security_groups": ["nowhere"]},
     ["nowhere", "neither defined in the catalog nor present on cloud moto-a"]),
    ({"image": "trusty", "cloud": "moto-down", "name": "x"}, ["moto-down", "127.0.0.1:9"]),
    ({"image": "trusty", "cloud": "moto-a", "count": 2, "name_pattern": "web"}, ["name_pattern", "%d"]),
    ({"image": "trusty", "cloud": "moto-a", "count": 2, "exact": True}, ["exact: true needs deployment"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "bad name"}, ["'bad name'", "not valid"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "tags": {"slipway:managed": "no"}}, ["slipway:managed"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"},
     ["private key"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "ssh_public_key_file": "/nonexistent/key.pub"},
     ["/nonexistent/key.pub"]),
    ({"image": "trusty", "cloud": "moto-a"}, ["needs name, names or count"]),
    ({"image": "trusty", "cloud": "moto-a", "name": "x", "state": "gone"}, ["state", "present, absent"]),
]


@pytest.mark.parametrize("options, words", BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_is_one_clear_error_and_makes_nothing(ansible_moto, moto, options, words):
    options = dict(options, wait="running")
    play = ansible_moto.playbook([instance_task(**options)])
    result = play.result()
    assert result.get("failed") is True, play
    for word in words:
        assert word in result["msg"], result["msg"]
    assert FAKE_SECRET not in play.stdout + play.stderr
    assert live_instances(moto, "moto-a") == {}


def test_group_that_only_the_cloud_has_is_used(ansible_moto, moto):
    client = ec2_client(moto)
    vpc = client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    client.create_security_group(GroupName="handmade", Description="made outside slipway", VpcId=vpc)
    play = ansible_moto.playbook([instance_task(image="trusty", cloud="moto-a", name="h1", wait="running",
                                                security_groups=["handmade"], deployment="h")])
    assert play.ok, play
    reservations = client.describe_instances(Filters=[{"Name": "tag:slipway:name", "Values": ["h1"]}])
    groups = [g["GroupName"] for g in reservations["Reservations"][0]["Instances"][0]["SecurityGroups"]]
    assert groups == ["handmade"]


@pytest.mark.parametrize("in_process", ["1", "0"], ids=["in-process", "module"])
def test_secrets_never_appear_even_with_vvv(ansible_moto, moto, in_process):
    """A recognisable fake secret is in the environment; no output of any run may contain it.

    Both ways a task runs: the engine inside the action plugin, and the AnsiballZ module.
    """
    tasks = [
        instance_task(task_name="create", image="trusty", clouds=["moto-a", "moto-down"], name="s1",
                      deployment="sec", wait="running", ssh_public_key=PUBLIC_KEY),
        instance_task(task_name="unknown image", image="nosuch", cloud="moto-a", name="s2"),
        instance_task(task_name="nocreds", image="trusty", cloud="moto-nocreds", name="s3"),
        {"name": "info", "slipway.cloud.instance_info": {"clouds": ["moto-a", "moto-down"]}, "ignore_errors": True},
        {"name": "group", "slipway.cloud.security_group": {
            "name": "sec", "clouds": ["moto-a", "moto-down"], "rules": [{"proto": "tcp", "ports": 22,
                                                                         "source": "0.0.0.0/0"}]},
         "ignore_errors": True},
        instance_task(task_name="destroy", clouds=["moto-a"], deployment="sec", state="absent"),
    ]
    env = {"SLIPWAY_IN_PROCESS": in_process}
    verbose = ansible_moto.playbook(tasks, verbosity=3, json_output=False, diff=True, env=env)
    structured = ansible_moto.playbook(tasks, verbosity=3, json_output=True, diff=True, env=env)
    checked = ansible_moto.playbook(tasks, verbosity=3, json_output=False, check=True, env=env)
    # the runs did reach the clouds and failed where expected, so the outputs are worth searching
    assert "s1" in verbose.stdout and "moto-down" in verbose.stdout and "-vvv" not in verbose.stdout
    assert structured.named("create")["clouds"]["moto-a"]["status"] == "ok"
    assert structured.named("create")["clouds"]["moto-down"]["status"] == "failed"
    assert "SLIPWAY_TEST_UNSET_" in structured.named("nocreds")["msg"]
    assert "task path:" in verbose.stdout and '"invocation"' in verbose.stdout      # -vvv really was on
    assert ("<localhost> EXEC" in verbose.stdout) == (in_process == "0")           # and the path asked for ran
    for play in (verbose, structured, checked):
        assert FAKE_SECRET not in play.stdout
        assert FAKE_SECRET not in play.stderr
