# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/awx_configure.yml without an AWX server: its syntax, and the credential types as it reads
them (the awx.awx modules need a controller; `make lint` runs ansible-lint --profile production on it)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import subprocess

from support import awx_rules
from support.collection import ansible_command, ansible_env, collection_root

PLAYBOOKS = os.path.join(collection_root(), "playbooks")


def playbook(*args):
    return subprocess.run(ansible_command("ansible-playbook", *args), env=ansible_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)


def test_syntax_check():
    proc = playbook("--syntax-check", os.path.join(PLAYBOOKS, "awx_configure.yml"))
    assert proc.returncode == 0, proc.stdout


def test_credential_types_reach_the_modules_literally(tmp_path):
    """The same task file awx_configure.yml includes; the injector templates must stay unrendered."""
    out = tmp_path / "types.json"
    (tmp_path / "read.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  vars:\n"
        "    ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
        "    awx_credential_types_dir: %s\n"
        "  tasks:\n"
        "    - ansible.builtin.include_tasks: %s\n"
        "    - ansible.builtin.copy:\n        dest: %s\n        content: \"{{ awx_credential_types | to_json }}\"\n"
        % (json.dumps(os.path.join(collection_root(), "awx", "credential_types")),
           json.dumps(os.path.join(PLAYBOOKS, "tasks", "awx_credential_types.yml")), json.dumps(str(out))))
    proc = playbook(str(tmp_path / "read.yml"))
    assert proc.returncode == 0, proc.stdout
    read = json.loads(out.read_text())
    files = sorted(glob.glob(os.path.join(collection_root(), "awx", "credential_types", "*.yml")))
    assert read == [awx_rules.load_type(path) for path in files]
    injectors = {t["name"]: t["injectors"] for t in read}
    assert injectors["slipway.cloud catalog layer"]["env"]["SLIPWAY_CATALOG"] == "@shipped:{{ tower.filename }}"
