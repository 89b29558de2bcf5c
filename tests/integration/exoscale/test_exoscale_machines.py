# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Machines on the fake Exoscale v2 API: batch create with labels, one-call listing, stop/start/destroy."""

import pytest
from exo_helpers import SSH_KEY, make_placement

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    MANAGED_TAG,
    NAME_TAG,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.api import decode_label

NAMES = ("web-1", "web-2", "web-3", "web-4", "web-5")


def _create(provider, cloud, names=NAMES, flavor="Tiny", tags=None, **kwargs):
    tags = dict({MANAGED_TAG: "true", IMAGE_TAG: "debian-12", DEPLOYMENT_TAG: "2025.06-blue"}, **(tags or {}))
    return provider.create_machines(make_placement(cloud, flavor=flavor, **kwargs), names, SSH_KEY, tags)


def test_the_family_is_registered(provider):
    assert isinstance(provider, ExoscaleProvider)
    assert provider.endpoint.endswith("/v2")


def test_default_endpoint_is_the_zone_api(env):
    from exo_helpers import shipped_cloud

    prov = ExoscaleProvider(shipped_cloud("exoscale-ch-dk"), {"EXOSCALE_API_KEY": "k", "EXOSCALE_API_SECRET": "s"})
    assert prov.endpoint == "https://api-ch-dk-2.exoscale.com/v2"


def test_create_a_batch_with_labels(exo, provider, cloud):
    machines = _create(provider, cloud, tags={"team": "web.ops", "cost:centre": "42"})
    assert [m.name for m in machines] == list(NAMES)
    assert len({m.id for m in machines}) == len(NAMES)
    assert exo.count("create-instance") == len(NAMES)
    for machine in machines:
        assert machine.flavor == "Tiny" and machine.cpu == 1 and machine.ram_gb == 1.0
        assert machine.deployment == "2025.06-blue" and machine.image == "debian-12"
        assert machine.tags[NAME_TAG] == machine.name
        assert machine.tags["team"] == "web.ops" and machine.tags["cost:centre"] == "42"
        assert machine.login_user == "debian"
        assert machine.timings["requested_at"] > 0
    # On the server: labels written in Exoscale's alphabet (the fake enforces it), reversibly.
    stored = {i["name"]: i for i in exo.state.instances.values()}
    labels = stored["web-3"]["labels"]
    assert labels["slipway+managed"] == "true"
    assert labels["slipway+deployment"] == "?32025*06-blue"
    assert {decode_label(k): decode_label(v) for k, v in labels.items()}["cost:centre"] == "42"
    # The SSH key was registered once, under a name derived from the key, and given to every machine.
    assert len(exo.state.ssh_keys) == 1 and exo.count("register-ssh-key") == 1
    assert all(i["keys"] == list(exo.state.ssh_keys) for i in stored.values())
    # The newest Debian 12 template of the zone was used.
    template = exo.state.templates[stored["web-1"]["template"]]
    assert template["created-at"] == "2025-03-02T08:00:00Z"


def test_listing_is_one_call_and_only_managed_machines(exo, provider, cloud):
    _create(provider, cloud)
    # A machine made by someone else (no slipway labels) is not listed.
    foreign = exo.state.create_instance({"name": "hand-made", "instance-type": {"id": next(iter(exo.state.instance_types))},
                                         "template": {"id": next(iter(exo.state.templates))}, "disk-size": 10})
    assert foreign["reference"]["id"] in exo.state.instances
    before = exo.count("list-instances")
    listed = provider.list_machines()
    assert exo.count("list-instances") - before == 1
    assert sorted(m.name for m in listed) == list(NAMES)
    assert all(m.tags[MANAGED_TAG] == "true" and m.public_ip for m in listed)


def test_a_new_provider_lists_with_two_calls_whatever_the_fleet_size(exo, provider, cloud, env):
    _create(provider, cloud)
    counts = dict(exo.calls)
    fresh = ExoscaleProvider(cloud, env)
    assert len(fresh.list_machines()) == len(NAMES)
    delta = {k: v - counts.get(k, 0) for k, v in exo.calls.items() if v != counts.get(k, 0)}
    assert delta == {"list-instances": 1, "list-instance-types": 1}


def test_wait_stop_start_destroy(exo, provider, cloud):
    machines = _create(provider, cloud, names=["app-1", "app-2"], flavor="Medium")
    waited = provider.wait_machines(machines, "running", timeout=10)
    assert all(m.state == "running" and "running_at" in m.timings for m in waited)
    assert {m.flavor for m in waited} == {"Medium"} and {m.ram_gb for m in waited} == {4.0}

    provider.stop_machines(machines)
    listed = {m.name: m for m in provider.list_machines()}
    assert {m.state for m in listed.values()} <= {"stopping", "stopped"}
    provider.list_machines()
    assert {m.state for m in provider.list_machines()} == {"stopped"}

    provider.start_machines(machines)
    provider.wait_machines(machines, "running", timeout=10)
    assert {m.state for m in provider.list_machines()} == {"running"}

    provider.destroy_machines(machines)
    assert provider.list_machines() == []
    assert exo.state.instances == {}
    # Destroying what is already gone is not an error (a retried call after a lost answer).
    provider.destroy_machines(machines)


def test_wait_names_the_late_machines(exo, provider, cloud):
    exo.state.settle_reads = 10 ** 6
    machines = _create(provider, cloud, names=["slow-1"])
    with pytest.raises(ProviderError) as err:
        provider.wait_machines(machines, "running", timeout=0.3)
    assert "slow-1" in err.value.msg and "not running after 0.3 s" in err.value.msg


def test_wait_for_ssh_is_refused_when_the_cloud_has_no_probe(provider, cloud):
    machines = _create(provider, cloud, names=["x-1"])
    with pytest.raises(ProviderError, match="ssh_probe"):
        provider.wait_machines(machines, "ssh", timeout=1)


def test_unknown_flavor_lists_what_the_zone_offers(exo, provider, cloud):
    with pytest.raises(ProviderError) as err:
        _create(provider, cloud, names=["x"], flavor="Gigantic")
    assert "standard.gigantic" in err.value.msg and "standard.micro" in err.value.msg
    assert "gpu.small" not in err.value.msg          # offered in de-fra-1 only
    assert exo.count("create-instance") == 0


def test_every_shipped_flavor_is_an_instance_type(exo, provider, cloud):
    sizes = {f.name: f for f in provider.list_sizes()}
    for flavor in cloud.flavors:
        name = provider.type_name(flavor.name)
        assert name in sizes, flavor.name
        assert (sizes[name].cpu, sizes[name].ram_gb) == (flavor.cpu, flavor.ram_gb), flavor.name


def test_other_families_by_full_type_name(exo, provider, cloud):
    machines = _create(provider, cloud, names=["mem-1"], flavor="memory.large")
    assert machines[0].flavor == "memory.large" and machines[0].ram_gb == 16.0


def test_tags_too_long_for_a_label_fail_before_creating(exo, provider, cloud):
    with pytest.raises(ProviderError, match="too long for an Exoscale label"):
        _create(provider, cloud, names=["x"], tags={"note": "ü" * 50})
    assert exo.count("create-instance") == 0


def test_disk_size_comes_from_options_and_is_checked(exo, cloud, env):
    import dataclasses

    big = ExoscaleProvider(dataclasses.replace(cloud, options=cloud.options + (("disk_size", 50),)), env)
    big.create_machines(make_placement(cloud), ["d-1"], None, {MANAGED_TAG: "true"})
    assert [i["disk"] for i in exo.state.instances.values()] == [50]
    bad = ExoscaleProvider(dataclasses.replace(cloud, options=cloud.options + (("disk_size", 5),)), env)
    with pytest.raises(ProviderError, match="disk size 5 GiB is out of Exoscale's range 10-51200"):
        bad.create_machines(make_placement(cloud), ["d-2"], None, {MANAGED_TAG: "true"})


def test_missing_security_group_is_named(exo, provider, cloud):
    with pytest.raises(ProviderError, match="security group.*nope.*do not exist"):
        _create(provider, cloud, names=["x"], groups=("nope",))


def test_machines_join_their_security_groups(exo, provider, cloud):
    provider.ensure_security_group("web", "web", [{"proto": "tcp", "ports": 80, "source": "0.0.0.0/0"}])
    machines = _create(provider, cloud, names=["g-1"], groups=("web",))
    group_id = next(g["id"] for g in exo.state.security_groups.values() if g["name"] == "web")
    assert exo.state.instances[machines[0].id]["groups"] == [group_id]


def test_wait_reports_machines_destroyed_meanwhile(exo, provider, cloud):
    exo.state.settle_reads = 10 ** 6
    machines = _create(provider, cloud, names=["doomed-1"])
    assert machines[0].state == "pending"
    exo.state.instances.clear()
    with pytest.raises(ProviderError, match="gone while waiting for them: doomed-1"):
        provider.wait_machines(machines, "running", timeout=10)
