# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to the local provider: one clear error each, and nothing created."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import dataclasses
import os
import subprocess

import pytest

from support.local_cloud import SESSION_TAG, TEST_SSH_GROUP

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host
from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    MANAGED_TAG,
    Cloud,
    Flavor,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider


def host_footprint(state, token):
    """What a failed request must not have added: records, netns, links, cgroups, nft chains.

    Machines other test sessions (or users) make meanwhile are left out: only this session's
    records and resources that belong to no other machine count.
    """
    netns = subprocess.run(["ip", "netns", "list"], check=False, stdout=subprocess.PIPE,
                           universal_newlines=True).stdout
    links = subprocess.run(["ip", "-o", "link"], check=False, stdout=subprocess.PIPE, universal_newlines=True).stdout
    table = host.nft_table_text("inet", state.nft_table) or ""
    cgroups = host.Cgroups(state.cgroup_parent).existing()
    # Records last: a record is written before its resources exist, so every resource listed above
    # that belongs to another session's machine has its record by now.
    records = state.machines()
    foreign = set(r["id"] for r in records if (r.get("tags") or {}).get(SESSION_TAG) != token)
    found = {
        "records": [r["id"] for r in records if r["id"] not in foreign],
        "netns": [line.split()[0][len(state.netns_prefix):] for line in netns.splitlines()
                  if line.startswith(state.netns_prefix)],
        "links": [line.split(":")[1].strip().split("@")[0][len("vslw"):] for line in links.splitlines()
                  if ": vslw" in line],
        "cgroups": [os.path.basename(path) for path in cgroups],
        "chains": [line.split()[1][len("m_"):] for line in table.splitlines() if line.strip().startswith("chain m_")],
    }
    return {kind: set(ids) - foreign for kind, ids in found.items()}


def added(before, after):
    """What ``after`` has that ``before`` had not (things other sessions removed meanwhile do not count)."""
    return {kind: sorted(after[kind] - before[kind]) for kind in before if after[kind] - before[kind]}


@pytest.fixture
def unchanged(local_cloud_session):
    before = host_footprint(local_cloud_session.state, local_cloud_session.token)
    yield
    assert added(before, host_footprint(local_cloud_session.state, local_cloud_session.token)) == {}


def test_unknown_flavor(local_cloud_session, unchanged):
    with pytest.raises(ProviderError) as error:
        local_cloud_session.create("local-a", ["bad-flavor"], flavor="Large")
    assert "unknown flavor 'Large' on local cloud local-a; valid: Micro, Tiny, Small, Medium" in error.value.msg


def test_flavor_too_big_for_the_host(local_cloud_session, unchanged):
    session = local_cloud_session
    cpus = len(host.Cgroups(session.state.cgroup_parent).host_cpus())
    base = session.clouds["local-a"]
    huge = Cloud(name=base.name, provider="local", options=base.options,
                 flavors=base.flavors + (Flavor("Huge", cpus + 1, 1), Flavor("Hungry", 1, 4096)))
    provider = get_provider(huge)
    for flavor, what in (("Huge", "%d cpu" % (cpus + 1)), ("Hungry", "4096 GB")):
        placement = session.placement("local-a", security_groups=(TEST_SSH_GROUP,))
        placement = dataclasses.replace(placement, cloud=huge, flavor=flavor)
        with pytest.raises(ProviderError) as error:
            provider.create_machines(placement, ["too-big"], session.public_key, {})
        assert "flavor %s (" % flavor in error.value.msg and what in error.value.msg
        assert "does not fit this host" in error.value.msg
        assert "flavors of local-a that fit: Micro, Tiny, Small, Medium" in error.value.msg


def test_local_cloud_not_set_up(local_cloud_session, unchanged):
    cloud = Cloud(name="local-z", provider="local", flavors=(Flavor("Micro", 1, 0.5),),
                  options=(("subnet", "198.18.203.0/24"),))
    provider = get_provider(cloud)
    placement = local_cloud_session.placement("local-a")
    placement = dataclasses.replace(placement, cloud=cloud, flavor="Micro", security_groups=())
    with pytest.raises(ProviderError) as error:
        provider.create_machines(placement, ["nowhere"], local_cloud_session.public_key, {})
    assert "local cloud local-z is not set up" in error.value.msg
    assert "ansible-playbook playbooks/local_cloud.yml" in error.value.msg


def test_two_machines_with_the_same_name(local_cloud_session, local_machines):
    (first,) = local_machines("local-a", ["twin"], wait=False, tags={DEPLOYMENT_TAG: "twins"})
    before = host_footprint(local_cloud_session.state, local_cloud_session.token)
    # The same name in the same deployment (another run of the same task): reported, not made twice.
    again = local_cloud_session.provider("local-a").create_machines(
        local_cloud_session.placement("local-a"), [first.name], local_cloud_session.public_key,
        {MANAGED_TAG: "true", SESSION_TAG: local_cloud_session.token, DEPLOYMENT_TAG: "twins"})
    assert [m.id for m in again] == [first.id] and again.adopted == [first.name]
    # In another deployment the name is taken: one clear error.
    with pytest.raises(ProviderError) as error:
        local_cloud_session.create("local-a", ["twin"], tags={DEPLOYMENT_TAG: "other"})
    assert "local cloud local-a already has a machine named %s (of deployment twins)" \
        % local_cloud_session.name("twin") in error.value.msg
    with pytest.raises(ProviderError) as error:
        local_cloud_session.create("local-a", ["pair", "pair"])
    assert "machine names must be unique in one request" in error.value.msg
    assert added(before, host_footprint(local_cloud_session.state, local_cloud_session.token)) == {}


@pytest.mark.parametrize("subnet, message", [
    ("10.0.0.0/24", "is outside 198.18.0.0/15"),
    ("192.168.1.0/24", "is outside 198.18.0.0/15"),
    ("198.20.0.0/24", "is outside 198.18.0.0/15"),
    ("198.18.1.7/24", "is not a network"),
    ("local", "is not a network"),
    (None, "is missing"),
])
def test_subnet_outside_the_allowed_range(local_cloud_session, unchanged, subnet, message):
    options = (("subnet", subnet),) if subnet else ()
    cloud = Cloud(name="local-x", provider="local", flavors=(Flavor("Micro", 1, 0.5),), options=options)
    with pytest.raises(ProviderError) as error:
        get_provider(cloud)
    assert error.value.msg.startswith("cloud local-x option subnet")
    assert message in error.value.msg
    assert not os.path.exists(local_cloud_session.state.cloud_file("local-x"))


def test_unknown_security_group_and_bad_key(local_cloud_session, unchanged):
    with pytest.raises(ProviderError) as error:
        local_cloud_session.create("local-a", ["no-group"], security_groups=("nope",))
    assert "security group(s) nope do not exist on local cloud local-a" in error.value.msg
    provider = local_cloud_session.provider("local-a")
    with pytest.raises(ProviderError) as error:
        provider.create_machines(local_cloud_session.placement("local-a"), ["bad-key"], "not a key", {})
    assert "ssh_public_key must be one OpenSSH public key line" in error.value.msg


def test_a_misspelt_option_is_one_error_naming_the_closest(local_clouds, unchanged):
    cloud = local_clouds["local-a"]
    misspelt = dataclasses.replace(cloud, options=tuple(("subnett" if k == "subnet" else k, v)
                                                        for k, v in cloud.options))
    with pytest.raises(ProviderError) as error:
        get_provider(misspelt)
    assert error.value.msg.startswith("cloud local-a: unknown option 'subnett' for provider local; valid options: ")
    assert error.value.msg.endswith("did you mean 'subnet'?") and error.value.details["key"] == "options.subnett"
