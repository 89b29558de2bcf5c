# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/local_cloud.yml (the slipway.cloud.local_cloud role): present, idempotent, absent.

Uses an isolated state root and subnet, so the shared local clouds are never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from support.collection import ansible_command, ansible_env, collection_root
from support.local_cloud import free_subnet, host_can_run_local_machines

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import (
    StateRoot, resolve_images, resolve_root,
)

SUBNET = {}       # the isolated subnet of this run, picked by the fixture


def run_playbook(root, *extra):
    images = resolve_images(resolve_root(None))
    definitions = json.dumps([{"name": "local-role", "subnet": SUBNET["local-role"]}])
    result = subprocess.run(
        ansible_command("ansible-playbook", os.path.join(collection_root(), "playbooks", "local_cloud.yml"),
                        "-e", "local_cloud_root=%s local_cloud_images=%s" % (root, images),
                        "-e", '{"local_cloud_definitions": %s}' % definitions, *extra),
        env=ansible_env(), check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)", result.stdout)
    assert recap, result.stdout[-2000:]
    return int(recap.group(2)), result.stdout


@pytest.fixture
def role_root():
    reason = host_can_run_local_machines()
    if reason:
        pytest.skip(reason)
    root = tempfile.mkdtemp(prefix="slipway-local-role-")
    SUBNET["local-role"] = free_subnet(200, 250)
    yield root
    run_playbook(root, "-e", "local_cloud_state=absent")
    shutil.rmtree(root, ignore_errors=True)


def test_set_up_is_idempotent_and_absent_removes_it(role_root):
    state = StateRoot(role_root)
    changed = run_playbook(role_root, "--check")[0]
    assert changed == 1 and not state.clouds(), "check mode reports the change and makes nothing"

    changed, output = run_playbook(role_root)
    assert changed == 1, output
    cloud = state.cloud("local-role")
    gateway = SUBNET["local-role"].replace(".0/24", ".1")
    assert cloud["subnet"] == SUBNET["local-role"] and cloud["gateway"] == gateway
    assert host.bridge_address(cloud["bridge"]) == [gateway + "/24"]
    assert host.nft_table_exists("inet", state.nft_table)

    changed, output = run_playbook(role_root, "--diff")
    assert changed == 0, output

    changed, output = run_playbook(role_root, "-e", "local_cloud_state=absent")
    assert changed == 1, output
    assert not host.link_exists(cloud["bridge"])
    assert not host.nft_table_exists("inet", state.nft_table)
    assert not state.clouds()
    changed, output = run_playbook(role_root, "-e", "local_cloud_state=absent")
    assert changed == 0, output


def test_a_subnet_outside_the_range_is_refused(role_root):
    result = subprocess.run(
        ansible_command("ansible-playbook", os.path.join(collection_root(), "playbooks", "local_cloud.yml"),
                        "-e", "local_cloud_root=%s" % role_root,
                        "-e", '{"local_cloud_definitions": [{"name": "bad", "subnet": "10.1.0.0/24"}]}'),
        env=ansible_env(), check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    assert result.returncode != 0
    assert "cloud bad option subnet 10.1.0.0/24 is outside 198.18.0.0/15" in result.stdout
    assert not StateRoot(role_root).clouds()
