# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A user's own role, made from nothing outside the collection, tested with `molecule test` on local clouds.

The way docs/molecule.md tells a user to do it: `ansible-galaxy role init`, a scenario whose create and
destroy playbooks import slipway.cloud.molecule_create / molecule_destroy, platforms naming a cloud of
the catalog. The catalog is the shipped one plus a layer with two local clouds of the test's own
(temporary state root, free /24s), not set up beforehand: molecule_create must set them up and
molecule_destroy must tear them down, leaving nothing on the host.

Also: a bad platform fails before anything is made, naming it; on an EC2 cloud (moto) nothing local is
set up, a machine without host keys stops create clearly, and destroy removes it all the same.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest
import yaml

from support.collection import ansible_command, ansible_env

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import StateRoot, resolve_images, resolve_root

#: the /24s the scratch-role clouds pick from (the shipped clouds, the module and local tests use others)
SUBNETS = ["198.18.%d.0/24" % third for third in range(241, 255)]

TASKS = """\
---
- name: Write the greeting file
  ansible.builtin.copy:
    dest: /etc/greeting
    content: "hello from {{ inventory_hostname }}\\n"
    owner: root
    group: root
    mode: "0644"

- name: Add the service user
  ansible.builtin.user:
    name: greeter
    system: true
    shell: /usr/sbin/nologin
    create_home: false
"""

CONVERGE = """\
---
- name: Converge
  hosts: all
  gather_facts: false
  tasks:
    - name: Apply the role
      ansible.builtin.include_role:
        name: greeting
"""

VERIFY = """\
---
- name: Verify
  hosts: all
  gather_facts: false
  vars_files:
    - "{{ molecule_ephemeral_directory }}/slipway_{{ inventory_hostname }}.yml"
  tasks:
    - name: Read the greeting
      ansible.builtin.slurp:
        src: /etc/greeting
      register: greeting_file

    - name: Read the users
      ansible.builtin.getent:
        database: passwd
        key: greeter

    - name: The role did its work, on a machine of the platform's cloud
      ansible.builtin.assert:
        that:
          - greeting_file.content | b64decode == 'hello from ' ~ inventory_hostname ~ '\\n'
          - ansible_facts.getent_passwd.greeter[5] == '/usr/sbin/nologin'
          - slipway_name == inventory_hostname
"""


def free_subnets(count):
    used = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    free = [s for s in SUBNETS if " %s." % s.rsplit(".", 1)[0] not in used]
    if len(free) < count:
        pytest.skip("no %d free /24s among %s" % (count, ", ".join(SUBNETS)))
    start = os.getpid() % (len(free) - count + 1)
    return free[start:start + count]


class ScratchClouds:
    """Two local clouds in a temporary state root, declared in a catalog layer and never set up here."""

    def __init__(self, directory):
        self.root = os.path.join(directory, "state")
        self.images = resolve_images(resolve_root(None))      # the base image cache is shared: built once
        self.state = StateRoot(self.root, self.images)
        self.names = ("mol-a", "mol-b")
        self.subnets = dict(zip(self.names, free_subnets(2)))
        self.layer = os.path.join(directory, "clouds.yml")
        clouds = {name: {"description": "scratch-role test cloud", "provider": "local", "security_groups": True,
                         "options": {"subnet": subnet, "root": self.root, "images": self.images},
                         "flavors": {"Tiny": {"cpu": 1, "ram_gb": 1}}}
                  for name, subnet in self.subnets.items()}
        images = {"debian-12-mol": {"description": "Debian 12 on the scratch clouds", "parent": "debian-12",
                                    "clouds": {name: {"image_id": "debian-12", "login_user": "root"}
                                               for name in self.names}}}
        with open(self.layer, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"clouds": clouds, "images": images}, handle, sort_keys=False)

    def leftovers(self):
        """Everything of these clouds still on the host: [] after molecule's destroy."""
        found = []
        if self.state.clouds():
            found.append("clouds recorded: %s" % sorted(self.state.clouds()))
        if self.state.machines():
            found.append("machines recorded: %s" % [r.get("name") for r in self.state.machines()])
        addresses = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                                   check=False).stdout
        for name, subnet in self.subnets.items():
            if " %s." % subnet.rsplit(".", 1)[0] in addresses:
                found.append("an interface still holds %s (%s)" % (subnet, name))
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
        if re.search(r"\b%s\b" % re.escape(self.state.nft_table), tables):
            found.append("nft table " + self.state.nft_table)
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            mounts = [line.split()[4] for line in handle if self.root in line]
        found.extend("mount " + point for point in mounts)
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            path = os.path.join("/sys/fs/cgroup", hierarchy, self.state.cgroup_parent)
            if os.path.exists(path):
                found.append("cgroup " + path)
        if os.path.isdir(os.path.join(self.root, "machines")) and os.listdir(os.path.join(self.root, "machines")):
            found.append("machine directories under " + self.root)
        return found

    def teardown(self):
        """After a failed run: remove what molecule's destroy may have left (the assertion already failed)."""
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup

        if self.state.clouds() or self.state.machines():
            hostsetup.teardown_host(self.state)


@pytest.fixture
def scratch_clouds():
    # The host packages may be missing: molecule_create installs them (the local_cloud role), as for a user.
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("local machines need Linux and root")
    directory = tempfile.mkdtemp(prefix="slipway-molecule-clouds-")
    clouds = ScratchClouds(directory)
    yield clouds
    try:
        clouds.teardown()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def scratch_role(directory, platforms, catalog_layer):
    """`ansible-galaxy role init greeting` in ``directory``, its tasks, and a molecule scenario for it."""
    os.makedirs(directory, exist_ok=True)
    subprocess.run(ansible_command("ansible-galaxy", "role", "init", "--init-path", directory, "greeting"),
                   env=ansible_env(), check=True, capture_output=True, text=True, timeout=120)
    role = os.path.join(directory, "greeting")
    write(os.path.join(role, "tasks", "main.yml"), TASKS)
    scenario = os.path.join(role, "molecule", "default")
    molecule_yml = {
        "prerun": False,
        "dependency": {"name": "galaxy", "enabled": False},
        "driver": {"name": "default", "options": {"managed": True}},
        "platforms": platforms,
        "provisioner": {
            "name": "ansible",
            # the role under test is found beside its own directory, as `name: greeting`
            "env": {"SLIPWAY_CATALOG": "@shipped:" + catalog_layer,
                    "ANSIBLE_ROLES_PATH": "${MOLECULE_PROJECT_DIRECTORY}/.."},
            "connection_options": {
                "ansible_ssh_common_args": (
                    "-o UserKnownHostsFile=${MOLECULE_EPHEMERAL_DIRECTORY}/known_hosts "
                    "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"),
                "ansible_python_interpreter": "auto_silent",
            },
        },
        "verifier": {"name": "ansible"},
    }
    write(os.path.join(scenario, "molecule.yml"), "---\n" + yaml.safe_dump(molecule_yml, sort_keys=False))
    write(os.path.join(scenario, "create.yml"), textwrap.dedent("""\
        ---
        - name: Create the machines
          ansible.builtin.import_playbook: slipway.cloud.molecule_create
        """))
    write(os.path.join(scenario, "destroy.yml"), textwrap.dedent("""\
        ---
        - name: Destroy the machines
          ansible.builtin.import_playbook: slipway.cloud.molecule_destroy
        """))
    write(os.path.join(scenario, "converge.yml"), CONVERGE)
    write(os.path.join(scenario, "verify.yml"), VERIFY)
    return role


def molecule(role, *args, **env):
    # molecule's own default (~/.ansible/tmp/molecule.<hash of the role's name>.<scenario>) is shared by
    # every checkout of a role of that name on the host
    environ = ansible_env(ANSIBLE_STDOUT_CALLBACK="default",
                          MOLECULE_EPHEMERAL_DIRECTORY=os.path.join(os.path.dirname(role), "molecule-run"), **env)
    return subprocess.run(ansible_command("molecule", *args), cwd=role, env=environ, capture_output=True,
                          text=True, timeout=1800, check=False)


PLATFORMS = {
    "one-platform": [{"name": "greet-1", "cloud": "mol-a", "image": "debian-12-mol"}],
    "two-clouds": [{"name": "greet-a", "cloud": "mol-a", "image": "debian-12-mol"},
                   {"name": "greet-b", "cloud": "mol-b", "image": "debian-12-mol", "size": {"cpu": 1, "ram_gb": 1},
                    # what a cloud that returns no host keys needs: the keys seen at first contact
                    "host_keys": "scan"}],
}


@pytest.mark.long
@pytest.mark.parametrize("platforms", sorted(PLATFORMS))
def test_molecule_test_of_a_scratch_role(scratch_clouds, tmp_path, platforms):
    role = scratch_role(str(tmp_path), PLATFORMS[platforms], scratch_clouds.layer)
    assert not scratch_clouds.state.clouds(), "the clouds must not be set up before molecule runs"

    run = molecule(role, "test")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    for step in ("destroy", "syntax", "create", "converge", "idempotence", "verify"):
        assert "default > %s: Executed: Successful" % step in output, (step, output[-8000:])
    # molecule_create set the scratch clouds up, molecule_destroy tore them down, and nothing is left
    clouds = sorted(set(p["cloud"] for p in PLATFORMS[platforms]))
    assert "%s set up under %s" % (", ".join(clouds), scratch_clouds.root) in output, output[-8000:]
    assert "%s torn down under %s" % (", ".join(clouds), scratch_clouds.root) in output, output[-8000:]
    assert scratch_clouds.leftovers() == []


@pytest.mark.parametrize("platform, words", [
    ({"name": "bad-1", "cloud": "mol-a", "flavour": "Tiny"},
     "molecule.yml platform bad-1: unknown key flavour; valid keys: name, cloud, image, size, security_groups, "
     "host_keys, wait"),
    ({"name": "bad-2", "cloud": "mol-a", "host_keys": "trust"},
     "molecule.yml platform bad-2: host_keys is trust, valid: returned, scan"),
    ({"name": "bad-3", "cloud": "mol-a", "image": "ubuntu-24.04"},
     "image 'ubuntu-24.04' has no image_id or image_lookup for cloud mol-a"),
], ids=["unknown-key", "bad-host-keys", "unknown-image"])
def test_a_bad_platform_fails_before_anything_is_made(scratch_clouds, tmp_path, platform, words):
    role = scratch_role(str(tmp_path), [platform], scratch_clouds.layer)
    run = molecule(role, "create")
    output = run.stdout + run.stderr
    assert run.returncode != 0 and words in output, output[-6000:]
    assert scratch_clouds.leftovers() == [] and not os.path.isdir(os.path.join(scratch_clouds.root, "clouds"))


@pytest.fixture
def moto_layer(tmp_path):
    """A catalog layer with the EC2 cloud moto-a on a moto server of this test, and its credentials."""
    import string

    from support.moto_server import MotoServer

    server = MotoServer(mode="process").start()
    try:
        template = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration", "modules", "catalog", "moto.yml")
        with open(template, encoding="utf-8") as handle:
            text = string.Template(handle.read()).substitute(moto_url=server.url)
        path = str(tmp_path / "moto.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield server, path
    finally:
        server.stop()


def test_another_cloud_without_host_keys_fails_clearly_and_destroy_cleans_up(moto_layer, tmp_path):
    """On an EC2 cloud (moto) nothing local is set up; the machine comes back without host keys, so create
    stops with a message naming it, and destroy still finds and removes it by the scenario's deployment."""
    import boto3

    server, layer = moto_layer
    credentials = {"AWS_ACCESS_KEY_ID": "AKIASLIPWAYMOLECULE1", "AWS_SECRET_ACCESS_KEY": "slipway-molecule-secret"}
    role = scratch_role(str(tmp_path / "work"), [{"name": "ec2-box", "cloud": "moto-a", "image": "trusty",
                                                          # moto's addresses are made up: its catalog entry
                                                          # turns the SSH probe off
                                                          "wait": "running"}], layer)
    client = boto3.client("ec2", region_name="us-east-1", endpoint_url=server.url,
                          aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"])

    def live():
        reservations = client.describe_instances(Filters=[
            {"Name": "tag:slipway:name", "Values": ["ec2-box"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        return [i["InstanceId"] for r in reservations for i in r["Instances"]]

    created = molecule(role, "create", **credentials)
    output = created.stdout + created.stderr
    assert created.returncode != 0, output[-6000:]
    assert "ec2-box on moto-a came back without SSH host keys" in output and "host_keys: scan" in output, output[-6000:]
    assert "slipway.cloud.local_cloud" not in output          # no local cloud was touched
    assert len(live()) == 1

    destroyed = molecule(role, "destroy", **credentials)
    assert destroyed.returncode == 0, (destroyed.stdout + destroyed.stderr)[-6000:]
    assert live() == []
