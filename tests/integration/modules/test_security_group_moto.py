# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.security_group on moto (two regions), checked with boto3."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from module_helpers import group_rules

BOTH = ["moto-a", "moto-b"]
# The same three rules as a user might write them on a bad day.
MESSY_RULES = [
    {"proto": "TCP", "ports": "22", "source": "198.18.7.9/15"},
    {"proto": 6, "ports": [443, "80"], "source": "0.0.0.0/0"},
    {"protocol": "udp", "port": "8000-8100", "cidr": "0.0.0.0/0"},
]
CANONICAL = {("tcp", 22, 22, "198.18.0.0/15"), ("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0"),
             ("udp", 8000, 8100, "0.0.0.0/0")}


def group_task(**args):
    args = {k: v for k, v in args.items() if v is not None}
    return {"name": "group", "slipway.cloud.security_group": args, "ignore_errors": True}


def test_group_converges_identically_and_reruns_unchanged(ansible_moto, moto):
    run = ansible_moto.playbook
    task = group_task(name="web2", description="web", clouds=BOTH, rules=MESSY_RULES)

    check = run([task], check=True, diff=True)
    assert check.ok and check.result()["changed"] is True, check
    assert group_rules(moto, "moto-a", "web2") is None            # check mode made nothing

    made = run([task], diff=True)
    result = made.result()
    assert made.ok and result["changed"] is True, made
    assert result["clouds"]["moto-a"]["after"] == result["clouds"]["moto-b"]["after"] == result["rules"]
    assert result["rules"] == [
        {"proto": "tcp", "ports": 22, "source": "198.18.0.0/15"},
        {"proto": "tcp", "ports": 80, "source": "0.0.0.0/0"},
        {"proto": "tcp", "ports": 443, "source": "0.0.0.0/0"},
        {"proto": "udp", "ports": "8000-8100", "source": "0.0.0.0/0"},
    ]
    assert result["diff"]["after"]["moto-a"] == result["rules"]
    assert group_rules(moto, "moto-a", "web2") == CANONICAL
    assert group_rules(moto, "moto-b", "web2") == CANONICAL

    # the same rules spelled canonically, or messily again: unchanged on both clouds
    assert run([task]).result()["changed"] is False
    canonical_task = group_task(name="web2", description="web", clouds=BOTH, rules=result["rules"])
    assert run([canonical_task]).result()["changed"] is False

    # purge_rules false adds without removing; true converges exactly
    added = run([group_task(name="web2", clouds=BOTH, purge_rules=False,
                            rules=[{"proto": "icmp", "icmp_type": 8, "source": "0.0.0.0/0"}])], diff=True)
    assert added.ok and added.result()["changed"] is True, added
    rules_a = group_rules(moto, "moto-a", "web2")
    assert CANONICAL < rules_a and len(rules_a) == 5
    purged = run([task], diff=True)
    assert purged.ok and purged.result()["changed"] is True, purged
    assert len(purged.result()["diff"]["before"]["moto-a"]) == 5
    assert group_rules(moto, "moto-b", "web2") == CANONICAL
    assert run([task]).result()["changed"] is False

    # absent; again unchanged
    gone = run([group_task(name="web2", clouds=BOTH, state="absent")], diff=True)
    assert gone.ok and gone.result()["changed"] is True, gone
    assert group_rules(moto, "moto-a", "web2") is None and group_rules(moto, "moto-b", "web2") is None
    assert run([group_task(name="web2", clouds=BOTH, state="absent")]).result()["changed"] is False


def test_catalog_group_and_cloud_without_groups(ansible_moto, moto):
    run = ansible_moto.playbook
    # no rules given: the catalog's definition of "web"
    made = run([group_task(name="web", clouds=["moto-a", "moto-nosg"])])
    result = made.result()
    assert made.ok and result["changed"] is True, made
    assert group_rules(moto, "moto-a", "web") == {("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0"),
                                                  ("tcp", 22, 22, "198.18.0.0/15")}
    # a cloud without security groups does not pretend: supported false, the rules for a host firewall
    nosg = result["clouds"]["moto-nosg"]
    assert nosg["supported"] is False and nosg["changed"] is False
    assert nosg["after"] == result["rules"] and nosg["status"] == "ok"
    assert result["clouds"]["moto-a"]["supported"] is True
    assert run([group_task(name="web", clouds=["moto-a", "moto-nosg"])]).result()["changed"] is False


def test_group_errors(ansible_moto, moto):
    play = ansible_moto.playbook([
        group_task(name="nodef", cloud="moto-a"),
        group_task(name="bad", cloud="moto-a", rules=[{"proto": "tcp", "ports": 70000, "source": "0.0.0.0/0"}]),
        group_task(name="bad", cloud="moto-a", rules=[{"proto": "tcp", "ports": 22, "source": "10.0.0.300/8"}]),
        group_task(name="down", clouds=["moto-a", "moto-down"], rules=[{"proto": "tcp", "ports": 22,
                                                                       "source": "0.0.0.0/0"}]),
    ])
    nodef, port, cidr, down = (play.result(i) for i in range(4))
    assert nodef["failed"] and "nodef" in nodef["msg"] and "rules" in nodef["msg"]
    assert port["failed"] and "rules[0].ports" in port["msg"] and "70000" in port["msg"]
    assert cidr["failed"] and "rules[0].source" in cidr["msg"]
    assert down["failed"] and "1 of 2 clouds failed" in down["msg"]
    assert down["clouds"]["moto-a"]["status"] == "ok" and down["clouds"]["moto-a"]["changed"] is True
    assert group_rules(moto, "moto-a", "down") == {("tcp", 22, 22, "0.0.0.0/0")}
