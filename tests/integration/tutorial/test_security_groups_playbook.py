# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_groups.yml: the same group on every cloud; a second run changes nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from support.tutorial import NO_GROUPS_CLOUD, run_playbook


def test_same_group_on_every_cloud_and_unchanged_the_second_time(extra_clouds):
    args = ["-e", json.dumps({"clouds": ["local-a", "local-b", NO_GROUPS_CLOUD], "names": ["tut_ssh_only"]})]
    first = run_playbook("security_groups.yml", extra_clouds.env(), *args)
    assert first.returncode == 0, first.stdout[-3000:]
    assert re.search(r"tut_ssh_only: local-a (changed|unchanged) \(1 rules\); local-b (changed|unchanged) \(1 rules\); "
                     r"%s no security groups \(use the firewall role\) \(1 rules\)" % NO_GROUPS_CLOUD, first.stdout), \
        first.stdout[-3000:]
    second = run_playbook("security_groups.yml", extra_clouds.env(), *args)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "tut_ssh_only: local-a unchanged (1 rules); local-b unchanged (1 rules)" in second.stdout
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s", second.stdout), second.stdout[-2000:]
