# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the module integration tests: real ansible-playbook runs.

Every test runs whole `ansible-playbook` processes against this checkout (copied to an
ansible_collections/slipway/cloud path by tests/support/collection.py), with a catalog
test layer whose EC2 clouds point at one moto server on loopback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import string
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.collection import ansible_command, ansible_env, collection_root  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
#: A recognisable fake secret: the secrets test greps every output for it.
FAKE_SECRET = "SLIPWAYfakeSECRETdoNOTleak0123456789abcdEF"
FAKE_KEY_ID = "AKIASLIPWAYTESTKEY01"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpVZ0dXnIYfV8Zk5q3Dq7m1Q9vJmS3Z2jv4N2HkzZx7 "
              "slipway-test")


def template_layer(source, target_dir, **values):
    """Copy a catalog layer file, filling ${name} placeholders."""
    with open(os.path.join(HERE, "catalog", source), encoding="utf-8") as handle:
        text = string.Template(handle.read()).substitute(values)
    path = os.path.join(target_dir, source)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


class PlayResult:
    def __init__(self, process, tasks):
        self.rc = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.tasks = tasks          # [(task name, result dict)] for localhost

    @property
    def ok(self):
        """The playbook ran and no task failed (tasks ignore errors so that failures can be read)."""
        return self.rc == 0 and bool(self.tasks) and not any(r.get("failed") for dummy, r in self.tasks)

    def result(self, index=0):
        return self.tasks[index][1]

    def named(self, name):
        for task_name, result in self.tasks:
            if task_name == name:
                return result
        raise KeyError(name)

    def __repr__(self):
        failed = ["%s: %s" % (name, result.get("msg")) for name, result in self.tasks if result.get("failed")]
        return "<PlayResult rc=%s failed=%s\nstdout=%s\nstderr=%s>" % (
            self.rc, failed, self.stdout[-6000:], self.stderr[-3000:])


class Ansible:
    """Runs playbooks on localhost with this collection and a catalog."""

    def __init__(self, workdir, catalog_layers, environ):
        self.workdir = workdir
        self.catalog_layers = list(catalog_layers)
        self.environ = dict(environ)

    def _command(self, tasks, check=False, diff=False, verbosity=0, json_output=True, env=None):
        """(argv, environment) of one ansible-playbook run of ``tasks`` on localhost."""
        play = [{
            "name": "slipway integration",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": tasks,
        }]
        handle, path = tempfile.mkstemp(suffix=".yml", dir=self.workdir)
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(play, out, sort_keys=False)
        args = ["-i", "localhost,", "-c", "local", path]
        if check:
            args.append("--check")
        if diff:
            args.append("--diff")
        if verbosity:
            args.append("-" + "v" * verbosity)
        extra = dict(self.environ)
        extra["SLIPWAY_CATALOG"] = os.pathsep.join(self.catalog_layers)
        if json_output:
            extra["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        extra.update(env or {})
        environ = ansible_env(**extra)
        for key, value in (env or {}).items():
            if value is None:
                environ.pop(key, None)
        return ansible_command("ansible-playbook", *args), environ

    @staticmethod
    def _result(process, json_output=True):
        tasks = []
        if json_output:
            # With -v the json callback's document follows a few plain lines.
            start = process.stdout.find("\n{")
            text = process.stdout if process.stdout.startswith("{") else process.stdout[start + 1:]
            try:
                data = json.loads(text)
            except ValueError:
                data = {"plays": []}
            for play_data in data.get("plays", []):
                for task in play_data.get("tasks", []):
                    tasks.append((task["task"]["name"], task["hosts"].get("localhost", {})))
        return PlayResult(process, tasks)

    def playbook(self, tasks, check=False, diff=False, verbosity=0, json_output=True, env=None,
                 timeout=900):
        argv, environ = self._command(tasks, check, diff, verbosity, json_output, env)
        process = subprocess.run(argv, env=environ, cwd=self.workdir, capture_output=True, text=True,
                                 timeout=timeout, check=False)
        return self._result(process, json_output)

    def playbook_beside(self, tasks, meanwhile, timeout=900):
        """One ansible-playbook run of ``tasks``, with ``meanwhile(process)`` called while it runs (a test
        playing the other runs); returns its PlayResult."""
        argv, environ = self._command(tasks)
        process = subprocess.Popen(argv, env=environ, cwd=self.workdir, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            meanwhile(process)
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        return self._result(subprocess.CompletedProcess(argv, process.returncode, stdout, stderr))

    def playbooks_at_once(self, task_lists, timeout=900):
        """One ansible-playbook per task list, all started together: each first says it is ready, then waits
        at a barrier until every one is, so that their tasks really race. Returns their PlayResults.

        The barrier tasks are the first two of each run (results[i].tasks[2:] are the caller's).
        """
        barrier = os.path.join(self.workdir, "barrier-%d" % os.getpid())
        ready = [os.path.join(self.workdir, "ready-%d-%d" % (os.getpid(), i)) for i in range(len(task_lists))]
        processes = []
        try:
            for index, tasks in enumerate(task_lists):
                gate = [{"name": "ready",
                         "ansible.builtin.file": {"path": ready[index], "state": "touch", "mode": "0600"}},
                        {"name": "barrier", "ansible.builtin.wait_for": {"path": barrier, "timeout": 300}}]
                argv, environ = self._command(gate + list(tasks))
                processes.append(subprocess.Popen(argv, env=environ, cwd=self.workdir, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True))
            deadline = time.monotonic() + 300
            while not all(os.path.exists(path) for path in ready):
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise AssertionError("the runs did not all reach the barrier")
                time.sleep(0.05)
            with open(barrier, "w", encoding="utf-8"):
                pass
            results = []
            for process in processes:
                stdout, stderr = process.communicate(timeout=timeout)
                results.append(self._result(subprocess.CompletedProcess(process.args, process.returncode,
                                                                        stdout, stderr)))
            return results
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


@pytest.fixture(scope="session")
def moto():
    from support.moto_server import MotoServer

    server = MotoServer(mode="process").start()
    yield server
    server.stop()


@pytest.fixture
def ansible_moto(moto, tmp_path):
    """Ansible with the moto test layer, a fresh moto, and fake credentials."""
    moto.reset()
    layer = template_layer("moto.yml", str(tmp_path), moto_url=moto.url)
    env = {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}
    for unset in ("SLIPWAY_TEST_UNSET_KEY_ID", "SLIPWAY_TEST_UNSET_SECRET"):
        os.environ.pop(unset, None)
    return Ansible(str(tmp_path), [shipped_catalog(), layer], env)


#: an Exoscale cloud served by the test server (tests/support/exoscale_server.py), whose URL fills %s
EXO_CLOUD = """\
clouds:
  exo-it:
    description: the Exoscale test server
    provider: exoscale
    region: ch-gva-2
    endpoint: %s
    credentials: {key: SLIPWAY_TEST_EXO_KEY, secret: SLIPWAY_TEST_EXO_SECRET}
    options: {poll_interval: 0.01, retry_base_delay: 0.01, retry_max_delay: 0.05, ssh_probe: false}
    flavors:
      Tiny: {cpu: 1, ram_gb: 1}
      Small: {cpu: 2, ram_gb: 2}
"""


@pytest.fixture
def ansible_exoscale(tmp_path):
    """(server, Ansible): a fresh Exoscale test server and the exo-it cloud on it; every request it saw
    must have been one the OpenAPI document allows."""
    from support.exoscale_server import DEFAULT_KEY, DEFAULT_SECRET, ExoscaleFake

    server = ExoscaleFake(op_polls=1, settle_reads=1).start()
    try:
        layer = tmp_path / "exo-cloud.yml"
        layer.write_text(EXO_CLOUD % server.url)
        ansible = Ansible(str(tmp_path), [shipped_catalog(), str(layer)],
                          {"SLIPWAY_TEST_EXO_KEY": DEFAULT_KEY, "SLIPWAY_TEST_EXO_SECRET": DEFAULT_SECRET})
        yield server, ansible
        assert server.violations == [], "requests the OpenAPI document does not allow: %s" % server.violations
    finally:
        server.stop()


def shipped_catalog():
    """The catalog/ directory of the collection copy Ansible loads."""
    return os.path.join(collection_root(), "catalog")


def instance_task(task_name="instance", register=None, **args):
    """A task of slipway.cloud.instance (options as keywords); failures are read from its result."""
    args = {k: v for k, v in args.items() if v is not None}
    task = {"name": task_name, "slipway.cloud.instance": args, "ignore_errors": True}
    if register:
        task["register"] = register
    return task


def ec2_client(moto, region="us-east-1"):
    """A boto3 client on the moto server: checks what really is on the cloud, independently of slipway."""
    import boto3

    return boto3.client("ec2", region_name=region, endpoint_url=moto.url, aws_access_key_id=FAKE_KEY_ID,
                        aws_secret_access_key=FAKE_SECRET)


REGIONS = {"moto-a": "us-east-1", "moto-b": "eu-west-1"}


def live_instances(moto, cloud, deployment=None):
    """{name: [state, ...]} of the non-terminated managed instances on a moto cloud."""
    filters = [{"Name": "tag:slipway:managed", "Values": ["true"]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    if deployment:
        filters.append({"Name": "tag:slipway:deployment", "Values": [deployment]})
    found = {}
    pages = ec2_client(moto, REGIONS[cloud]).get_paginator("describe_instances").paginate(Filters=filters)
    for page in pages:
        for reservation in page["Reservations"]:
            for item in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                found.setdefault(tags.get("slipway:name", item["InstanceId"]), []).append(item["State"]["Name"])
    return found


def group_rules(moto, cloud, name):
    """The ingress permissions of group ``name`` as boto3 sees them, or None."""
    client = ec2_client(moto, REGIONS[cloud])
    groups = client.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    if not groups:
        return None
    rules = set()
    for perm in groups[0]["IpPermissions"]:
        for ip_range in perm.get("IpRanges", []):
            rules.add((perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"), ip_range["CidrIp"]))
    return rules


# Real local machines: a pair of local clouds of the tests' own (skipped where the host cannot run them).
from support.local_cloud import local_ssh_key  # noqa: E402,F401 pylint: disable=unused-import

LOCAL_A, LOCAL_B = "it-a", "it-b"


@pytest.fixture(scope="session")
def local_pair():
    from local_pair import LocalPair, why_not_local

    reason = why_not_local()
    if reason:
        pytest.skip(reason)
    pair = LocalPair("it").set_up()
    yield pair
    pair.teardown()


@pytest.fixture
def ansible_local(local_pair, tmp_path):
    """Ansible with the shipped catalog plus the pair's layer (clouds it-a, it-b; image debian-12-it)."""
    return Ansible(str(tmp_path), [shipped_catalog(), local_pair.layer(str(tmp_path))], {})


def local_provider(local_pair, name):
    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

    directory = tempfile.mkdtemp()
    try:
        catalog = load_catalog([shipped_catalog(), local_pair.layer(directory)])
    finally:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
    return get_provider(catalog.cloud(name))
