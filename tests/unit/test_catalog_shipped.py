# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog shipped in catalog/: what the README and the tutorial promise."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import shipped_catalog_dir
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.schema import ENV_VAR_PATTERN
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Rule

ALL = ["exoscale-ch-gva", "exoscale-ch-dk", "openstack", "ec2", "local-a", "local-b"]
SEED_EXOSCALE = [("Micro", 1, 0.5), ("Tiny", 1, 1), ("Small", 2, 2), ("Medium", 2, 4), ("Large", 4, 8),
                 ("Extra-large", 4, 16), ("Huge", 8, 32)]


@pytest.fixture(autouse=True)
def _private_parse_cache(tmp_path, monkeypatch):
    """Keep the parse cache of these tests out of ~/.cache."""
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))


@pytest.fixture(scope="module")
def shipped():
    return load_catalog([shipped_catalog_dir()], cache=False)


def test_clouds_and_providers(shipped):
    assert list(shipped.clouds) == ALL
    assert {name: c.provider for name, c in shipped.clouds.items()} == {
        "exoscale-ch-gva": "exoscale", "exoscale-ch-dk": "exoscale", "openstack": "openstack", "ec2": "ec2",
        "local-a": "local", "local-b": "local"}
    assert shipped.cloud("ec2").region == "eu-central-1"
    assert all(c.security_groups for c in shipped.clouds.values())


@pytest.mark.parametrize("cloud", ["exoscale-ch-gva", "exoscale-ch-dk"])
def test_exoscale_table_is_the_seeds(shipped, cloud):
    assert [(f.name, f.cpu, f.ram_gb) for f in shipped.cloud(cloud).flavors] == SEED_EXOSCALE


def test_the_openstack_cloud_is_any_openstack_sized_by_its_own_flavors(shipped):
    """Ultimum, the seed's OpenStack cloud, ceased business (2025): the shipped OpenStack cloud is generic. Its
    flavors are whatever the cloud lists (sizing: cloud), so the catalog resolves the wanted cpu/ram and the
    provider picks the flavor when it creates; credentials are the OS_* variables openstack's tools read."""
    cloud = shipped.cloud("openstack")
    assert (cloud.sizing, cloud.flavors, cloud.region) == ("cloud", (), None)
    assert all(variable.startswith("OS_") for _argument, variable in cloud.credentials)
    assert {"auth_url", "username", "password", "project_name", "application_credential_id",
            "application_credential_secret"} <= set(dict(cloud.credentials))
    placement = shipped.resolve("debian-12", "openstack", size={"cpu": 2, "ram_gb": 4})
    assert (placement.flavor, placement.cpu, placement.ram_gb) == (None, 2, 4)
    assert shipped.resolve("debian-12", "openstack", size={"flavor": "m1.large"}).flavor == "m1.large"
    assert "ultimum" not in shipped.clouds


def test_credentials_are_variable_names(shipped):
    import re
    for cloud in shipped.clouds.values():
        for _argument, variable in cloud.credentials:
            assert re.match(ENV_VAR_PATTERN, variable)
    assert dict(shipped.cloud("ec2").credentials) == {"key": "AWS_ACCESS_KEY_ID", "secret": "AWS_SECRET_ACCESS_KEY"}


def test_local_clouds_use_their_own_24_inside_198_18_0_0_15(shipped):
    subnets = {name: ipaddress.ip_network(shipped.cloud(name).option("subnet")) for name in ("local-a", "local-b")}
    assert subnets == {"local-a": ipaddress.ip_network("198.18.1.0/24"),
                       "local-b": ipaddress.ip_network("198.18.2.0/24")}
    for net in subnets.values():
        assert net.subnet_of(ipaddress.ip_network("198.18.0.0/15")) and net.prefixlen == 24


def test_debian_12_everywhere_sized_one_cpu_one_gb(shipped):
    assert shipped.available_clouds("debian-12") == ALL
    flavors = {cloud: shipped.resolve("debian-12", cloud).flavor for cloud in ALL}
    assert flavors == {"exoscale-ch-gva": "Tiny", "exoscale-ch-dk": "Tiny", "openstack": None,
                       "ec2": "t3.micro", "local-a": "Tiny", "local-b": "Basic"}
    logins = {cloud: shipped.resolve("debian-12", cloud).login_user for cloud in ALL}
    assert logins["ec2"] == "admin" and logins["local-a"] == "root" and logins["exoscale-ch-gva"] == "debian"


def test_no_invented_ids_only_lookups_on_public_clouds(shipped):
    for image in shipped.images:
        for cloud in shipped.available_clouds(image):
            placement = shipped.resolve(image, cloud)
            if shipped.cloud(cloud).provider == "local":
                assert placement.image_id == "debian-12"
            else:
                assert placement.image_id is None and placement.image_lookup["name"]
    assert shipped.resolve("debian-12", "ec2").image_lookup == {"name": "debian-12-amd64-*", "owner": "136693071363"}


def test_ubuntu_lts_is_not_on_the_local_clouds(shipped):
    assert shipped.available_clouds("ubuntu-24.04") == ["exoscale-ch-gva", "exoscale-ch-dk", "openstack", "ec2"]
    with pytest.raises(CatalogError, match="image 'ubuntu-24.04' has no image_id or image_lookup for cloud local-a"):
        shipped.resolve("ubuntu-24.04", "local-a")


def test_managed_group_opens_ssh_plus_the_image_ports_only(shipped):
    assert shipped.security_group_rules("slipway_managed") == (Rule("tcp", 22, 22, "0.0.0.0/0"),)
    web = shipped.resolve("debian-12-web", "local-a")
    assert web.ports == (80,) and web.security_groups == ("slipway_managed",)
    assert shipped.security_group_rules("slipway_managed", web.ports) == (
        Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 80, 80, "0.0.0.0/0"))


def test_open_all_exists_only_as_an_opt_in(shipped):
    assert shipped.security_group("slipway_open_all").rules == (Rule("any", None, None, "0.0.0.0/0"),)
    for image in shipped.images:
        for cloud in shipped.available_clouds(image):
            assert "slipway_open_all" not in shipped.resolve(image, cloud).security_groups


def test_seed_sizes_on_the_shipped_clouds(shipped):
    assert shipped.resolve("debian-12", "exoscale-ch-gva", size={"cpu": 2, "ram_gb": 4}).flavor == "Medium"
    assert shipped.resolve("debian-12", "ec2", size={"cpu": 2, "ram_gb": 4}).flavor == "t3.medium"
    with pytest.raises(CatalogError, match="no flavor of cloud exoscale-ch-dk"):
        shipped.resolve("debian-12", "exoscale-ch-dk", size={"cpu": 16, "ram_gb": 16})
