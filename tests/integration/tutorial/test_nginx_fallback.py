# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx on a cloud declared `security_groups: false`: the port is opened by the firewall role inside the
machine (the security_group module answers supported: false), and the page is fetched."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import uuid

import pytest

from support.tutorial import (
    NO_GROUPS_CLOUD, MachineWatcher, assert_nothing_left, destroy_deployment, run_playbook,
)

pytestmark = pytest.mark.long
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("image, login_user", [("debian-12-extra", "root"), ("debian-12-sudo", "debian")])
def test_nginx_opens_its_port_with_the_firewall_role(extra_clouds, image, login_user):
    """As root, and as a login user with sudo: then both roles must escalate to install and to load nft."""
    deployment = "tutfb-" + uuid.uuid4().hex[:8]
    clouds = [NO_GROUPS_CLOUD]
    try:
        with MachineWatcher(extra_clouds, deployment) as watcher:
            result = run_playbook(os.path.join(HERE, "fallback.yml"), extra_clouds.env(),
                                  "-e", json.dumps({"image": image, "clouds": clouds,
                                                    "deployment": deployment, "wait_timeout": 90}))
    finally:
        destroy_deployment(extra_clouds, deployment, clouds)
    out = result.stdout
    assert result.returncode == 0, out[-5000:]
    # The role went the firewall way, and said so.
    assert re.search(r"TASK \[slipway.cloud.firewall : Write the rules as one nftables table\] \**\nchanged:", out), \
        out[-5000:]
    assert re.search(r"rule\(s\) applied as nftables table inet slipway_firewall .*the kernel enforces ports "
                     r"(80,22|22,80)", out), out[-5000:]
    assert "title 'Welcome to nginx!'" in out
    assert re.search(r"at 198\.18\.47\.\d+ as %s," % login_user, out), out[-5000:]
    assert "fallback: port 80 open, port 8082 dropped, firewall table loaded" in out
    assert_nothing_left(extra_clouds, deployment, clouds, watcher)
