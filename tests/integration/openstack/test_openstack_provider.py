# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openstack provider against the loopback OpenStack, where a playbook adds nothing: the ways to
authenticate, the errors that name what to fix, image lookups, networks, key pairs, and groups made by
runs at once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

import pytest

from support.openstack_catalog import OS_CREDENTIALS
from support.openstack_loopback import seed

from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Flavor, Placement, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack.provider import OpenStackProvider

pytestmark = [pytest.mark.openstack,
              pytest.mark.filterwarnings("ignore:Support for InfluxDB requires the influxdb library"),
              pytest.mark.filterwarnings("ignore:The 'service_type' parameter is unnecesary"),
              pytest.mark.filterwarnings("ignore:The _compute_attributes method is deprecated")]

FAST = (("retry_base_delay", 0.05), ("retry_max_delay", 0.5), ("retry_attempts", 6), ("ssh_probe", False))
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpVZ0dXnIYfV8Zk5q3Dq7m1Q9vJmS3Z2jv4N2HkzZx7 provider-test"
NAMED = tuple((argument, variable) for argument, variable in (
    item.split(": ") for item in OS_CREDENTIALS.strip("{}").split(", ")))


def os_cloud(name="os-p", credentials=NAMED, sizing="cloud", flavors=(), **options):
    return Cloud(name=name, provider="openstack", credentials=credentials, sizing=sizing, flavors=flavors,
                 options=FAST + tuple(options.items()))


@pytest.fixture
def provider(openstack_env):
    opened = []

    def make(cloud=None, environ=None):
        opened.append(get_provider(cloud or os_cloud(), openstack_env if environ is None else environ))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


def only(env, *keys):
    return {key: env[key] for key in keys if key in env}


# -- authentication --------------------------------------------------------------------------------

def test_the_ways_to_authenticate_reach_the_same_project(openstack_cloud, openstack_env, provider):
    seeded = openstack_cloud.seeded
    appcred = openstack_cloud.env("application_credential")
    ways = {
        "catalog-named OS_* variables": provider(),
        "the standard OS_* variables (a cloud naming none)": provider(os_cloud(credentials=())),
        "an application credential in OS_*": provider(os_cloud(credentials=()), appcred),
        "options.cloud": provider(os_cloud(credentials=(), cloud="slipway-loopback-appcred"),
                                  only(openstack_env, "OS_CLIENT_CONFIG_FILE")),
        "OS_CLOUD": provider(os_cloud(credentials=()),
                             dict(only(openstack_env, "OS_CLIENT_CONFIG_FILE"), OS_CLOUD="slipway-loopback")),
    }
    for way, each in ways.items():
        assert isinstance(each, OpenStackProvider), way
        assert each.project_id == seeded.project_id, way
        assert each.list_machines() == [], way
    # the secrets of every way are what the engine masks; names and URLs stay readable
    assert set(ways["catalog-named OS_* variables"].credentials.values()) == {seeded.password}
    assert set(ways["options.cloud"].credentials.values()) == {seeded.application_credential_secret}
    assert "clouds.yaml entry slipway-loopback-appcred" in ways["options.cloud"].caller.credential_source


def test_what_is_missing_or_wrong_is_one_error_naming_it(openstack_cloud, openstack_env, provider):
    without_url = dict(openstack_env)
    del without_url["OS_AUTH_URL"]
    with pytest.raises(ProviderError, match=r"Keystone needs OS_AUTH_URL.*or name a clouds.yaml entry in OS_CLOUD"):
        provider(environ=without_url)
    with pytest.raises(ProviderError, match=r"no OpenStack credentials: password auth needs OS_USERNAME or OS_USER_ID"):
        provider(os_cloud(credentials=()), only(openstack_env, "OS_AUTH_URL", "OS_PASSWORD", "OS_PROJECT_NAME"))
    with pytest.raises(ProviderError) as unknown_entry:
        provider(os_cloud(cloud="nope"), only(openstack_env, "OS_CLIENT_CONFIG_FILE"))
    assert "options.cloud names the clouds.yaml entry 'nope', which is not in %s" % openstack_cloud.layout.clouds_yaml \
        in unknown_entry.value.msg
    assert unknown_entry.value.details["valid"] == sorted(["slipway-loopback", "slipway-loopback-appcred",
                                                           "slipway-loopback-admin"])
    with pytest.raises(ProviderError, match=r"unknown OpenStack credential argument\(s\) tenant; valid: auth_url"):
        provider(os_cloud(credentials=NAMED + (("tenant", "OS_TENANT_NAME"),)))
    with pytest.raises(ProviderError, match=r"unknown option 'floating_network' .*did you mean 'floating_ip_network'"):
        provider(os_cloud(floating_network="public"))
    with pytest.raises(ProviderError, match="options.interface must be public, internal or admin"):
        provider(os_cloud(interface="private"))
    wrong = provider(environ=dict(openstack_env, OS_PASSWORD="wrong-" + openstack_cloud.seeded.password))
    with pytest.raises(ProviderError) as refused:
        wrong.list_machines()
    message = refused.value.msg
    assert "refused the request to list managed machines" in message and "HTTP 401" in message, message
    assert "Check the credentials in environment variable(s) OS_AUTH_URL, OS_PASSWORD" in message
    assert openstack_cloud.seeded.password not in message and refused.value.details["http_status"] == 401


# -- images, flavors, networks ---------------------------------------------------------------------

def test_image_lookup_newest_first_with_owner_and_visibility(openstack_cloud, provider):
    seeded = openstack_cloud.seeded
    cloud = provider()
    # by name alone the newer-looking image of another project wins; the publisher's owner filter finds its own
    assert cloud.resolve_image_lookup({"name": "Debian 12 bookworm *"}) == seeded.images[seed.OTHER_OWNER_IMAGE]
    publisher = cloud.find_images({"name": "Debian 12 bookworm *", "owner": seeded.admin_project_id,
                                   "visibility": "public"})
    assert [i["name"] for i in publisher] == list(reversed(seed.DEBIAN_SERIES))
    assert [i["name"] for i in cloud.find_images({"name": "*", "visibility": "private"})] == [seed.PRIVATE_IMAGE]
    assert [i["id"] for i in cloud.find_images({"name": seed.UBUNTU_IMAGE})] == [seeded.images[seed.UBUNTU_IMAGE]]
    with pytest.raises(ProviderError, match=r"no active image \(visibility public\) matches name 'Windows\*'"):
        cloud.resolve_image_lookup({"name": "Windows*", "visibility": "public"})
    with pytest.raises(ProviderError, match="visibility must be public, private, shared, community or all"):
        cloud.find_images({"name": "x", "visibility": "everyone"})
    with pytest.raises(ProviderError, match="unknown image lookup key"):
        cloud.find_images({"name": "x", "architecture": "arm64"})


def test_sizes_come_from_the_cloud_and_a_table_is_checked_against_it(openstack_cloud, provider):
    cloud = provider()
    sizes = {f.name: (f.cpu, f.ram_gb, f.disk_gb) for f in cloud.list_sizes()}
    assert sizes["Large"] == (8, 8, seed.FLAVOR_DISK_GB) and "Oversized" in sizes
    placement = Placement(cloud=cloud.cloud, image="debian-12", image_id="x", image_lookup=None, login_user="debian",
                          flavor=None, cpu=3, ram_gb=3)
    sized = cloud.sized_placement(placement)
    assert (sized.flavor, sized.cpu, sized.ram_gb) == ("Standard Plus", 4, 4)
    assert dict(sized.sources)["flavor"] == "chosen from the flavors cloud os-p lists (sizing: cloud)"
    with pytest.raises(Exception, match=r"no flavor of cloud os-p has at least 64 cpu"):
        cloud.sized_placement(Placement(cloud=cloud.cloud, image="debian-12", image_id="x", image_lookup=None,
                                        login_user="debian", flavor=None, cpu=64, ram_gb=1024))
    table = provider(os_cloud(sizing="table", flavors=(Flavor("Large", 4, 8), Flavor("Medium", 2, 4))))
    live, drift = table.size_drift()
    assert {d["flavor"]: d["problem"] for d in drift} == {"Large": "differs", "Medium": "missing"}
    assert len(live) == len(sizes)


def test_networks_the_only_one_or_the_named_one(openstack_cloud, provider):
    seeded = openstack_cloud.seeded
    assert provider().network_id() == seeded.network_id
    assert provider(os_cloud(network=seed.NETWORK)).network_id() == seeded.network_id
    assert provider(os_cloud(network=seeded.network_id)).network_id() == seeded.network_id
    with pytest.raises(ProviderError, match=r"options.network 'public' is an external network; networks: slipway-net"):
        provider(os_cloud(network="public")).network_id()
    with pytest.raises(ProviderError, match=r"options.network 'nope' is not a network the project sees"):
        provider(os_cloud(network="nope")).network_id()


# -- key pairs and groups ----------------------------------------------------------------------------

def test_a_key_pair_is_imported_once_and_removed_when_no_server_uses_it(openstack_cloud, provider, openstack_leftovers):
    cloud = provider()
    name = cloud.ensure_key_pair(PUBLIC_KEY)
    assert cloud.ensure_key_pair(PUBLIC_KEY) == name and name.startswith("slipway-")
    conn = openstack_cloud.connect("password", interface="internal")
    try:
        assert [k.name for k in conn.compute.keypairs()] == [name]
        placement = Placement(cloud=cloud.cloud, image="debian-12", image_id=openstack_cloud.seeded.newest_debian_id,
                              image_lookup=None, login_user="debian", flavor="Basic", cpu=None, ram_gb=None)
        made = cloud.create_machines(placement, ["kp-1", "kp-2"], PUBLIC_KEY, {"slipway:deployment": "kp"})
        cloud.destroy_machines(made[:1])
        assert [k.name for k in conn.compute.keypairs()] == [name], "kp-2 still uses it"
        cloud.destroy_machines(made[1:])
        assert list(conn.compute.keypairs()) == []
    finally:
        conn.close()
    assert openstack_leftovers() == {}


def test_runs_at_once_creating_one_group_end_with_one_group(openstack_cloud, openstack_env, provider):
    """Neutron takes two groups of one name: each run keeps the same one (the oldest, then the lowest id)."""
    rules = [{"proto": "tcp", "ports": 443, "source": "0.0.0.0/0"}]
    runs = [provider() for dummy in range(4)]
    barrier = threading.Barrier(len(runs))
    outcomes, errors = [None] * len(runs), []

    def ensure(index):
        try:
            barrier.wait(30)
            outcomes[index] = runs[index].ensure_security_group("race-once", "at once", rules)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=ensure, args=(index,)) for index in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    conn = openstack_cloud.connect("password", interface="internal")
    try:
        groups = list(conn.network.security_groups(name="race-once"))
        assert errors == [] and len(groups) == 1, (errors, [g.id for g in groups])
        ingress = [r for r in groups[0].security_group_rules if r["direction"] == "ingress"]
        assert [(r["protocol"], r["port_range_min"]) for r in ingress] == [("tcp", 443)]
        again = provider().ensure_security_group("race-once", "at once", rules)
        assert again["changed"] is False and again["id"] == groups[0].id
    finally:
        provider().delete_security_group("race-once")
        assert list(conn.network.security_groups(name="race-once")) == []
        conn.close()
