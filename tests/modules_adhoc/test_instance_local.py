# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instance on one real local machine through pytest-ansible's ansible_module.

The local cloud is one of the test's own (tests/support/local_cloud.py's isolated_local_cloud: a fresh
state root and /24, torn down afterwards); skipped, with the reason, where the host cannot run machines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from adhoc_helpers import shipped_catalog
# the engine comes through Ansible's collection finder, which conftest.py installed
from support.local_cloud import isolated_local_cloud, leftovers, local_ssh_key  # noqa: F401  pylint: disable=unused-import

pytestmark = [pytest.mark.local_machines, pytest.mark.long]


def test_one_machine_made_reached_once_then_removed(slipway, isolated_local_cloud, tmp_path, monkeypatch):
    iso = isolated_local_cloud
    layer = iso.catalog_layer(tmp_path, "debian-12-adhoc")
    monkeypatch.setenv("SLIPWAY_CATALOG", os.pathsep.join([shipped_catalog(), layer]))
    task = dict(image="debian-12-adhoc", cloud=iso.cloud.name, name="adhoc-1", deployment="adhoc",
                ssh_public_key_file=iso.key_path + ".pub", wait="ssh", timeout=300)

    planned = slipway("instance", check_mode=True, **task)
    assert planned["changed"] is True and planned["instances"][0]["id"] is None, planned
    assert iso.provider().list_machines() == []

    made = slipway("instance", **task)
    assert made["changed"] is True and not made.get("failed"), made
    (machine,) = made["instances"]
    assert (machine["state"], machine["flavor"]) == ("running", "Micro") and machine["host_keys"], machine
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join("%s %s\n" % (machine["private_ip"], key) for key in machine["host_keys"]))
    login = subprocess.run(["ssh", "-i", iso.key_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                            "-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "ConnectTimeout=10",
                            "root@" + machine["private_ip"], "nproc"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert login.returncode == 0 and login.stdout.strip() == "1", login.stderr

    again = slipway("instance", **task)
    assert again["changed"] is False and again["instances"][0]["id"] == machine["id"], again
    absent = dict(cloud=iso.cloud.name, deployment="adhoc", state="absent")
    gone = slipway("instance", **absent)
    assert gone["changed"] is True and gone["instances"] == [], gone
    assert leftovers(iso.state, [machine["id"]]) == []
    assert slipway("instance", **absent)["changed"] is False
