# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX's side of an inventory update and of a job, without AWX: what AWX does, with the real tools.

- ``export_inventory``: the update as AWX runs it (``ansible-inventory --list --export -i SOURCE --output
  FILE`` with ``ANSIBLE_INVENTORY_UNPARSED_FAILED=True``).
- ``AwxInventory``: what AWX keeps of that export (hosts by name, groups, each host enabled when its
  ``enabled_var`` equals ``enabled_value``) and ``script_data``, the inventory a job gets back: enabled
  hosts only, ordered by name, slice n of N taking ``[n-1::N]``, written as the executable script AWX
  writes to ``inventory/hosts``.
- ``Job``: a private data directory laid out as AWX lays it out for ansible-runner (project, inventory
  script, env/envvars with AWX's variables and the injected credentials, env/extravars with the awx_*
  variables, env/ssh_key for the machine credential), run with the real ``ansible-runner`` either
  directly or as ``ansible-runner transmit | worker | process`` (the execution-node path).
"""

import json
import os
import shutil
import stat
import subprocess

import yaml

from support import awx_rules
from support.collection import ansible_command, ansible_env, collection_root


def export_inventory(source, output, env, timeout=300):
    """(CompletedProcess, exported data or None) of one inventory update as AWX runs it."""
    environ = dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="True")
    proc = subprocess.run(ansible_command("ansible-inventory", "--list", "--export", "-i", source, "--output", output),
                          env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, check=False)
    data = None
    if proc.returncode == 0:
        with open(output) as handle:
            data = json.load(handle)
    return proc, data


def _lookup(variables, dotted):
    """AWX's enabled_var may be a dotted path into a host's variables."""
    value = variables
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, dict) and set(value) == {"__ansible_unsafe"}:
        value = value["__ansible_unsafe"]
    return value


class AwxInventory:
    """The hosts and groups AWX imports from one export (one inventory source, overwrite on)."""

    def __init__(self, exported, enabled_var=None, enabled_value=None):
        self.hostvars = dict(exported.get("_meta", {}).get("hostvars", {}))
        self.groups = {}
        for name, group in exported.items():
            if name in ("_meta", "all", "ungrouped"):
                continue
            self.groups[name] = {"hosts": list(group.get("hosts", [])), "children": list(group.get("children", [])),
                                 "vars": dict(group.get("vars", {}))}
        names = set(self.hostvars)
        for group in exported.values():
            if isinstance(group, dict):
                names.update(group.get("hosts", []))
        self.enabled = {}
        for name in names:
            variables = self.hostvars.setdefault(name, {})
            self.enabled[name] = (enabled_var is None
                                  or str(_lookup(variables, enabled_var)) == str(enabled_value))

    def script_data(self, slice_number=1, slice_count=1):
        """Inventory.get_script_data(hostvars=True, towervars=True, slice_number, slice_count)."""
        hosts = sorted(name for name, enabled in self.enabled.items() if enabled)
        if slice_count > 1:
            hosts = hosts[slice_number - 1::slice_count]
        chosen = set(hosts)
        data = {"all": {"hosts": [], "children": sorted(self.groups), "vars": {}}, "_meta": {"hostvars": {}}}
        grouped = set()
        for name, group in sorted(self.groups.items()):
            members = [host for host in group["hosts"] if host in chosen]
            grouped.update(members)
            data[name] = {"hosts": members, "children": group["children"], "vars": group["vars"]}
        data["all"]["hosts"] = [host for host in hosts if host not in grouped]
        for index, host in enumerate(hosts):
            data["_meta"]["hostvars"][host] = dict(self.hostvars[host], remote_tower_enabled="true",
                                                   remote_tower_id=index + 1)
        return data

    def write_script(self, path, **slicing):
        """The executable inventory script AWX writes for a job (its build_inventory)."""
        data = self.script_data(**slicing)
        for variables in data["_meta"]["hostvars"].values():
            variables.pop("remote_tower_id", None)        # AWX keeps the ids for its host map
        with open(path, "w") as handle:
            handle.write("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(data))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR)
        return data


def awx_extra_vars(job_id, template_name, inventory_name="slipway"):
    """The awx_* (and tower_*) variables AWX adds to a job's extra vars."""
    names = {"job_id": job_id, "job_launch_type": "manual", "job_template_id": 7, "job_template_name": template_name,
             "user_id": 1, "user_name": "admin", "inventory_id": 3, "inventory_name": inventory_name,
             "project_revision": "0" * 40, "project_scm_branch": "main", "execution_node": "localhost"}
    extra = {}
    for key, value in names.items():
        extra["awx_" + key] = value
        extra["tower_" + key] = value
    return extra


class Job:
    """One AWX job as a private data directory for ansible-runner."""

    def __init__(self, directory, job_id, playbook, extra_vars=None, ssh_key=None, credentials=(),
                 template_name=None):
        self.directory = str(directory)
        self.job_id = job_id
        self.playbook = playbook
        os.makedirs(os.path.join(self.directory, "env"), exist_ok=True)
        os.makedirs(os.path.join(self.directory, "inventory"), exist_ok=True)
        os.makedirs(os.path.join(self.directory, "cp"), mode=0o700, exist_ok=True)
        # AWX copies the project into the directory; here the project is this collection's playbooks/
        # (the roles and plugins come from the collection installed in the "EE": the collections path)
        shutil.copytree(os.path.join(collection_root(), "playbooks"), os.path.join(self.directory, "project", "playbooks"))
        self.env = self._awx_env()
        self.injected = {}           # credential variables as AWX injects them (files under /runner)
        for definition, inputs in credentials:
            self.injected.update(awx_rules.inject(definition, inputs, self.directory)[0])
        self.extra_vars = awx_extra_vars(job_id, template_name or os.path.basename(playbook))
        self.extra_vars.update(extra_vars or {})
        self._write_env(self.directory)
        self._write("extravars", self.extra_vars)
        if ssh_key:
            # the job's machine credential: ansible-runner loads it into an ssh-agent
            shutil.copy(ssh_key, os.path.join(self.directory, "env", "ssh_key"))

    def _awx_env(self):
        env = {key: value for key, value in ansible_env().items()
               if key.startswith(("ANSIBLE_COLLECTIONS", "SLIPWAY_CATALOG_CACHE"))}
        env.update({
            "JOB_ID": str(self.job_id), "INVENTORY_ID": "3", "PROJECT_REVISION": "0" * 40,
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000", "AWX_HOST": "https://awx.invalid",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(self.directory, "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False", "ANSIBLE_FORCE_COLOR": "False", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_DEPRECATION_WARNINGS": "False",
            # a job's HOME is its own (the EE's), so nothing of this host's ~/.ssh takes part
            "HOME": os.path.join(self.directory, "home"),
        })
        os.makedirs(env["HOME"], exist_ok=True)
        return env

    def _write_env(self, runs_in):
        """env/envvars for a job that runs in directory ``runs_in``: an EE mounts it at /runner, and
        outside a container the injected files are where the directory is."""
        env = dict(self.env, **{key: awx_rules.host_path(value, str(runs_in)) for key, value in self.injected.items()})
        self._write("envvars", env)

    def _write(self, name, data):
        with open(os.path.join(self.directory, "env", name), "w") as handle:
            yaml.safe_dump(data, handle)

    def inventory(self, awx_inventory, **slicing):
        """Write the job's inventory script; returns the script's data."""
        return awx_inventory.write_script(os.path.join(self.directory, "inventory", "hosts"), **slicing)

    def _runner_args(self):
        return ["-p", self.playbook, "--ident", str(self.job_id)]

    def start(self):
        """ansible-runner run, in the background: returns the Popen."""
        return subprocess.Popen(ansible_command("ansible-runner", "run", self.directory, *self._runner_args()),
                                env=self._runner_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)

    def run(self, timeout=1200):
        proc = self.start()
        output = proc.communicate(timeout=timeout)[0]
        return proc.returncode, output

    def run_on_execution_node(self, worker_dir, results_dir, timeout=1200):
        """ansible-runner transmit | ansible-runner worker | ansible-runner process, as AWX with receptor."""
        env = self._runner_env()
        self._write_env(worker_dir)          # the worker unpacks the job into its own directory
        transmit = subprocess.Popen(ansible_command("ansible-runner", "transmit", self.directory, *self._runner_args()),
                                    env=env, stdout=subprocess.PIPE)
        worker = subprocess.Popen(ansible_command("ansible-runner", "worker", "--private-data-dir", str(worker_dir)),
                                  env=env, stdin=transmit.stdout, stdout=subprocess.PIPE)
        transmit.stdout.close()
        process = subprocess.Popen(ansible_command("ansible-runner", "process", str(results_dir), "--ident",
                                                   str(self.job_id)), env=env,
                                   stdin=worker.stdout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True)
        worker.stdout.close()
        output = process.communicate(timeout=timeout)[0]
        for child in (transmit, worker):
            child.wait(timeout=60)
        return (transmit.returncode, worker.returncode, process.returncode), output

    def _runner_env(self):
        env = ansible_env()
        env.pop("ANSIBLE_HOST_KEY_CHECKING", None)
        return env

    def artifacts(self, base=None):
        return Artifacts(os.path.join(str(base or self.directory), "artifacts", str(self.job_id)))


class Artifacts:
    """What ansible-runner leaves in artifacts/<ident>: rc, status, the events."""

    def __init__(self, path):
        self.path = path

    def read(self, name):
        with open(os.path.join(self.path, name)) as handle:
            return handle.read().strip()

    def events(self):
        directory = os.path.join(self.path, "job_events")
        found = []
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name)) as handle:
                found.append(json.load(handle))
        return sorted(found, key=lambda event: event.get("counter", 0))

    def host_results(self, event_name="runner_on_ok"):
        return [e for e in self.events() if e.get("event") == event_name]

    def stats(self):
        (stats,) = [e for e in self.events() if e.get("event") == "playbook_on_stats"]
        return stats["event_data"]
