# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_info and size_info on localhost through pytest-ansible's ansible_module (conftest.py's ``slipway``).

The playbook and ansible-doc runs of the same modules are in tests/integration/test_image_info.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from adhoc_helpers import shipped_catalog

SHIPPED_DEBIAN = {  # cloud: (provider, image id or lookup, flavor, cpu, ram, login user)
    "exoscale-ch-gva": ("exoscale", {"name": "Linux Debian 12 (Bookworm) 64-bit"}, "Tiny", 1, 1, "debian"),
    "exoscale-ch-dk": ("exoscale", {"name": "Linux Debian 12 (Bookworm) 64-bit"}, "Tiny", 1, 1, "debian"),
    # any OpenStack: the flavor is chosen from the cloud's own when a machine is made (sizing: cloud)
    "openstack": ("openstack", {"name": "[Dd]ebian[- ]12*", "visibility": "public"}, None, 1, 1, "debian"),
    "ec2": ("ec2", {"name": "debian-12-amd64-*", "owner": "136693071363"}, "t3.micro", 2, 1, "admin"),
    "local-a": ("local", "debian-12", "Tiny", 1, 1, "root"),
    "local-b": ("local", "debian-12", "Basic", 1, 1, "root"),
}


def test_debian_12_on_every_shipped_cloud(slipway):
    result = slipway("image_info", image="debian-12")
    assert result["changed"] is False and not result.get("failed"), result
    assert result["catalog"] == [shipped_catalog()]
    placements = {p["cloud"]: p for p in result["placements"]}
    assert sorted(placements) == sorted(SHIPPED_DEBIAN)
    for cloud, (provider, native, flavor, cpu, ram_gb, login_user) in SHIPPED_DEBIAN.items():
        placement = placements[cloud]
        found = placement["image_id"] if placement["image_id"] else placement.get("image_lookup")
        assert (placement["provider"], found, placement["flavor"], placement["cpu"], placement["ram_gb"]) == (
            provider, native, flavor, cpu, ram_gb), placement
        assert placement["login_user"] == login_user and placement["security_groups"] == ["slipway_managed"]
        assert placement["sources"]["flavor"].startswith("debian-12 ")
    assert placements["local-a"]["sources"]["login_user"].startswith("debian-12 clouds.local-a at ")


def test_unknown_image_names_the_valid_ones(slipway):
    result = slipway("image_info", image="debain-12", cloud="local-a")
    assert result["failed"] is True and result["key"] == "image"
    assert result["msg"] == ("unknown image 'debain-12'; did you mean 'debian-12' or 'debian-12-web'?; "
                             "known images: debian-12, debian-12-web, ubuntu-24.04")
    assert result["valid"] == ["debian-12", "debian-12-web", "ubuntu-24.04"]


def test_error_carries_details(slipway):
    result = slipway("image_info", image="ubuntu-24.04", clouds=["local-a", "ec2"])
    assert result["failed"] is True
    assert result["msg"].startswith("image 'ubuntu-24.04' has no image_id or image_lookup for cloud local-a")
    assert result["image"] == "ubuntu-24.04" and result["cloud"] == "local-a"


def test_options_that_need_an_image(slipway):
    result = slipway("image_info", cloud="local-a", resolve_lookups=True)
    assert result["failed"] and "resolve_lookups is True but all of the following are missing: image" in result["msg"]
    result = slipway("image_info", image="debian-12", cloud="local-a", clouds=["local-b"])
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_size_info_chooses_from_cpu_and_ram_without_asking_the_cloud(slipway):
    result = slipway("size_info", cloud="exoscale-ch-gva", cpu=4, ram_gb=8, live=False)
    assert (result["flavor"], result["cpu"], result["ram_gb"]) == ("Large", 4, 8)
    assert [c["name"] for c in result["candidates"]] == ["Extra-large", "Huge"]
    assert "cloud_flavors" not in result and result["changed"] is False     # the catalog's table only
    table = slipway("size_info", cloud="exoscale-ch-gva", check_mode=True)
    assert [f["name"] for f in table["flavors"]][:2] == ["Micro", "Tiny"] and "flavor" not in table
    failed = slipway("size_info", cloud="exoscale-ch-gva", cpu=16, ram_gb=16)
    assert failed["failed"] and failed["valid"] == ["Huge", "Extra-large", "Large"]
    bad = slipway("size_info", cloud="exoscale-ch-gva", cpu=0, ram_gb=1)
    assert bad["failed"] and bad["msg"].startswith("cpu must be greater than 0")


def test_slipway_catalog_environment_variable(slipway, tmp_path, monkeypatch):
    (tmp_path / "mine.yml").write_text("images:\n  my-debian:\n    parent: debian-12\n    ports: [8080]\n")
    monkeypatch.setenv("SLIPWAY_CATALOG", os.pathsep.join([shipped_catalog(), str(tmp_path)]))
    result = slipway("image_info", image="my-debian", cloud="local-b")
    assert result["placements"][0]["ports"] == [8080], result
    assert result["catalog"][1] == str(tmp_path)


OWN_IMAGE = """\
clouds:
  no-groups: {provider: local, sizing: explicit, security_groups: false}
images:
  my-own:
    login_user: root
    size: {cpu: 1, ram_gb: 1}
    clouds:
      local-a: {image_id: debian-12}
      ec2: {image_id: ami-0123456789abcdef0}
      no-groups: {image_id: debian-12}
"""


def test_image_info_shows_the_catalog_default_groups_and_where_they_are_set(slipway, tmp_path, monkeypatch):
    shipped = os.path.join(shipped_catalog(), "security_groups.yml")
    with open(shipped, encoding="utf-8") as handle:
        line = handle.read().split("\n").index("  security_groups: [slipway_managed]") + 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "images.yml").write_text(OWN_IMAGE)
    layers = [shipped_catalog(), str(tmp_path / "mine")]
    monkeypatch.setenv("SLIPWAY_CATALOG", os.pathsep.join(layers))
    placements = {p["cloud"]: p for p in slipway("image_info", image="my-own")["placements"]}
    assert list(placements) == ["ec2", "local-a", "no-groups"], placements
    for cloud in ("ec2", "local-a"):
        assert placements[cloud]["security_groups"] == ["slipway_managed"]
        assert placements[cloud]["sources"]["security_groups"] == "catalog defaults at %s:%d" % (shipped, line)
    assert placements["no-groups"]["security_groups"] == []
    assert placements["no-groups"]["sources"]["security_groups"] == "cloud no-groups has no security groups"

    # A team layer on top: its default wins; [] means none; images that name groups keep theirs.
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "defaults.yml").write_text("# our machines get no group unless their image names one\n"
                                                    "defaults:\n  security_groups: []\n")
    layers.append(str(tmp_path / "team"))
    monkeypatch.setenv("SLIPWAY_CATALOG", os.pathsep.join(layers))
    own = slipway("image_info", image="my-own", cloud="ec2")
    assert own["placements"][0]["security_groups"] == []
    assert own["placements"][0]["sources"]["security_groups"] == "catalog defaults at %s:3" % (
        tmp_path / "team" / "defaults.yml")
    debian = slipway("image_info", image="debian-12", cloud="ec2")
    assert debian["placements"][0]["security_groups"] == ["slipway_managed"]
    assert debian["placements"][0]["sources"]["security_groups"].startswith("debian-12 at ")

    # A misspelt key under defaults: one error naming the file, line, key and the closest valid key.
    (tmp_path / "team" / "defaults.yml").write_text("defaults:\n  security_group: []\n")
    failed = slipway("image_info", image="my-own")
    assert failed["failed"] is True
    assert failed["msg"] == ("%s:2: defaults.security_group: unknown key 'security_group'; did you mean "
                             "'security_groups'?; valid: security_groups" % (tmp_path / "team" / "defaults.yml"))
    assert failed["key"] == "defaults.security_group" and failed["line"] == 2


def test_resolve_lookups_asks_the_cloud_for_the_newest_match(slipway, moto_catalog, tmp_path, monkeypatch):
    plain = slipway("image_info", image="trusty-lookup", cloud="moto-a")
    assert plain["placements"][0]["image_id"] is None          # no cloud call unless asked
    found = slipway("image_info", image="trusty-lookup", cloud="moto-a", resolve_lookups=True)
    placement = found["placements"][0]
    assert placement["image_id"] == "ami-1e749f67", found      # moto's Canonical trusty AMI
    assert placement["sources"]["image_id"].startswith(
        "newest image on moto-a matching trusty-lookup clouds.moto-a at %s:" % moto_catalog), placement
    (tmp_path / "nothing.yml").write_text("images:\n  nothing:\n    parent: trusty-lookup\n    clouds:\n"
                                          "      moto-a:\n        image_lookup: {name: no-such-image-*}\n")
    monkeypatch.setenv("SLIPWAY_CATALOG", os.pathsep.join([shipped_catalog(), moto_catalog, str(tmp_path / "nothing.yml")]))
    missing = slipway("image_info", image="nothing", cloud="moto-a", resolve_lookups=True)
    assert missing["failed"] and "no-such-image-*" in missing["msg"], missing
