# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, finding 1: cloud tags never run as templates through slipway.cloud.instances.

Machines on moto's EC2 API server carry Jinja payloads in their tags; real `ansible-inventory` and
`ansible-playbook` runs (fresh and from the inventory cache) use them through host variables, compose,
keyed_groups, groups and host names. A payload that ran would create a file; none may exist afterwards.
`make matrix` runs this file under every supported ansible-core (2.18 is where tags used to run).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

import inventory_fleet as fleet  # the moto and inventory fixtures are this directory's (conftest.py)
from inventory_fleet import group_hosts, hostvars

CLOUD = "moto-1"
REGION = fleet.REGIONS[CLOUD]


def payload(directory, marker):
    """A Jinja expression that, if Ansible ever templated it, would create ``directory/marker``."""
    return "{{ lookup('pipe', 'touch %s') }}" % os.path.join(directory, marker)


def launch(url, name, image, deployment, login_user=None):
    """One managed machine on moto with exactly these tags; returns its instance id."""
    tags = {"slipway:managed": "true", "slipway:name": name, "slipway:image": image,
            "slipway:deployment": deployment}
    if login_user:
        tags["slipway:login_user"] = login_user
    answer = fleet.ec2_client(url, REGION).run_instances(
        ImageId=fleet.IMAGE_ID, MinCount=1, MaxCount=1, InstanceType=fleet.INSTANCE_TYPE,
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}])
    return answer["Instances"][0]["InstanceId"]


@pytest.fixture
def payload_fleet(moto, tmp_path):
    """A machine whose name and image are payloads, and a benign-named one whose other tags are payloads."""
    traps = str(tmp_path / "traps")
    os.makedirs(traps)
    bad_id = launch(moto.url, payload(traps, "pwned-name"), payload(traps, "pwned-image"),
                    payload(traps, "pwned-deployment"), login_user=payload(traps, "pwned-user"))
    good_id = launch(moto.url, "web-1", payload(traps, "pwned-good-image"), payload(traps, "pwned-good-deployment"),
                     login_user=payload(traps, "pwned-good-user"))
    catalog = fleet.write_catalog(str(tmp_path / "catalog"), moto.url, regions={CLOUD: REGION}, http_timeout=20)
    return {"traps": traps, "bad_id": bad_id, "good_id": good_id, "catalog": catalog, "url": moto.url}


#: constructed options over the cloud's values and the host name
CONSTRUCTED = {
    "compose": {"image_label": "slipway_image ~ '/' ~ slipway_cloud",
                "deployment_copy": "slipway_deployment",
                "everything": "[slipway_image, slipway_deployment, ansible_user | default('')]"},
    "keyed_groups": [{"key": "slipway_image", "prefix": "img"},
                     {"key": "inventory_hostname", "prefix": "host"},
                     {"key": "slipway_deployment", "prefix": "dep"}],
    "groups": {"tagged_image": "slipway_image is defined and slipway_image | length > 0",
               "named": "inventory_hostname is defined"},
}


def write_playbook(path, output):
    """A play over every listed host that templates all of its cloud values, locally and delegated."""
    play = [{"name": "use the hosts", "hosts": "all", "gather_facts": False, "connection": "local",
             "tasks": [
                 {"name": "every host variable", "ansible.builtin.debug": {"var": "hostvars[inventory_hostname]"}},
                 {"name": "the name, groups and values",
                  "ansible.builtin.debug": {"msg": "{{ inventory_hostname }} {{ inventory_hostname_short }} "
                                                   "{{ group_names }} {{ slipway_image }} {{ image_label }} "
                                                   "{{ everything }} {{ ansible_user | default('') }}"}},
                 {"name": "a module on the controller, delegated",
                  "ansible.builtin.command": {"argv": ["echo", "{{ slipway_image }}", "{{ slipway_deployment }}",
                                                       "{{ inventory_hostname }}"]},
                  "delegate_to": "localhost", "changed_when": False},
                 {"name": "keep what the play saw", "ansible.builtin.copy": {
                     "content": "{{ {'host': inventory_hostname, 'image': slipway_image, 'label': image_label,"
                                " 'groups': group_names} | to_json }}",
                     "dest": output + "-{{ slipway_id }}.json", "mode": "0600"},
                  "delegate_to": "localhost"},
             ]}]
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


def assert_nothing_ran(fleet_info):
    made = sorted(os.listdir(fleet_info["traps"]))
    assert made == [], "cloud tags ran as templates and created %s" % made


def assert_listing_is_inert(data, stderr, fleet_info, traps):
    """The bad-named machine is left out with one warning; the benign one carries its payloads as data."""
    hv = hostvars(data)
    assert sorted(hv) == ["web-1." + CLOUD], (sorted(hv), stderr)
    good = hv["web-1." + CLOUD]
    assert good["slipway_image"] == payload(traps, "pwned-good-image")
    assert good["image_label"] == payload(traps, "pwned-good-image") + "/" + CLOUD
    assert good["deployment_copy"] == payload(traps, "pwned-good-deployment")
    assert good["everything"] == [payload(traps, name) for name in ("pwned-good-image", "pwned-good-deployment",
                                                                    "pwned-good-user")]
    assert good["ansible_user"] == payload(traps, "pwned-good-user")
    groups = [name for name in data if name != "_meta"]
    assert group_hosts(data, "host_web_1_" + CLOUD.replace("-", "_")) == ["web-1." + CLOUD], groups
    assert group_hosts(data, "tagged_image") == ["web-1." + CLOUD] and group_hosts(data, "named") == ["web-1." + CLOUD]
    # group names made of cloud values (the plugin's and keyed_groups) keep only what a group name may hold
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", name) for name in groups), groups

    text = " ".join(stderr.split())
    warnings = [line for line in text.split("[WARNING]") if fleet_info["bad_id"] in line]
    assert len(warnings) == 1, stderr
    assert "cloud %s" % CLOUD in warnings[0] and "not a valid machine name" in warnings[0], warnings
    assert payload(traps, "pwned-name") not in text, "the rejected name is echoed whole: " + stderr


def test_payload_tags_stay_data_on_every_path(payload_fleet, inventory):
    """issue 18, finding 1: payload tags never run, fresh or cached, through ansible-inventory and a playbook."""
    traps = payload_fleet["traps"]
    options = dict(catalog=[payload_fleet["catalog"]], clouds=[CLOUD], **CONSTRUCTED)
    source = inventory.write("payload.slipway.yml", **options)

    data, stderr = inventory.list(source)
    assert_nothing_ran(payload_fleet)
    assert_listing_is_inert(data, stderr, payload_fleet, traps)
    inventory.run("ansible-inventory", "-i", source, "--graph", "--vars")
    assert_nothing_ran(payload_fleet)

    seen = inventory.path("seen")
    play = write_playbook(inventory.path("use.yml"), seen)
    proc = inventory.run("ansible-playbook", "-i", source, play)
    assert_nothing_ran(payload_fleet)
    assert "ok=4" in proc.stdout and "failed=0" in proc.stdout, proc.stdout
    assert "web-1.%s" % CLOUD in proc.stdout and payload_fleet["bad_id"] not in proc.stdout, proc.stdout
    with open("%s-%s.json" % (seen, payload_fleet["good_id"]), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["image"] == payload(traps, "pwned-good-image")

    # the cached path: the first run fills the cache, the second is served from it (a machine made in
    # between is not listed) and must be just as inert
    cached = inventory.write("cached.slipway.yml", cache=True, cache_plugin="ansible.builtin.jsonfile",
                             cache_connection=inventory.path("cache"), cache_timeout=600, **options)
    for run in ("fills the cache", "served from the cache"):
        data, stderr = inventory.list(cached)
        assert_nothing_ran(payload_fleet)
        assert_listing_is_inert(data, stderr, payload_fleet, traps)
        if run == "fills the cache":
            launch(payload_fleet["url"], "later-1", "inv-debian", "d1")
    proc = inventory.run("ansible-playbook", "-i", cached, play)
    assert "ok=4" in proc.stdout and "later-" not in proc.stdout, proc.stdout
    assert_nothing_ran(payload_fleet)


def test_a_cloud_whose_name_cannot_name_hosts_is_not_listed(moto, inventory, tmp_path):
    """issue 18, finding 1: the cloud is part of host names too: one that is not a valid machine name fails by name."""
    launch(moto.url, "web-1", "inv-debian", "d1")
    catalog = fleet.write_catalog(str(tmp_path / "catalog"), moto.url, regions={CLOUD: REGION, "moto_x": REGION},
                                  http_timeout=20)
    source = inventory.write("clouds.slipway.yml", catalog=[catalog], clouds=[CLOUD, "moto_x"])
    data, stderr = inventory.list(source)
    assert sorted(hostvars(data)) == ["web-1." + CLOUD]
    text = " ".join(stderr.split())
    assert "cloud moto_x was not listed" in text and "cannot be part of a host name" in text, stderr

    alone = inventory.write("alone.slipway.yml", catalog=[catalog], clouds=["moto_x"])
    data, stderr = inventory.list(alone, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}, check=False)
    assert data is None and "no cloud could be listed" in " ".join(stderr.split()), stderr
