# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/tutorial.yml for real on local-a and local-b: with ansible-playbook, and as AWX runs it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import re
import uuid

import pytest

from support.collection import collection_root
from support.tutorial import MachineWatcher, assert_nothing_left, destroy_deployment, run_playbook

pytestmark = pytest.mark.long

CLOUDS = ["local-a", "local-b"]
SUBNETS = {"local-a": "198.18.1.0/24", "local-b": "198.18.2.0/24"}
# debian-12 is 1 CPU / 1 GB on both clouds; the tutorial's copy is 2 CPU / 2 GB on local-a only.
SIZES = {"local-a": ("Small", 2, 2), "local-b": ("Basic", 1, 1)}


def new_deployment():
    return "tut-" + uuid.uuid4().hex[:8]


def check_report(report, deployment):
    """The report of a passing tutorial: two machines of the right size, timed, checked, torn down."""
    machines = {machine["cloud"]: machine for machine in report["machines"]}
    assert sorted(machines) == CLOUDS, report["machines"]
    for cloud, machine in machines.items():
        assert machine["deployment"] == deployment
        assert machine["image"] == "debian-12-tutorial"
        assert (machine["flavor"], machine["cpu"], machine["ram_gb"]) == SIZES[cloud]
        assert ipaddress.ip_address(machine["address"]) in ipaddress.ip_network(SUBNETS[cloud])
        assert machine["ssh_url"] == "ssh://root@" + machine["address"]
        assert 0 < machine["deploy_seconds"] < 120
        # deployed (2), ssh (3), size x3 (4), nginx (5): every one of them passed
        assert machine["checks_total"] >= 6, machine
        assert machine["checks_passed"] == machine["checks_total"], machine
        assert machine["torn_down"] is True
    assert report["all_checks_passed"] is True
    assert sorted(report["deploy_seconds_per_cloud"]) == CLOUDS


def test_tutorial_runs_the_five_exercises_and_tears_down(extra_clouds, tmp_path):
    deployment = new_deployment()
    env = extra_clouds.env(ANSIBLE_CALLBACKS_ENABLED="slipway.cloud.deploy_report", SLIPWAY_REPORT_DIR=str(tmp_path))
    try:
        with MachineWatcher(extra_clouds, deployment) as watcher:
            result = run_playbook("tutorial.yml", env, "-e", "tutorial_deployment=" + deployment)
    finally:
        destroy_deployment(extra_clouds, deployment, CLOUDS)
    out = result.stdout
    assert result.returncode == 0, out[-5000:]

    # Every exercise printed what it checked and what it found.
    assert re.search(r"exercise 1: size of the copy on local-a: expected changed from the parent \(Tiny\), "
                     r"found Small 2 CPU / 2 GB, size from debian-12-tutorial clouds.local-a at \S+ -> ok", out)
    assert re.search(r"exercise 1: size of the copy on local-b: expected the parent.*Basic, found Basic 1 CPU / 1 GB, "
                     r"size from debian-12 at \S+catalog/images.yml:\d+ -> ok", out)
    assert re.search(r"local-a: \d+(\.\d+)? s \(request to SSH answering\); local-b: \d+(\.\d+)? s", out)
    for cloud in CLOUDS:
        assert re.search(r"%s.%s: ran `ssh root@[\d.]+` with the host key from the deployment pinned; logged in as "
                         r"root on %s \(Debian GNU/Linux 12" % (deployment, cloud, deployment), out), cloud
        assert re.search(r"%s.%s: expected %d CPU\(s\) and %d.0 GiB RAM .*found nproc=%d, /proc/cpuinfo processors=%d, "
                         r"MemTotal=\d+ kB" % ((deployment, cloud) + (SIZES[cloud][1], SIZES[cloud][2])
                                               + (SIZES[cloud][1],) * 2), out), cloud
        assert re.search(r"%s.%s: fetched http://[\d.]+/ from the controller: HTTP 200, title 'Welcome to nginx!'"
                         % (deployment, cloud), out), cloud
    assert "teardown: 0 machine(s) of %s left" % deployment in out
    assert "tutorial passed: all five exercises" in out

    # The run page: the table at the end, the JSON file and the HTML page beside it.
    table = out[out.index("SLIPWAY DEPLOYMENT REPORT"):]
    assert re.search(r"local-a\s+%s\s+debian-12-tutorial\s+Small\s+2/2 GB\s+198\.18\.1\.\d+\s+ssh://root@\S+\s+[\d.]+\s+"
                     r"(\d+)/\1" % deployment, table), table
    assert re.search(r"local-b\s+%s\s+debian-12-tutorial\s+Basic\s+1/1 GB" % deployment, table), table
    with open(str(tmp_path / "tutorial-report.json")) as handle:
        report = json.load(handle)
    check_report(report, deployment)
    html = (tmp_path / "tutorial-report.html").read_text()
    assert "<svg" in html and ">local-a</text>" in html and ">local-b</text>" in html
    assert not re.search(r"<(link|script)\b|\bsrc=", html)      # self-contained: nothing to fetch

    assert_nothing_left(extra_clouds, deployment, CLOUDS, watcher)
    assert len(watcher.seen) == 2, watcher.seen


def test_tutorial_through_ansible_runner(extra_clouds, tmp_path):
    """As AWX runs it: ansible-runner, its event stream and the set_stats artifacts."""
    ansible_runner = pytest.importorskip("ansible_runner")
    deployment = new_deployment()
    env = extra_clouds.env(ANSIBLE_CALLBACKS_ENABLED="slipway.cloud.deploy_report",
                           SLIPWAY_REPORT_DIR=str(tmp_path / "report"))
    private = tmp_path / "runner"
    (private / "project").mkdir(parents=True)
    envvars = {key: env[key] for key in ("ANSIBLE_COLLECTIONS_PATH", "SLIPWAY_CATALOG", "SLIPWAY_CATALOG_CACHE",
                                         "ANSIBLE_CALLBACKS_ENABLED", "SLIPWAY_REPORT_DIR")}
    try:
        with MachineWatcher(extra_clouds, deployment) as watcher:
            run = ansible_runner.run(private_data_dir=str(private),
                                     playbook=os.path.join(collection_root(), "playbooks", "tutorial.yml"),
                                     envvars=envvars, extravars={"tutorial_deployment": deployment},
                                     quiet=True, timeout=900)
    finally:
        destroy_deployment(extra_clouds, deployment, CLOUDS)
    stdout = run.stdout.read()
    assert (run.status, run.rc) == ("successful", 0), stdout[-5000:]

    events = list(run.events)
    deployed = [e for e in events if e["event"] == "runner_on_ok"
                and e["event_data"].get("resolved_action") == "slipway.cloud.instance"
                and e["event_data"]["res"].get("instances")]
    assert len(deployed) == 1, "the two clouds are deployed by one task"
    assert sorted(i["cloud"] for i in deployed[0]["event_data"]["res"]["instances"]) == CLOUDS

    stats = [e for e in events if e["event"] == "playbook_on_stats"][-1]["event_data"]
    checks = stats["artifact_data"]["slipway_checks"]
    assert checks and all(check["passed"] for check in checks), checks
    nginx = [c for c in checks if c["check"] == "nginx welcome page over HTTP"]
    assert sorted(c["cloud"] for c in nginx) == CLOUDS
    assert not stats["failures"] and not stats["dark"]

    with open(str(tmp_path / "report" / "tutorial-report.json")) as handle:
        check_report(json.load(handle), deployment)
    assert_nothing_left(extra_clouds, deployment, CLOUDS, watcher)
