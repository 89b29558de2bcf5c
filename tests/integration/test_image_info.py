# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_info and size_info in a real `ansible-playbook` run, and their `ansible-doc`.

The ad-hoc calls of the same modules run through pytest-ansible in tests/modules_adhoc/test_image_info.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from support.collection import ansible_command, ansible_env  # noqa: E402  pylint: disable=wrong-import-position


def run(*args, env=None, check=True):
    proc = subprocess.run(list(args), env=env or ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%s):\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr))
    return proc


PLAYBOOK = """\
- name: image_info and size_info in a play
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/slipway.cloud.all:
      catalog: ["@shipped", "{{ playbook_dir }}/layer"]
  tasks:
    - name: Resolve my copy on both Exoscale zones (check mode too)
      slipway.cloud.image_info:
        image: my-debian
        clouds: [exoscale-ch-gva, exoscale-ch-dk]
      check_mode: true
      register: copy

    - name: The copy is bigger on gva only
      ansible.builtin.assert:
        that:
          - copy is not changed
          - copy.placements | map(attribute='flavor') | list == ['Medium', 'Tiny']
          - copy.placements[0].sources.flavor is search('my-debian clouds.exoscale-ch-gva at .*layer/mine.yml:5')
          - copy.placements[1].sources.flavor is search('debian-12 at ')

    - name: A call-time size and groups
      slipway.cloud.image_info:
        image: debian-12
        cloud: exoscale-ch-gva
        size: {cpu: 2, ram_gb: 4}
        security_groups: [slipway_open_all]
      register: sized

    - name: Check it
      ansible.builtin.assert:
        that:
          - sized.placements[0].flavor == 'Medium'
          - sized.placements[0].security_groups == ['slipway_open_all']

    - name: List the images
      slipway.cloud.image_info:
        cloud: local-a
      register: listing

    - name: Local clouds have no Ubuntu
      ansible.builtin.assert:
        that:
          - listing.images | map(attribute='name') | list == ['debian-12', 'debian-12-web', 'my-debian']

    - name: A size no flavor satisfies
      slipway.cloud.size_info:
        cloud: exoscale-ch-gva
        cpu: 16
        ram_gb: 16
      register: too_big
      ignore_errors: true

    - name: The error names the cloud and the nearest flavors
      ansible.builtin.assert:
        that:
          - too_big is failed
          - too_big.cloud == 'exoscale-ch-gva'
          - "'nearest: Huge' in too_big.msg"
"""


def test_playbook_with_module_defaults_and_a_user_layer(tmp_path):
    (tmp_path / "layer").mkdir()
    (tmp_path / "layer" / "mine.yml").write_text(
        "images:\n  my-debian:\n    parent: debian-12\n    clouds:\n      exoscale-ch-gva: {size: {cpu: 2, ram_gb: 4}}\n")
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    proc = run(*ansible_command("ansible-playbook", str(tmp_path / "play.yml")))  # implicit localhost: this Python
    assert "ok=8 " in proc.stdout and "failed=0" in proc.stdout and "ignored=1" in proc.stdout, proc.stdout


@pytest.mark.parametrize("module", ["slipway.cloud.image_info", "slipway.cloud.size_info"])
def test_ansible_doc_renders(module):
    proc = run(*ansible_command("ansible-doc", module))
    assert "OPTIONS" in proc.stdout and "RETURN VALUES" in proc.stdout and "catalog" in proc.stdout
    json_doc = json.loads(run(*ansible_command("ansible-doc", "--json", module)).stdout)
    assert json_doc[module]["doc"]["options"]["catalog"]["elements"] == "path"
