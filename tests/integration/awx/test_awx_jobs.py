# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jobs as AWX runs them, through the real ansible-runner, on real local machines.

The inventory is what an update exported (the shipped AWX source), imported and served back as AWX's
inventory script; the environment is AWX's (ANSIBLE_HOST_KEY_CHECKING=False, JOB_ID, awx_* extra vars,
the machine credential in env/ssh_key, cloud credentials injected from the credential types).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import urllib.request
import uuid

import pytest
import yaml

from support import awx_rules
from support.awx_jobs import AwxInventory, Job, export_inventory
from support.collection import ansible_command, ansible_env, collection_root

from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, Rule

pytestmark = pytest.mark.long
SHIPPED = os.path.join(collection_root(), "catalog")
AWX_GROUP = "slipway_awx_test"


def exported_inventory(tmp_path, deployment, clouds):
    """Our machines (one deployment) through an update of the shipped AWX source, imported as AWX does."""
    with open(os.path.join(collection_root(), "inventories", "awx", "awx.slipway.yml")) as handle:
        source = yaml.safe_load(handle)
    source.update(catalog=[SHIPPED], clouds=clouds, filters={"deployment": deployment})
    path = tmp_path / "awx.slipway.yml"
    path.write_text(yaml.safe_dump(source))
    env = ansible_env(XDG_CACHE_HOME=str(tmp_path / "xdg"))
    proc, data = export_inventory(str(path), str(tmp_path / "export.json"), env)
    assert proc.returncode == 0, proc.stderr
    return AwxInventory(data, enabled_var="slipway_state", enabled_value="running")


def other_key(tmp_path):
    path = str(tmp_path / "impostor")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(path + ".pub") as handle:
        return " ".join(handle.read().split()[:2])


def test_a_machine_answering_with_another_key_is_refused(tmp_path, local_machines, local_ssh_key):
    deployment = "awxkey-" + uuid.uuid4().hex[:8]
    good, bad = local_machines("local-a", names=("awx-k1", "awx-k2"),
                               tags={"slipway:deployment": deployment, "slipway:image": "debian-12"})
    imported = exported_inventory(tmp_path, deployment, ["local-a"])
    good_host, bad_host = good.name + ".local-a", bad.name + ".local-a"
    assert sorted(imported.enabled) == sorted([good_host, bad_host])
    assert "ansible_ssh_common_args" not in imported.hostvars[good_host]      # known_hosts_file: false
    # the machine now at bad's address answers with a key other than the one the inventory recorded
    imported.hostvars[bad_host]["slipway_host_keys"] = [other_key(tmp_path)]

    # the fact the role works around: with ANSIBLE_HOST_KEY_CHECKING=False the ssh connection puts
    # "-o StrictHostKeyChecking=no" before a host's own arguments, and ssh takes the first value
    pinned = tmp_path / "pinned_known_hosts"
    pinned.write_text("%s %s\n" % (bad.private_ip, imported.hostvars[bad_host]["slipway_host_keys"][0]))
    script = tmp_path / "inventory.py"
    imported.write_script(str(script))

    def ping(*extra):
        common = "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % pinned
        return subprocess.run(ansible_command("ansible", "-i", str(script), bad_host, "-m", "ansible.builtin.ping",
                                              "-o", "--private-key", local_ssh_key[0], "-e",
                                              "ansible_ssh_common_args='%s'" % common, *extra),
                              env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_SSH_ARGS="-o ControlMaster=no",
                                              ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
                              check=False)
    proc = ping()
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout        # the pinned key is ignored
    proc = ping("-e", "ansible_ssh_host_key_checking=true")
    assert proc.returncode != 0 and "Host key verification failed" in proc.stdout, proc.stdout

    # the job: playbooks/verify.yml pins with the role first, then connects
    job = Job(tmp_path / "job", 101, "playbooks/verify.yml", extra_vars={"target": "all"}, ssh_key=local_ssh_key[0],
              template_name="slipway.cloud verify")
    job.inventory(imported)
    rc, output = job.run()
    assert rc != 0, output
    artifacts = job.artifacts()
    stats = artifacts.stats()
    assert set(stats["dark"]) == {bad_host} and not stats["failures"], stats      # only bad is unreachable
    checked = {e["event_data"]["host"] for e in artifacts.host_results()
               if e["event_data"].get("task") == "Read /proc/cpuinfo and /proc/meminfo"}
    assert checked == {good_host}, output
    (refused,) = artifacts.host_results("runner_on_unreachable")
    assert refused["event_data"]["host"] == bad_host
    assert re.search(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED",
                     refused["event_data"]["res"]["msg"]), refused["event_data"]["res"]
    assert "StrictHostKeyChecking=no" not in output


@pytest.fixture
def awx_group(local_cloud_session):
    """A security group of this test's own (SSH only), which the nginx role opens HTTP in."""
    providers = [local_cloud_session.provider(name) for name in ("local-a", "local-b")]
    for provider in providers:
        provider.ensure_security_group(AWX_GROUP, "tests: AWX slicing", [Rule("tcp", 22, 22, "0.0.0.0/0")])
    yield AWX_GROUP
    for provider in providers:
        try:
            provider.delete_security_group(AWX_GROUP)
        except Exception:  # pylint: disable=broad-except
            pass            # still in use by another session's machines


def test_sliced_nginx_job_configures_every_host_once(tmp_path, local_machines, local_ssh_key, awx_group):
    deployment = "awxslice-" + uuid.uuid4().hex[:8]
    tags = {"slipway:deployment": deployment, "slipway:image": "debian-12-web"}
    machines = (local_machines("local-a", names=("s1", "s2", "s3"), tags=tags, security_groups=(awx_group,))
                + local_machines("local-b", names=("s4", "s5", "s6"), tags=tags, security_groups=(awx_group,)))
    imported = exported_inventory(tmp_path, deployment, ["local-a", "local-b"])
    names = sorted(imported.enabled)
    assert len(names) == 6 and all(imported.enabled.values())

    jobs = []
    for number in (1, 2, 3):
        job = Job(tmp_path / ("slice%d" % number), 200 + number, "playbooks/nginx.yml", ssh_key=local_ssh_key[0],
                  extra_vars={"target": "all", "nginx_security_group": awx_group},
                  template_name="slipway.cloud nginx")
        job.inventory(imported, slice_number=number, slice_count=3)
        jobs.append(job)
    running = [job.start() for job in jobs]              # AWX starts the slices at once
    outputs = [proc.communicate(timeout=1500)[0] for proc in running]
    for proc, output in zip(running, outputs):
        assert proc.returncode == 0, output[-6000:]

    configured = []
    for number, job in enumerate(jobs, 1):
        artifacts = job.artifacts()
        assert artifacts.read("status") == "successful" and artifacts.read("rc") == "0"
        hosts = sorted({e["event_data"]["host"] for e in artifacts.host_results()
                        if e["event_data"].get("task") == "Enable and start nginx"})
        assert hosts == names[number - 1::3]             # AWX's rule: sorted enabled hosts, [n-1::count]
        configured += hosts
        checks = artifacts.stats().get("artifact_data", {}).get("slipway_checks", [])
        assert sorted(check["machine"] for check in checks) == hosts, checks
        assert all(str(check["passed"]).lower() == "true" for check in checks), checks
    assert sorted(configured) == names                   # every host exactly once
    for machine in machines:
        with urllib.request.urlopen("http://%s/" % machine.private_ip, timeout=30) as page:
            assert "Welcome to nginx!" in page.read().decode("utf-8", "replace")


CATALOG_LAYER = "images:\n  awx-debian:\n    parent: debian-12\n    description: Debian 12 from AWX's catalog credential\n"


def test_deploy_job_on_an_execution_node(tmp_path, local_cloud_session, local_ssh_key):
    deployment = "awxnode-" + uuid.uuid4().hex[:8]
    catalog_type = awx_rules.load_type(os.path.join(collection_root(), "awx", "credential_types", "catalog.yml"))
    provider = local_cloud_session.provider("local-a")
    try:
        job = Job(tmp_path / "deploy", 301, "playbooks/deploy.yml", template_name="slipway.cloud deploy",
                  extra_vars={"image": "awx-debian", "clouds": ["local-a"], "deployment": deployment,
                              "wait_timeout": 180, "run_dir": str(tmp_path / "run"),
                              # the public half of the key a Machine credential gives the later jobs
                              "ssh_public_key": local_ssh_key[1]},
                  credentials=[(catalog_type, {"layer": CATALOG_LAYER})])
        job.inventory(AwxInventory({}))
        codes, output = job.run_on_execution_node(tmp_path / "worker", tmp_path / "results")
        assert codes == (0, 0, 0), output[-6000:]
        artifacts = job.artifacts(tmp_path / "results")
        assert artifacts.read("status") == "successful" and artifacts.read("rc") == "0"
        (deployed,) = [e for e in artifacts.host_results() if e["event_data"].get("task", "").startswith("Deploy the image")]
        (instance,) = deployed["event_data"]["res"]["instances"]
        assert deployed["event_data"]["res"]["changed"] and instance["image"] == "awx-debian"
        assert instance["cloud"] == "local-a" and instance["host_keys"]
        assert artifacts.stats()["ok"]["localhost"] > 0
        mine = [m for m in provider.list_machines() if (m.tags or {}).get(DEPLOYMENT_TAG) == deployment]
        assert [m.id for m in mine] == [instance["id"]]
        # The machine takes the key of yours, not a key of the run's: a later job's Machine credential logs in.
        assert not (tmp_path / "run" / "id_ed25519").exists()
        login = subprocess.run(["ssh", "-i", local_ssh_key[0], "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                "-o", "ConnectTimeout=10", "%s@%s" % (instance["login_user"], mine[0].address),
                                "echo logged-in"], capture_output=True, text=True, timeout=60, check=False)
        assert login.stdout.strip() == "logged-in", login.stderr

        destroy = Job(tmp_path / "destroy", 302, "playbooks/destroy.yml", template_name="slipway.cloud destroy",
                      extra_vars={"deployment": deployment, "clouds": ["local-a"], "run_dir": str(tmp_path / "run")},
                      credentials=[(catalog_type, {"layer": CATALOG_LAYER})])
        destroy.inventory(AwxInventory({}))
        rc, output = destroy.run()
        assert rc == 0, output[-6000:]
        assert [m for m in provider.list_machines() if (m.tags or {}).get(DEPLOYMENT_TAG) == deployment] == []
    finally:
        left = [m.id for m in provider.list_machines() if (m.tags or {}).get(DEPLOYMENT_TAG) == deployment]
        if left:
            provider.destroy_machines(left)
