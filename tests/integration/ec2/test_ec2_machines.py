# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 provider against moto: fleets, tags, one-call listing, state changes, waits, key pairs."""

import time

import pytest
from ec2_helpers import SSH_KEY, make_placement

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    MANAGED_TAG,
    NAME_TAG,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.provider import Ec2Provider
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import parse_public_key

TAGS = {MANAGED_TAG: "true", DEPLOYMENT_TAG: "dep-1"}


def names(count, prefix="web"):
    return ["%s-%02d" % (prefix, i) for i in range(1, count + 1)]


def converge(provider, placement, wanted, deployment="dep-1"):
    """What the instance module does per cloud: create only the names not there yet."""
    present = {m.name for m in provider.list_machines() if m.deployment == deployment}
    missing = [n for n in wanted if n not in present]
    tags = {MANAGED_TAG: "true", DEPLOYMENT_TAG: deployment}
    return provider.create_machines(placement, missing, SSH_KEY, tags) if missing else []


def test_registered_for_ec2(provider):
    assert isinstance(provider, Ec2Provider)
    assert "security_groups" in provider.capabilities
    assert "host_keys" not in provider.capabilities


def test_batch_of_20_in_one_run_instances_with_tags(provider, placement, moto):
    moto.clear_counters()
    machines = provider.create_machines(placement, names(20), SSH_KEY, TAGS)
    actions = moto.faults()["actions"]
    assert actions["RunInstances"] == 1
    assert actions["CreateTags"] == 20          # one Name per machine; the shared tags ride on RunInstances
    assert [m.name for m in machines] == names(20)
    assert len({m.id for m in machines}) == 20
    first = machines[0]
    assert first.tags[MANAGED_TAG] == "true"
    assert first.tags[DEPLOYMENT_TAG] == "dep-1"
    assert first.tags[IMAGE_TAG] == "debian-12"
    assert first.tags["Name"] == first.tags[NAME_TAG] == "web-01"
    assert first.image == "debian-12" and first.deployment == "dep-1" and first.login_user == "admin"
    assert first.flavor == "t3.micro" and first.cpu == 2 and first.ram_gb == 1.0
    assert first.timings["requested_at"] <= time.time()
    assert first.host_keys == []


def test_single_machine_needs_no_extra_tag_call(provider, placement, moto):
    moto.clear_counters()
    [machine] = provider.create_machines(placement, ["solo"], None, TAGS)
    assert "CreateTags" not in moto.faults()["actions"]
    listed = provider.list_machines()
    assert [(m.name, m.tags["Name"]) for m in listed] == [("solo", "solo")]
    assert machine.id == listed[0].id


def test_list_is_one_describe_call_and_carries_everything(provider, placement, moto):
    created = provider.create_machines(placement, names(20), SSH_KEY, TAGS)
    moto.clear_counters()
    listed = provider.list_machines()
    assert moto.faults()["actions"] == {"DescribeInstances": 1}
    assert [m.name for m in listed] == names(20)
    assert {m.id for m in listed} == {m.id for m in created}
    for machine in listed:
        assert machine.cloud == "moto-east"
        assert machine.image == "debian-12" and machine.deployment == "dep-1"
        assert machine.image_id == placement.image_id
        assert machine.flavor == "t3.micro" and machine.cpu == 2 and machine.ram_gb == 1.0
        assert machine.private_ip and machine.public_ip
        assert machine.ssh_url == "ssh://admin@%s" % machine.public_ip
        assert machine.state in ("pending", "running")
        assert machine.timings["launched_at"] > 0


def test_unmanaged_instances_are_not_listed(provider, placement):
    provider._call("launch an unmanaged instance", {
        "Action": "RunInstances", "ImageId": placement.image_id, "InstanceType": "t3.micro",
        "MinCount": "1", "MaxCount": "1"})
    provider.create_machines(placement, ["managed"], None, TAGS)
    assert [m.name for m in provider.list_machines()] == ["managed"]


def test_converge_twice_creates_nothing_the_second_time(provider, placement, moto):
    first = converge(provider, placement, names(5))
    assert len(first) == 5
    moto.clear_counters()
    assert converge(provider, placement, names(5)) == []
    assert "RunInstances" not in moto.faults()["actions"]
    grown = converge(provider, placement, names(7))
    assert [m.name for m in grown] == ["web-06", "web-07"]
    assert [m.name for m in provider.list_machines()] == names(7)


def test_stop_start_destroy(provider, placement):
    machines = provider.create_machines(placement, names(3), None, TAGS)
    provider.wait_machines(machines, "running", timeout=30)
    assert all(m.state == "running" and m.timings["running_at"] >= m.timings["requested_at"] for m in machines)

    stopped = provider.stop_machines(machines[:2])
    assert [m.state for m in stopped] in (["stopping", "stopping"], ["stopped", "stopped"])
    states = {m.name: m.state for m in provider.list_machines()}
    assert states == {"web-01": "stopped", "web-02": "stopped", "web-03": "running"}

    provider.start_machines(machines[:2])
    provider.wait_machines(machines[:2], "running", timeout=30)
    assert {m.state for m in provider.list_machines()} == {"running"}

    provider.destroy_machines(machines)
    assert provider.list_machines() == []
    assert provider.destroy_machines([]) == []


def test_wait_is_bounded_and_names_the_late_machines(provider, placement):
    machines = provider.create_machines(placement, names(2), None, TAGS)
    provider.stop_machines(machines)
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        provider.wait_machines(machines, "running", timeout=1.0)
    assert time.monotonic() - started < 5
    assert "2 machine(s) not running after 1.0 s: web-01 (stopped), web-02 (stopped)" in err.value.msg
    assert err.value.details["machines"] == ["web-01", "web-02"]


def test_wait_for_ssh_is_refused_where_there_is_no_ssh(provider, placement):
    machines = provider.create_machines(placement, ["m"], None, TAGS)
    with pytest.raises(ProviderError, match="ssh_probe is false"):
        provider.wait_machines(machines, "ssh", timeout=5)
    with pytest.raises(ProviderError, match="wait must be running or ssh"):
        provider.wait_machines(machines, "forever", timeout=5)


def test_wait_reports_terminated_machines_at_once(provider, placement):
    machines = provider.create_machines(placement, ["doomed"], None, TAGS)
    provider.destroy_machines(machines)
    with pytest.raises(ProviderError, match="terminated while waiting for them: doomed"):
        provider.wait_machines(machines, "running", timeout=30)


def test_key_pair_imported_once_under_a_stable_name(provider, placement, moto):
    name = parse_public_key(SSH_KEY).pair_name
    assert name == parse_public_key(SSH_KEY.replace("slipway-test", "other comment")).pair_name
    assert provider.ensure_key_pair(SSH_KEY) == name
    moto.clear_counters()
    assert provider.ensure_key_pair(SSH_KEY) == name
    assert moto.faults()["actions"] == {"DescribeKeyPairs": 1}
    machines = provider.create_machines(placement, ["k"], SSH_KEY, TAGS)
    items = provider._describe_instances("check", ids=[machines[0].id])
    assert items[0].findtext("keyName") == name


@pytest.mark.parametrize("bad", ["not a key", "ssh-ed25519 !!!notbase64!!!", ""])
def test_bad_public_key(bad):
    with pytest.raises(ProviderError, match="ssh_public_key"):
        parse_public_key(bad)


def test_missing_security_group_is_a_clear_error(provider, cloud, image_id):
    placement = make_placement(cloud, image_id, groups=("nope",))
    with pytest.raises(ProviderError) as err:
        provider.create_machines(placement, ["x"], None, TAGS)
    assert "security group(s) nope do not exist" in err.value.msg
    assert provider.list_machines() == []


def test_machines_get_their_security_groups(provider, cloud, image_id):
    provider.ensure_security_group("web", "web servers", [{"ports": 80, "source": "0.0.0.0/0"}])
    placement = make_placement(cloud, image_id, groups=("web",))
    [machine] = provider.create_machines(placement, ["w"], None, TAGS)
    items = provider._describe_instances("check", ids=[machine.id])
    assert [g.findtext("groupName") for g in items[0].findall("groupSet/item")] == ["web"]


def test_refused_create_is_one_clear_error(provider, cloud, image_id, moto, monkeypatch):
    from moto import settings as moto_settings

    # moto accepts any instance type unless told to check (the server runs in this process)
    monkeypatch.setattr(moto_settings, "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", True)
    placement = make_placement(cloud, image_id, flavor="t3.gigantic")
    moto.clear_counters()
    with pytest.raises(ProviderError) as err:
        provider.create_machines(placement, ["x"], None, TAGS)
    assert err.value.msg.startswith("cloud moto-east: create 1 machine(s) failed: InvalidInstanceType")
    assert err.value.details["code"].startswith("InvalidInstanceType")
    assert moto.faults()["actions"]["RunInstances"] == 1          # a refusal is not retried


def test_sizes_carry_vcpu_counts(provider):
    sizes = {f.name: f for f in provider.list_sizes()}
    assert sizes["t3.micro"].cpu == 2 and sizes["t3.micro"].ram_gb == 1.0
    assert sizes["m5.xlarge"].cpu == 4 and sizes["m5.xlarge"].ram_gb == 16.0
    only = provider.list_sizes(["c5.large"])
    assert [(f.name, f.cpu, f.ram_gb) for f in only] == [("c5.large", 2, 4.0)]


def test_names_must_be_unique(provider, placement):
    with pytest.raises(ProviderError, match="names must be unique"):
        provider.create_machines(placement, ["a", "a"], None, TAGS)
    assert provider.create_machines(placement, [], None, TAGS) == []


def test_unknown_instance_id_is_retried_as_eventual_consistency_then_reported(provider, moto):
    """Right after RunInstances real EC2 may not know the new ids yet: waits (and CreateTags) retry that."""
    from ansible_collections.slipway.cloud.plugins.module_utils.model import Machine

    ghost = Machine(cloud="moto-east", name="ghost", id="i-0123456789abcdef0", state="pending")
    moto.clear_counters()
    with pytest.raises(ProviderError) as err:
        provider.wait_machines([ghost], "running", timeout=30)
    assert err.value.details["code"] == "InvalidInstanceID.NotFound"
    assert moto.faults()["actions"]["DescribeInstances"] == 12       # retry_attempts of the test cloud
