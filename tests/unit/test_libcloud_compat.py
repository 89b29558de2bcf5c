# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What slipway needs of libcloud: the version check and each driver's vCPU key."""

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.libcloud import compat


@pytest.mark.parametrize("version", ["3.8.0", "3.8.1", "3.9.0", "3.9.1", "3.9.9rc1"])
def test_supported_versions(version):
    assert compat.check_version(version)[:2] in ((3, 8), (3, 9))


@pytest.mark.parametrize("version", ["3.7.0", "3.10.0", "4.0.0", "2.8.3", "garbage", ""])
def test_unsupported_versions_name_both(version):
    with pytest.raises(ProviderError) as err:
        compat.check_version(version)
    assert "apache-libcloud %s is installed" % version in err.value.msg
    assert "supports apache-libcloud >=3.8,<3.10" in err.value.msg
    assert err.value.details == {"installed": version, "supported": ">=3.8,<3.10"}


def test_installed_libcloud_passes():
    assert compat.require_libcloud().__name__ == "libcloud"


def test_missing_libcloud(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "libcloud":
            raise ImportError("No module named 'libcloud'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ProviderError, match="apache-libcloud is not installed; .* >=3.8,<3.10"):
        compat.require_libcloud()


class Size:
    def __init__(self, extra, ram=2048, name="s", id="s", disk=20, price=None):
        self.extra, self.ram, self.name, self.id, self.disk, self.price = extra, ram, name, id, disk, price


@pytest.mark.parametrize("driver, extra, expected", [
    ("ec2", {"vcpu": "2"}, 2),
    ("openstack", {"vcpus": 4}, 4),
    ("gce", {"guestCpus": 8}, 8),
    ("azure_arm", {"numberOfCores": 16}, 16),
    ("vultr", {"vcpu_count": 1}, 1),
    ("somethingnew", {"cores": 3}, 3),
    ("ec2", {"vcpu": "NA"}, None),
    ("digitalocean", {}, None),
    ("openstack", {"vcpus": "0.5"}, 0.5),
])
def test_vcpus_from_each_drivers_key(driver, extra, expected):
    assert compat.size_vcpus(Size(extra), driver) == expected


def test_size_to_flavor():
    flavor = compat.size_to_flavor(Size({"vcpu": "2"}, ram=1024, name="t3.micro", price=0.0104), "ec2")
    assert (flavor.name, flavor.cpu, flavor.ram_gb, flavor.disk_gb, flavor.price) == ("t3.micro", 2, 1.0, 20, 0.0104)
