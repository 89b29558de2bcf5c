# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throttling and 5xx: with 30% of calls failing, a fleet of 20 still converges exactly.

"before": the call never reaches moto. "after": moto acts, then the answer is lost,
which is what turns a naive retry of RunInstances into a duplicate fleet.
"""

import pytest
from ec2_helpers import SSH_KEY, make_placement

from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, MANAGED_TAG, ProviderError

FLEET = ["node-%02d" % i for i in range(1, 21)]
WEB_RULES = [{"ports": [22, 80, 443], "source": "0.0.0.0/0"}, {"proto": "icmp", "source": "10.0.0.0/8"}]


def all_instances(provider):
    """Every instance moto holds, managed or not, not terminated: to catch orphans."""
    items = provider._describe_instances(
        "list everything", filters={"instance-state-name": ["pending", "running", "stopping", "stopped"]})
    return [(item.findtext("instanceId"), {t.findtext("key"): t.findtext("value") for t in item.findall("tagSet/item")})
            for item in items]


def converge(provider, placement, wanted, deployment):
    present = {m.name for m in provider.list_machines() if m.deployment == deployment}
    missing = [n for n in wanted if n not in present]
    if missing:
        created = provider.create_machines(placement, missing, SSH_KEY, {MANAGED_TAG: "true", DEPLOYMENT_TAG: deployment})
        provider.wait_machines(created, "running", timeout=60)
    return missing


@pytest.mark.parametrize("when, seed", [("before", 11), ("after", 12), ("both", 13), ("both", 14)])
def test_fleet_of_20_converges_exactly_under_30_percent_faults(provider, cloud, image_id, moto, when, seed):
    moto.set_faults(0.3, when=when, seed=seed)

    provider.ensure_security_group("web", "web", WEB_RULES)
    assert provider.ensure_security_group("web", "web", WEB_RULES)["changed"] is False
    placement = make_placement(cloud, image_id, groups=("web",))
    assert converge(provider, placement, FLEET, "fleet") == FLEET
    assert converge(provider, placement, FLEET, "fleet") == []          # second run: nothing to do

    stats = moto.faults()
    moto.set_faults(0.0)
    assert sum(stats["faults"].values()) > 5, stats               # the faults really happened...
    assert provider.caller.retries >= sum(stats["faults"].values()) - 2   # ...and were retried

    machines = provider.list_machines()
    assert sorted(m.name for m in machines) == FLEET               # exactly: no duplicate, none missing
    everything = all_instances(provider)
    assert len(everything) == 20                                   # no orphan, not even an unnamed one
    assert all(tags.get("Name") in FLEET and tags.get(DEPLOYMENT_TAG) == "fleet" for dummy, tags in everything)
    assert {m.state for m in machines} == {"running"}
    assert provider.list_security_groups()["web"] == provider.ensure_security_group("web", "web", WEB_RULES)["after"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_destroy_and_group_changes_under_faults(provider, placement, moto, when):
    machines = provider.create_machines(placement, FLEET, None, {MANAGED_TAG: "true", DEPLOYMENT_TAG: "d"})
    moto.set_faults(0.3, when=when, seed=21)
    provider.stop_machines(machines[:5])
    provider.start_machines(machines[:5])
    provider.ensure_security_group("g", "g", [{"ports": 22, "source": "0.0.0.0/0"}])
    provider.ensure_security_group("g", "g", [{"ports": 443, "source": "0.0.0.0/0"}])
    provider.delete_security_group("g")
    provider.destroy_machines(machines)
    faults = sum(moto.faults()["faults"].values())
    moto.set_faults(0.0)
    assert faults > 0
    assert provider.list_machines() == []
    assert "g" not in provider.list_security_groups()


def test_html_503_from_a_proxy_is_retried_too(provider, moto):
    moto.set_faults(0.5, kinds=["html503"], seed=2)
    for dummy in range(4):
        assert provider.list_machines() == []
    assert provider.caller.retries > 0
    moto.set_faults(1.0, kinds=["html503"], seed=5)
    with pytest.raises(ProviderError) as err:
        provider.list_machines()
    assert "HTTP 503" in err.value.msg and "gave up after 12 attempts" in err.value.msg
    assert err.value.details["http_status"] == 503


def test_retries_are_bounded(provider, moto):
    moto.set_faults(1.0, kinds=["throttle"], seed=1)
    with pytest.raises(ProviderError) as err:
        provider.list_security_groups()
    assert moto.faults()["actions"] == {"DescribeSubnets": 12}      # retry_attempts of the test cloud
    assert err.value.details["code"] == "RequestLimitExceeded"
    assert "gave up after 12 attempts" in err.value.msg


@pytest.mark.parametrize("kind", ["throttle", "internal", "html503"])
def test_lost_run_instances_answer_makes_no_duplicate(provider, placement, moto, kind):
    """moto acts on RunInstances, the answer is lost; the retry finds the fleet by its request tag."""
    moto.set_faults(1.0, when="after", kinds=[kind], only=["RunInstances"], limit=1)
    machines = provider.create_machines(placement, FLEET[:5], None, {MANAGED_TAG: "true", DEPLOYMENT_TAG: "d"})
    stats = moto.faults()
    assert stats["by_action"] == {"RunInstances": 1}
    assert stats["actions"]["RunInstances"] == 1                  # not re-sent: found by its tag instead
    assert [m.name for m in machines] == FLEET[:5]
    assert len(all_instances(provider)) == 5


def test_run_instances_failing_before_moto_is_simply_resent(provider, placement, moto):
    moto.set_faults(1.0, when="before", kinds=["throttle"], only=["RunInstances"], limit=2)
    machines = provider.create_machines(placement, FLEET[:3], None, {MANAGED_TAG: "true"})
    assert moto.faults()["actions"]["RunInstances"] == 3
    assert [m.name for m in machines] == FLEET[:3]
    assert len(all_instances(provider)) == 3


def test_naming_that_keeps_failing_says_what_was_created(provider, placement, moto):
    moto.set_faults(1.0, when="before", kinds=["internal"], only=["CreateTags"])
    with pytest.raises(ProviderError) as err:
        provider.create_machines(placement, FLEET[:3], None, {MANAGED_TAG: "true", DEPLOYMENT_TAG: "half"})
    moto.set_faults(0.0)
    created = err.value.details["created"]
    assert len(created) == 3
    assert "state=absent and the same deployment removes them" in err.value.msg
    # exactly what `absent` would find: managed, deployment "half"
    found = [m for m in provider.list_machines() if m.deployment == "half"]
    assert sorted(m.id for m in found) == sorted(created)
    provider.destroy_machines(found)
    assert provider.list_machines() == []
