# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_info and size_info through real `ansible`, `ansible-playbook` and `ansible-doc` runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from support.collection import ansible_command, ansible_env, collection_root  # noqa: E402  pylint: disable=wrong-import-position


def run(*args, env=None, check=True):
    proc = subprocess.run(list(args), env=env or ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%s):\n%s\n%s" % (args, proc.returncode, proc.stdout, proc.stderr))
    return proc


def adhoc(module, arguments, **env):
    """Result of one ad-hoc task on localhost, from the json stdout callback."""
    proc = run(*ansible_command("ansible", "localhost", "-m", module, "-a", arguments),
               env=ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", **env),
               check=False)
    data = json.loads(proc.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_adhoc_image_info_uses_the_shipped_catalog():
    result = adhoc("slipway.cloud.image_info", "image=debian-12 cloud=local-a")
    assert result["changed"] is False and not result.get("failed"), result
    assert result["catalog"] == [os.path.join(collection_root(), "catalog")]
    (placement,) = result["placements"]
    assert placement["cloud"] == "local-a" and placement["image_id"] == "debian-12"
    assert (placement["flavor"], placement["cpu"], placement["ram_gb"]) == ("Tiny", 1, 1)
    assert placement["sources"]["login_user"].startswith("debian-12 clouds.local-a at ")


def test_adhoc_error_carries_details():
    result = adhoc("slipway.cloud.image_info", "image=ubuntu-24.04 clouds=local-a,ec2")
    assert result["failed"] is True
    assert result["msg"].startswith("image 'ubuntu-24.04' has no image_id or image_lookup for cloud local-a")
    assert result["image"] == "ubuntu-24.04" and result["cloud"] == "local-a"


def test_adhoc_size_info():
    result = adhoc("slipway.cloud.size_info", "cloud=ultimum cpu=16 ram_gb=16")
    assert (result["flavor"], result["cpu"], result["ram_gb"]) == ("Large Plus", 16, 16)
    assert [c["name"] for c in result["candidates"]] == ["Extra Large"]
    table = adhoc("slipway.cloud.size_info", "cloud=exoscale-ch-gva")
    assert [f["name"] for f in table["flavors"]][:2] == ["Micro", "Tiny"] and "flavor" not in table
    failed = adhoc("slipway.cloud.size_info", "cloud=exoscale-ch-gva cpu=16 ram_gb=16")
    assert failed["failed"] and failed["valid"] == ["Huge", "Extra-large", "Large"]
    bad = adhoc("slipway.cloud.size_info", "cloud=exoscale-ch-gva cpu=0 ram_gb=1")
    assert bad["failed"] and bad["msg"].startswith("cpu must be greater than 0")


def test_slipway_catalog_environment_variable(tmp_path):
    (tmp_path / "mine.yml").write_text("images:\n  my-debian:\n    parent: debian-12\n    ports: [8080]\n")
    layers = os.pathsep.join([os.path.join(collection_root(), "catalog"), str(tmp_path)])
    result = adhoc("slipway.cloud.image_info", "image=my-debian cloud=local-b", SLIPWAY_CATALOG=layers)
    assert result["placements"][0]["ports"] == [8080], result
    assert result["catalog"][1] == str(tmp_path)


OWN_IMAGE = """\
clouds:
  no-groups: {provider: local, sizing: explicit, security_groups: false}
images:
  my-own:
    login_user: root
    size: {cpu: 1, ram_gb: 1}
    clouds:
      local-a: {image_id: debian-12}
      ec2: {image_id: ami-0123456789abcdef0}
      no-groups: {image_id: debian-12}
"""


def test_image_info_shows_the_catalog_default_groups_and_where_they_are_set(tmp_path):
    shipped = os.path.join(collection_root(), "catalog", "security_groups.yml")
    with open(shipped, encoding="utf-8") as handle:
        line = handle.read().split("\n").index("  security_groups: [slipway_managed]") + 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "images.yml").write_text(OWN_IMAGE)
    layers = [os.path.join(collection_root(), "catalog"), str(tmp_path / "mine")]
    result = adhoc("slipway.cloud.image_info", "image=my-own", SLIPWAY_CATALOG=os.pathsep.join(layers))
    placements = {p["cloud"]: p for p in result["placements"]}
    assert list(placements) == ["ec2", "local-a", "no-groups"], result
    for cloud in ("ec2", "local-a"):
        assert placements[cloud]["security_groups"] == ["slipway_managed"]
        assert placements[cloud]["sources"]["security_groups"] == "catalog defaults at %s:%d" % (shipped, line)
    assert placements["no-groups"]["security_groups"] == []
    assert placements["no-groups"]["sources"]["security_groups"] == "cloud no-groups has no security groups"

    # A team layer on top: its default wins; [] means none; images that name groups keep theirs.
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "defaults.yml").write_text("# our machines get no group unless their image names one\n"
                                                    "defaults:\n  security_groups: []\n")
    layers.append(str(tmp_path / "team"))
    own = adhoc("slipway.cloud.image_info", "image=my-own cloud=ec2", SLIPWAY_CATALOG=os.pathsep.join(layers))
    assert own["placements"][0]["security_groups"] == []
    assert own["placements"][0]["sources"]["security_groups"] == "catalog defaults at %s:3" % (
        tmp_path / "team" / "defaults.yml")
    debian = adhoc("slipway.cloud.image_info", "image=debian-12 cloud=ec2", SLIPWAY_CATALOG=os.pathsep.join(layers))
    assert debian["placements"][0]["security_groups"] == ["slipway_managed"]
    assert debian["placements"][0]["sources"]["security_groups"].startswith("debian-12 at ")

    # A misspelt key under defaults: one error naming the file, line, key and the closest valid key.
    (tmp_path / "team" / "defaults.yml").write_text("defaults:\n  security_group: []\n")
    failed = adhoc("slipway.cloud.image_info", "image=my-own", SLIPWAY_CATALOG=os.pathsep.join(layers))
    assert failed["failed"] is True
    assert failed["msg"] == ("%s:2: defaults.security_group: unknown key 'security_group'; did you mean "
                             "'security_groups'?; valid: security_groups" % (tmp_path / "team" / "defaults.yml"))
    assert failed["key"] == "defaults.security_group" and failed["line"] == 2


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
        cloud: ultimum
        size: {cpu: 2, ram_gb: 4}
        security_groups: [slipway_open_all]
      register: sized

    - name: Check it
      ansible.builtin.assert:
        that:
          - sized.placements[0].flavor == 'Standard Plus'
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


MOTO_LAYER = """\
clouds:
  moto:
    provider: ec2
    region: us-east-1
    endpoint: %s
    credentials: {key: AWS_ACCESS_KEY_ID, secret: AWS_SECRET_ACCESS_KEY}
    flavors:
      t3.micro: {cpu: 2, ram_gb: 1}
images:
  trusty:
    login_user: ubuntu
    size: {cpu: 1, ram_gb: 1}
    clouds:
      moto:
        image_lookup: {name: "ubuntu/images/hvm-ssd/ubuntu-trusty-14.04-amd64-server-*", owner: "099720109477"}
  nothing:
    parent: trusty
    clouds:
      moto:
        image_lookup: {name: "no-such-image-*"}
"""


@pytest.fixture(scope="module")
def moto_layer(tmp_path_factory):
    from support.moto_server import MotoServer  # pylint: disable=import-outside-toplevel
    server = MotoServer(mode="process").start()
    layer = tmp_path_factory.mktemp("moto-layer")
    (layer / "moto.yml").write_text(MOTO_LAYER % server.url)
    yield str(layer)
    server.stop()


def test_resolve_lookups_asks_the_cloud_for_the_newest_match(moto_layer):
    creds = {"AWS_ACCESS_KEY_ID": "AKIDSLIPWAYTEST", "AWS_SECRET_ACCESS_KEY": "slipway-test-secret"}
    plain = adhoc("slipway.cloud.image_info", "image=trusty catalog=%s" % moto_layer, **creds)
    assert plain["placements"][0]["image_id"] is None          # no cloud call unless asked
    found = adhoc("slipway.cloud.image_info", "image=trusty resolve_lookups=true catalog=%s" % moto_layer, **creds)
    placement = found["placements"][0]
    assert placement["image_id"] == "ami-1e749f67", found      # moto's Canonical trusty AMI
    assert placement["sources"]["image_id"].startswith("newest image on moto matching trusty clouds.moto at ")
    missing = adhoc("slipway.cloud.image_info", "image=nothing resolve_lookups=true catalog=%s" % moto_layer, **creds)
    assert missing["failed"] and "no-such-image-*" in missing["msg"], missing


def test_options_that_need_an_image():
    result = adhoc("slipway.cloud.image_info", "cloud=local-a resolve_lookups=true")
    assert result["failed"] and "resolve_lookups is True but all of the following are missing: image" in result["msg"]
    result = adhoc("slipway.cloud.image_info", "image=debian-12 cloud=local-a clouds=local-b")
    assert result["failed"] and "mutually exclusive" in result["msg"]
