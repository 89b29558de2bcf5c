# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tutorial's exercises 1 and 2 with one OpenStack cloud (the loopback one, with the seed's Ultimum
flavor table) and one local cloud: a copy of the image in a user layer, bigger on OpenStack only, then ONE
instance task deploying it on both clouds, and the deployment time of each.

The loopback's servers are fake (Nova's fake driver: nothing answers SSH), so the task waits for running,
and exercises 3 to 5 (ssh, sizes inside, nginx) stay with playbooks/tutorial.yml on the local clouds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys
import uuid

import pytest
import yaml

from support.collection import ansible_env, collection_root
from support.openstack_catalog import CLOUD, IMAGE, write_layer
from support.tutorial import run_playbook

pytestmark = [pytest.mark.long, pytest.mark.openstack,
              pytest.mark.filterwarnings("ignore:Support for InfluxDB requires the influxdb library"),
              pytest.mark.filterwarnings("ignore:The 'service_type' parameter is unnecesary")]

LOCAL = "local-a"


def exercises_one_and_two(base_layers, user_layer, deployment, public_key_file):
    copy = {"images": {"tutorial-copy": {"description": "my copy, bigger on " + CLOUD, "parent": IMAGE,
                                         "clouds": {CLOUD: {"size": {"cpu": 2, "ram_gb": 2}}}}}}
    catalog = base_layers + [user_layer]
    return [{"hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": [
                 {"name": "Exercise 1: write the copy in a user layer",
                  "ansible.builtin.copy": {"dest": os.path.join(user_layer, "tutorial.yml"), "mode": "0644",
                                           "content": yaml.safe_dump(copy)}},
                 {"name": "Exercise 1: resolve the parent and its copy on both clouds",
                  "slipway.cloud.image_info": {"image": "{{ item }}", "clouds": [CLOUD, LOCAL], "catalog": catalog},
                  "loop": [IMAGE, "tutorial-copy"], "register": "resolved"},
                 {"name": "Exercise 1: the copy differs from its parent on the resized cloud only",
                  "ansible.builtin.assert": {"that": [
                      "resolved.results[0].placements[0].flavor == 'Basic'",
                      "resolved.results[1].placements[0].flavor == 'Standard'",
                      "resolved.results[1].placements[0].sources.flavor is search('tutorial-copy clouds." + CLOUD
                      + " at .*tutorial.yml')",
                      "resolved.results[0].placements[1].flavor == resolved.results[1].placements[1].flavor"]}},
                 {"name": "Exercise 2: deploy the copy on both clouds in one task",
                  "slipway.cloud.instance": {"image": "tutorial-copy", "clouds": [CLOUD, LOCAL], "name": deployment,
                                             "deployment": deployment, "wait": "running", "timeout": 300,
                                             "ssh_public_key_file": public_key_file, "catalog": catalog},
                  "register": "deployed"},
                 {"name": "Exercise 2: the deployment time on each cloud",
                  "ansible.builtin.debug": {"msg": "{% for i in deployed.instances %}{{ i.cloud }}: "
                                                   "{{ i.timings.deploy_seconds }} s (request to running); "
                                                   "{% endfor %}"}},
                 {"name": "Exercise 2: keep the result", "ansible.builtin.copy": {
                     "dest": "{{ result_file }}", "mode": "0600", "content": "{{ deployed | to_json }}"}}]}]


def test_exercises_one_and_two_on_openstack_and_a_local_cloud(openstack_cloud, openstack_env, local_cloud_session,
                                                              local_ssh_key, tmp_path):
    deployment = "tos-" + uuid.uuid4().hex[:8]
    base = [os.path.join(collection_root(), "catalog"), write_layer(str(tmp_path), openstack_cloud.seeded)]
    user_layer = tmp_path / "user-layer"
    user_layer.mkdir()
    playbook = tmp_path / "exercises.yml"
    playbook.write_text(yaml.safe_dump(exercises_one_and_two(base, str(user_layer), deployment,
                                                             local_ssh_key[0] + ".pub")))
    result_file = tmp_path / "deployed.json"
    conn = openstack_cloud.connect("password", interface="internal")
    report_dir = tmp_path / "report"
    env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="slipway.cloud.deploy_report", SLIPWAY_REPORT_DIR=str(report_dir),
                      **openstack_env)
    try:
        run = run_playbook(str(playbook), env, "-e", "result_file=%s" % result_file)
        assert run.returncode == 0, run.stdout[-5000:]
        out = run.stdout
        assert "%s: " % CLOUD in out and " s (request to running)" in out
        deployed = json.loads(result_file.read_text())
        by_cloud = {i["cloud"]: i for i in deployed["instances"]}
        assert sorted(by_cloud) == sorted([CLOUD, LOCAL])
        assert (by_cloud[CLOUD]["flavor"], by_cloud[CLOUD]["cpu"], by_cloud[CLOUD]["ram_gb"]) == ("Standard", 2, 2)
        assert (by_cloud[LOCAL]["flavor"], by_cloud[LOCAL]["cpu"], by_cloud[LOCAL]["ram_gb"]) == ("Tiny", 1, 1)
        for instance in by_cloud.values():
            assert instance["state"] == "running" and instance["timings"]["deploy_seconds"] > 0
        server = conn.compute.get_server(by_cloud[CLOUD]["id"])
        assert (server.status, server.flavor["original_name"]) == ("ACTIVE", "Standard")
        # the deploy report (the callback) shows the OpenStack machine beside the local one, timed
        report = json.loads((report_dir / "exercises-report.json").read_text())
        rows = {row["cloud"]: row for row in report["machines"] if row["deployment"] == deployment}
        assert sorted(rows) == sorted([CLOUD, LOCAL]), report["machines"]
        assert (rows[CLOUD]["flavor"], rows[CLOUD]["cpu"], rows[CLOUD]["ram_gb"]) == ("Standard", 2, 2)
        assert rows[CLOUD]["address"] == (by_cloud[CLOUD].get("public_ip") or by_cloud[CLOUD]["private_ip"])
        assert rows[CLOUD]["deploy_seconds"] > 0
        assert sorted(report["deploy_seconds_per_cloud"]) == sorted([CLOUD, LOCAL])
    finally:
        gone = run_playbook(str(_absent_playbook(tmp_path, base, deployment)), env)
        conn.close()
    assert gone.returncode == 0, gone.stdout[-3000:]


def _absent_playbook(tmp_path, catalog, deployment):
    path = tmp_path / "absent.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                     "vars": {"ansible_python_interpreter": sys.executable}, "tasks": [
                                         {"name": "remove the deployment", "slipway.cloud.instance": {
                                             "clouds": [CLOUD, LOCAL], "deployment": deployment, "state": "absent",
                                             "catalog": catalog}},
                                         {"name": "remove the group", "slipway.cloud.security_group": {
                                             "name": "slipway_managed", "cloud": CLOUD, "state": "absent",
                                             "catalog": catalog}}]}]))
    return path
