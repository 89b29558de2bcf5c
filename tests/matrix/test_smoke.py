# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `make matrix` runs under each supported ansible-core: real `ansible` and `ansible-playbook` runs.

image_info ad hoc; instance create, re-run (unchanged) and absent on moto's EC2 API server and on one
real local machine. Only ansible-core and requirements-matrix.txt are installed in a matrix venv (no
community collections), so each step's result is read from a file the play writes, not from a callback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import string
import subprocess
import sys

import pytest
import yaml

from support.collection import ansible_command, ansible_env, collection_root
from support.local_cloud import leftovers

MOTO_LAYER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "integration", "modules", "catalog", "moto.yml")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIASLIPWAYMATRIX001", "AWS_SECRET_ACCESS_KEY": "slipway-matrix-secret"}


def run(*args, **env):
    proc = subprocess.run(ansible_command(*args), env=ansible_env(ANSIBLE_PYTHON_INTERPRETER=sys.executable, **env),
                          capture_output=True, text=True, timeout=600, check=False)
    return proc


def module_result(workdir, module, options, catalog, check=False, **env):
    """The registered result of one task of ``module`` on localhost, from a real ansible-playbook run."""
    out = os.path.join(workdir, "result.json")
    play = [{"name": "smoke", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "the module", module: dict(options, catalog=catalog), "register": "smoke",
                        "ignore_errors": True},
                       {"name": "keep its result", "ansible.builtin.copy": {
                           "content": "{{ smoke | to_json }}", "dest": out, "mode": "0600"},
                        "check_mode": False}]}]
    path = os.path.join(workdir, "smoke.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    if os.path.exists(out):
        os.unlink(out)
    proc = run("ansible-playbook", "-i", "localhost,", path, *(["--check"] if check else []), **env)
    assert proc.returncode == 0 and os.path.exists(out), proc.stdout[-4000:] + proc.stderr[-2000:]
    with open(out, encoding="utf-8") as handle:
        return json.load(handle)


def test_image_info_ad_hoc():
    proc = run("ansible", "localhost", "-m", "slipway.cloud.image_info", "-a", "image=debian-12 cloud=local-a")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.split("=>", 1)[1])
    (placement,) = result["placements"]
    assert (placement["cloud"], placement["image_id"], placement["flavor"]) == ("local-a", "debian-12", "Tiny")
    assert result["changed"] is False and result["catalog"] == [os.path.join(collection_root(), "catalog")]


@pytest.fixture(scope="module")
def moto():
    from support.moto_server import MotoServer

    server = MotoServer(mode="process").start()
    yield server
    server.stop()


def ec2_instances(moto):
    import boto3

    client = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url,
                          aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    pages = client.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:slipway:deployment", "Values": ["smoke"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
    return sorted(i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"])


def test_instance_on_the_ec2_api_server(moto, tmp_path):
    moto.reset()
    with open(MOTO_LAYER, encoding="utf-8") as handle:
        (tmp_path / "moto.yml").write_text(string.Template(handle.read()).substitute(moto_url=moto.url))
    catalog = [os.path.join(collection_root(), "catalog"), str(tmp_path / "moto.yml")]
    task = {"image": "trusty", "cloud": "moto-a", "names": ["s1", "s2"], "deployment": "smoke", "wait": "running"}

    planned = module_result(str(tmp_path), "slipway.cloud.instance", task, catalog, check=True, **CREDENTIALS)
    assert planned["changed"] is True and ec2_instances(moto) == [], planned
    made = module_result(str(tmp_path), "slipway.cloud.instance", task, catalog, **CREDENTIALS)
    assert made["changed"] is True and not made.get("failed"), made
    ids = sorted(i["id"] for i in made["instances"])
    assert ec2_instances(moto) == ids and len(ids) == 2
    again = module_result(str(tmp_path), "slipway.cloud.instance", task, catalog, **CREDENTIALS)
    assert again["changed"] is False and sorted(i["id"] for i in again["instances"]) == ids, again
    absent = {"cloud": "moto-a", "deployment": "smoke", "state": "absent"}
    gone = module_result(str(tmp_path), "slipway.cloud.instance", absent, catalog, **CREDENTIALS)
    assert gone["changed"] is True and ec2_instances(moto) == [], gone
    assert module_result(str(tmp_path), "slipway.cloud.instance", absent, catalog, **CREDENTIALS)["changed"] is False


@pytest.mark.long
def test_instance_on_a_local_machine(isolated_local_cloud, tmp_path):
    iso = isolated_local_cloud
    catalog = [os.path.join(collection_root(), "catalog"), iso.catalog_layer(tmp_path, "debian-12-smoke")]
    task = {"image": "debian-12-smoke", "cloud": iso.cloud.name, "name": "smoke-1", "deployment": "smoke",
            "ssh_public_key_file": iso.key_path + ".pub", "wait": "ssh", "timeout": 300}

    made = module_result(str(tmp_path), "slipway.cloud.instance", task, catalog)
    assert made["changed"] is True and not made.get("failed"), made
    (machine,) = made["instances"]
    assert machine["state"] == "running" and machine["host_keys"] and machine["flavor"] == "Micro", machine
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join("%s %s\n" % (machine["private_ip"], key) for key in machine["host_keys"]))
    login = subprocess.run(["ssh", "-i", iso.key_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                            "-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "ConnectTimeout=10",
                            "root@" + machine["private_ip"], "nproc"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert login.returncode == 0 and login.stdout.strip() == "1", login.stderr
    again = module_result(str(tmp_path), "slipway.cloud.instance", task, catalog)
    assert again["changed"] is False and again["instances"][0]["id"] == machine["id"], again
    absent = {"cloud": iso.cloud.name, "deployment": "smoke", "state": "absent"}
    gone = module_result(str(tmp_path), "slipway.cloud.instance", absent, catalog)
    assert gone["changed"] is True and gone["instances"] == [], gone
    assert leftovers(iso.state, [machine["id"]]) == []
