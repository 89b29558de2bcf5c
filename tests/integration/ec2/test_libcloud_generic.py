# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The generic libcloud adapter, run through libcloud's own EC2 driver against moto.

This is the path where libcloud parses every answer itself, so it only works because
the test server fixes moto's namespace (tests/support/moto_server.py).
"""

import pytest
from ec2_helpers import SSH_KEY, make_cloud, make_placement

from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, MANAGED_TAG, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.libcloud.provider import LibcloudProvider

TAGS = {MANAGED_TAG: "true", DEPLOYMENT_TAG: "g1"}


@pytest.fixture
def generic_cloud(moto):
    from dataclasses import replace

    cloud = make_cloud(moto.url, name="generic-ec2", provider="libcloud",
                       options=(("driver", "ec2"), ("driver_args", {"signature_version": "4"})))
    return replace(cloud, security_groups=False)


@pytest.fixture
def generic(generic_cloud, env):
    provider = get_provider(generic_cloud, env)
    yield provider
    provider.close()


def test_registry_picks_the_generic_adapter(generic):
    assert isinstance(generic, LibcloudProvider)
    assert generic.driver_name == "ec2"
    assert "security_groups" not in generic.capabilities


def test_sizes_have_vcpus_from_the_drivers_extra_key(generic):
    sizes = {f.name: f for f in generic.list_sizes()}
    assert sizes["t3.micro"].cpu == 2 and sizes["t3.micro"].ram_gb == 1.0
    assert sizes["m5.2xlarge"].cpu == 8 and sizes["m5.2xlarge"].ram_gb == 32.0


def test_create_list_stop_start_destroy(generic, generic_cloud, provider, image_id):
    placement = make_placement(generic_cloud, image_id, groups=("ignored-on-this-cloud",))
    created = generic.create_machines(placement, ["g-1", "g-2"], None, TAGS)
    assert [m.name for m in created] == ["g-1", "g-2"]
    provider.create_machines(make_placement(provider.cloud, image_id), ["other-deployment"], None,
                             {MANAGED_TAG: "true", DEPLOYMENT_TAG: "g2"})

    listed = generic.list_machines()
    assert [m.name for m in listed] == ["g-1", "g-2", "other-deployment"]
    first = listed[0]
    assert first.deployment == "g1" and first.image == "debian-12" and first.login_user == "admin"
    assert first.flavor == "t3.micro" and first.cpu == 2 and first.ram_gb == 1.0
    assert first.image_id == image_id and first.private_ip

    generic.wait_machines(created, "running", timeout=30)
    assert all("running_at" in m.timings for m in created)
    generic.stop_machines(created[:1])
    assert {m.name: m.state for m in generic.list_machines()}["g-1"] == "stopped"
    generic.start_machines(created[:1])
    generic.wait_machines(created[:1], "running", timeout=30)
    generic.destroy_machines(created)
    assert [m.name for m in generic.list_machines()] == ["other-deployment"]


def test_ssh_key_goes_through_libcloud(generic, generic_cloud, image_id):
    [machine] = generic.create_machines(make_placement(generic_cloud, image_id), ["k"], SSH_KEY, TAGS)
    assert machine.name == "k"


def test_security_groups_are_not_pretended(generic):
    with pytest.raises(ProviderError) as err:
        generic.ensure_security_group("web", "web", [])
    assert err.value.details["supported"] is False
    assert "firewall role" in err.value.msg


def test_groups_on_a_cloud_that_claims_them_are_refused(generic_cloud, env, image_id):
    from dataclasses import replace

    generic = get_provider(replace(generic_cloud, security_groups=True), env)
    with pytest.raises(ProviderError, match="does not manage security groups"):
        generic.create_machines(make_placement(generic_cloud, image_id, groups=("web",)), ["x"], None, TAGS)


def test_unknown_size_lists_known_ones(generic, generic_cloud, image_id):
    with pytest.raises(ProviderError) as err:
        generic.create_machines(make_placement(generic_cloud, image_id, flavor="huge.9000"), ["x"], None, TAGS)
    assert "no size 'huge.9000' on the ec2 driver; known:" in err.value.msg and "t3.micro" in err.value.msg


def test_unknown_driver_and_missing_driver(moto, env):
    with pytest.raises(ProviderError, match="libcloud has no compute driver 'nosuchcloud'"):
        get_provider(make_cloud(moto.url, provider="libcloud", options=(("driver", "nosuchcloud"),)), env)
    with pytest.raises(ProviderError, match="needs options.driver"):
        get_provider(make_cloud(moto.url, provider="libcloud"), env)


def test_libcloud_openstack_driver_stays_available_through_the_generic_adapter(env):
    """The openstack family has its own provider (openstacksdk); libcloud's OpenStack driver is still there for
    those who name it."""
    from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud

    cloud = Cloud(name="os", provider="libcloud", endpoint="http://127.0.0.1:1",
                  credentials=(("key", "SLIPWAY_TEST_AWS_KEY"), ("secret", "SLIPWAY_TEST_AWS_SECRET")),
                  options=(("driver", "openstack"),
                           ("driver_args", {"ex_force_auth_url": "http://127.0.0.1:1/v3",
                                            "ex_force_auth_version": "3.x_password", "ex_tenant_name": "demo"}),
                           ("retry_attempts", 1)))
    provider = get_provider(cloud, env)
    assert isinstance(provider, LibcloudProvider) and provider.driver_name == "openstack"
    with pytest.raises(ProviderError) as err:
        provider.list_machines()
    assert "cannot reach" in err.value.msg
