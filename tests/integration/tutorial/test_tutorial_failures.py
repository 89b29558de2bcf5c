# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tutorial when things go wrong: one clear failure naming the machine and the step, and a teardown
that leaves nothing behind (machines, and their traces on the host)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import uuid

import pytest

from support.tutorial import BIG_CLOUD, MachineWatcher, assert_nothing_left, destroy_deployment, run_playbook

pytestmark = pytest.mark.long


def run_failing_tutorial(extra, clouds, *args):
    deployment = "tutf-" + uuid.uuid4().hex[:8]
    try:
        with MachineWatcher(extra, deployment) as watcher:
            result = run_playbook("tutorial.yml", extra.env(), "-e", "tutorial_deployment=" + deployment,
                                  "-e", json.dumps({"tutorial_clouds": clouds}), *args)
    finally:
        destroy_deployment(extra, deployment, clouds)
    assert result.returncode != 0, result.stdout[-4000:]
    final = [line for line in result.stdout.splitlines() if line.startswith("fatal: [localhost]")]
    assert final, result.stdout[-4000:]
    return deployment, watcher, final[-1], result.stdout


def test_ssh_never_answering(extra_clouds):
    # The copy's parent puts the machine in a group without SSH: the deployment waits, then gives up.
    deployment, watcher, final, out = run_failing_tutorial(
        extra_clouds, ["local-a"], "-e", "tutorial_parent=debian-12-no-ssh tutorial_image=tut-no-ssh tutorial_timeout=25")
    assert re.search(r"%s on local-a: step exercise 2 \(deploy\): step deploy: .*local-a.*%s.*(SSH|ssh)"
                     % (deployment, deployment), final), final
    assert watcher.seen, "a machine was made, then waited for"
    assert "teardown: 0 machine(s) of %s left" % deployment in out
    assert_nothing_left(extra_clouds, deployment, ["local-a"], watcher)


def test_size_the_host_cannot_give(extra_clouds):
    # tut-big's Huge flavor (64 CPU) exists in the catalog, but no machine of this host can have it.
    deployment, watcher, final, out = run_failing_tutorial(
        extra_clouds, [BIG_CLOUD], "-e", "tutorial_parent=debian-12-extra tutorial_image=tut-huge",
        "-e", json.dumps({"tutorial_size": {"cpu": 64, "ram_gb": 512}}))
    assert re.search(r"%s on %s: step exercise 2 \(deploy\): step deploy: .*%s.*Huge" % (deployment, BIG_CLOUD, BIG_CLOUD),
                     final), final
    assert "teardown: 0 machine(s) of %s left" % deployment in out
    assert_nothing_left(extra_clouds, deployment, [BIG_CLOUD], watcher)


def test_nginx_port_closed_by_a_security_group(extra_clouds):
    # The machine's only group allows SSH; the nginx role is told not to open port 80 itself.
    deployment, watcher, final, out = run_failing_tutorial(
        extra_clouds, ["local-a"], "-e", "tutorial_parent=debian-12-ssh-only tutorial_image=tut-ssh-only",
        "-e", "nginx_open_port=false nginx_check_timeout=6")
    machine = "%s.local-a" % deployment
    assert re.search(r"%s: step exercise 5 \(nginx\): %s: step nginx check: expected HTTP 200 from http://[\d.]+/.*"
                     r"is port 80 closed by a security group or firewall\?" % (re.escape(machine), re.escape(machine)),
                     final), final
    # The exercises before it passed on that machine.
    assert "%s: fetched http://" % machine in out
    assert re.search(r"%s: ran `ssh root@" % re.escape(machine), out)
    assert "teardown: 0 machine(s) of %s left" % deployment in out
    assert_nothing_left(extra_clouds, deployment, ["local-a"], watcher)
