# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instance on moto's EC2 API server through pytest-ansible's ansible_module.

What is on the cloud is read with boto3 (conftest.ec2_instances), not with slipway's provider. The whole
life cycle in playbooks (stop, start, exact counts, instance_info) is tests/integration/modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from adhoc_helpers import ec2_instances

TWO = dict(image="trusty", cloud="moto-a", names=["adhoc-1", "adhoc-2"], deployment="adhoc", wait="running")
ABSENT = dict(cloud="moto-a", deployment="adhoc", state="absent")


def test_two_machines_made_once_then_removed(slipway, moto, moto_catalog):
    planned = slipway("instance", check_mode=True, diff=True, **TWO)
    assert planned["changed"] is True and not planned.get("failed"), planned
    assert [(i["name"], i["id"]) for i in planned["instances"]] == [("adhoc-1", None), ("adhoc-2", None)]
    assert planned["diff"]["before"] == {} and sorted(planned["diff"]["after"]) == ["moto-a/adhoc-1", "moto-a/adhoc-2"]
    assert ec2_instances(moto, **{"slipway:deployment": "adhoc"}) == {}

    made = slipway("instance", **TWO)
    assert made["changed"] is True and not made.get("failed"), made
    ids = {i["name"]: i["id"] for i in made["instances"]}
    assert ec2_instances(moto, **{"slipway:deployment": "adhoc", "slipway:managed": "true"}) == ids
    assert {(i["state"], i["flavor"], i["image_id"]) for i in made["instances"]} == {
        ("running", "t3.micro", "ami-1e749f67")}

    again = slipway("instance", **TWO)
    assert again["changed"] is False and {i["name"]: i["id"] for i in again["instances"]} == ids, again

    plan_removal = slipway("instance", check_mode=True, **ABSENT)
    assert plan_removal["changed"] is True and sorted(r["name"] for r in plan_removal["removed"]) == sorted(ids)
    assert ec2_instances(moto, **{"slipway:deployment": "adhoc"}) == ids

    gone = slipway("instance", **ABSENT)
    assert gone["changed"] is True and gone["instances"] == [], gone
    assert ec2_instances(moto, **{"slipway:deployment": "adhoc"}) == {}
    assert slipway("instance", **ABSENT)["changed"] is False
