# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog's ``defaults:``: what an image that names no security groups gets, from which file and line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import SHIPPED_LAYER, shipped_catalog_dir
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Rule

CLOUDS = """\
clouds:
  sg: {provider: local, sizing: explicit}
  other: {provider: local, sizing: explicit}
  nosg: {provider: local, sizing: explicit, security_groups: false}
security_groups:
  base: {rules: [{proto: tcp, ports: 22, source: 0.0.0.0/0}], image_ports: true}
  web: {rules: [{proto: tcp, ports: 80, source: 0.0.0.0/0}]}
"""
IMAGES = """\
images:
  plain:
    login_user: root
    size: {cpu: 1, ram_gb: 1}
    ports: [8080]
    clouds: {sg: {image_id: p}, other: {image_id: p}, nosg: {image_id: p}}
  named:
    parent: plain
    security_groups: [web]
  child-of-named:
    parent: named
  per-cloud:
    parent: plain
    clouds:
      sg: {security_groups: [web]}
  none-please:
    parent: plain
    security_groups: []
"""
DEFAULTS = """\
defaults:
  security_groups: [base]
"""


@pytest.fixture(autouse=True)
def _private_parse_cache(tmp_path, monkeypatch):
    """Keep the parse cache of these tests out of ~/.cache."""
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))


def layer(directory, **files):
    """A layer directory holding ``name=text`` files (name without .yml)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / (name + ".yml")).write_text(text)
    return str(directory)


def groups(catalog, image, cloud="sg", **overrides):
    placement = catalog.resolve(image, cloud, **overrides)
    return placement.security_groups, dict(placement.sources)["security_groups"]


@pytest.fixture
def catalog(tmp_path):
    return load_catalog([layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES, defaults=DEFAULTS)])


def test_an_image_naming_no_groups_gets_the_default_and_says_where_it_is_set(catalog, tmp_path):
    value, source = groups(catalog, "plain")
    assert value == ("base",)
    assert source == "catalog defaults at %s:2" % (tmp_path / "base" / "defaults.yml")
    assert catalog.defaults == {"security_groups": (("base",), source)}


def test_own_inherited_and_per_cloud_values_win_over_the_default(catalog):
    assert groups(catalog, "named")[0] == ("web",)
    assert groups(catalog, "child-of-named") == (("web",), groups(catalog, "named")[1])
    assert groups(catalog, "per-cloud", "sg")[0] == ("web",)
    assert groups(catalog, "per-cloud", "other")[0] == ("base",)      # the per-cloud value is for sg only


def test_an_empty_list_on_the_image_means_none_not_the_default(catalog):
    value, source = groups(catalog, "none-please")
    assert value == () and source.startswith("none-please at ")


def test_a_call_time_override_and_a_cloud_without_groups_win_over_the_default(catalog):
    assert groups(catalog, "plain", security_groups=["web"]) == (("web",), "call-time security_groups override")
    assert groups(catalog, "plain", "nosg") == ((), "cloud nosg has no security groups")


def test_the_default_group_opens_the_image_ports(catalog):
    placement = catalog.resolve("plain", "sg")
    assert catalog.security_group_rules(placement.security_groups[0], placement.ports) == (
        Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 8080, 8080, "0.0.0.0/0"))


def test_without_a_default_an_image_naming_no_groups_gets_none_and_the_source_says_why(tmp_path):
    catalog = load_catalog([layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES)])
    assert catalog.defaults == {}
    value, source = groups(catalog, "plain")
    assert value == () and "no defaults.security_groups" in source


def test_a_later_layer_overrides_the_default_and_an_empty_list_means_none(tmp_path):
    base = layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES, defaults=DEFAULTS)
    mine = layer(tmp_path / "mine", defaults="defaults:\n  security_groups: [web]\n")
    catalog = load_catalog([base, mine])
    assert groups(catalog, "plain") == (("web",), "catalog defaults at %s:2" % (tmp_path / "mine" / "defaults.yml"))
    assert groups(catalog, "named")[0] == ("web",) and groups(catalog, "none-please")[0] == ()
    off = layer(tmp_path / "off", defaults="defaults: {security_groups: []}\n")
    value, source = groups(load_catalog([base, off]), "plain")
    assert value == () and source == "catalog defaults at %s:1" % (tmp_path / "off" / "defaults.yml")


def test_a_later_layer_without_defaults_keeps_the_earlier_one(tmp_path):
    base = layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES, defaults=DEFAULTS)
    mine = layer(tmp_path / "mine", images="images:\n  mine: {parent: plain}\n")
    assert groups(load_catalog([base, mine]), "mine") == groups(load_catalog([base]), "plain")


def test_two_files_of_one_layer_setting_the_same_default_is_an_error_naming_both(tmp_path):
    directory = layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES, defaults=DEFAULTS,
                      more="defaults:\n  security_groups: [web]\n")
    with pytest.raises(CatalogError) as info:
        load_catalog([directory])
    error = info.value
    first, second = tmp_path / "base" / "defaults.yml", tmp_path / "base" / "more.yml"
    assert error.msg == ("%s:2: defaults.security_groups is already set at %s:2, in the same layer; set it once "
                         "per layer (a later layer may override it)" % (second, first))
    assert error.details == {"file": str(second), "line": 2, "key": "defaults.security_groups",
                             "defined_at": "%s:2" % first}


def test_an_unknown_key_under_defaults_names_the_closest_valid_one(tmp_path):
    directory = layer(tmp_path / "base", clouds=CLOUDS, defaults="defaults:\n  security_group: [base]\n")
    with pytest.raises(CatalogError) as info:
        load_catalog([directory])
    assert info.value.msg == ("%s:2: defaults.security_group: unknown key 'security_group'; did you mean "
                              "'security_groups'?; valid: security_groups" % (tmp_path / "base" / "defaults.yml"))
    assert info.value.details["key"] == "defaults.security_group" and info.value.details["line"] == 2


@pytest.mark.parametrize("text, problem", [
    ("defaults: [base]\n", r"defaults\.yml:1: defaults: must be a mapping, got a list"),
    ("defaults:\n", r"defaults\.yml:1: defaults: must be a mapping, got nothing"),
    ("defaults:\n  security_groups: base\n", r"defaults\.yml:2: defaults\.security_groups: must be a list"),
    ("defaults:\n  security_groups: [base, base]\n", r"defaults\.yml:2: defaults\.security_groups: lists 'base' twice"),
])
def test_malformed_defaults_name_file_line_and_key(tmp_path, text, problem):
    with pytest.raises(CatalogError) as info:
        load_catalog([layer(tmp_path / "base", clouds=CLOUDS, defaults=text)])
    assert re.search(problem, info.value.msg), info.value.msg


def test_a_default_group_the_catalog_does_not_define_is_an_error_with_a_hint(tmp_path):
    directory = layer(tmp_path / "base", clouds=CLOUDS, defaults="# the team's\ndefaults:\n  security_groups: [bsae]\n")
    with pytest.raises(CatalogError) as info:
        load_catalog([directory])
    error = info.value
    assert error.msg.startswith("%s:3: unknown security group 'bsae'; did you mean 'base'?"
                                % (tmp_path / "base" / "defaults.yml")), error.msg
    assert error.details["key"] == "defaults.security_groups" and error.details["line"] == 3


def test_a_default_may_name_a_group_of_a_later_layer(tmp_path):
    base = layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES, defaults="defaults: {security_groups: [team]}\n")
    team = layer(tmp_path / "team", groups="security_groups:\n  team: {rules: []}\n")
    assert groups(load_catalog([base, team]), "plain")[0] == ("team",)


def test_defaults_come_back_from_the_parse_cache_with_their_lines(tmp_path):
    directory = layer(tmp_path / "base", clouds=CLOUDS, images=IMAGES, defaults="\n\n" + DEFAULTS)
    cache = str(tmp_path / "cache")
    cold, warm = load_catalog([directory], cache=cache), load_catalog([directory], cache=cache)
    assert groups(cold, "plain") == groups(warm, "plain")
    assert groups(warm, "plain")[1].endswith("defaults.yml:4")


# -- the shipped catalog ---------------------------------------------------------------

def test_the_shipped_catalog_defaults_to_slipway_managed(tmp_path):
    mine = layer(tmp_path / "mine", images="""\
images:
  my-own:
    login_user: admin
    size: {cpu: 1, ram_gb: 1}
    ports: [8443]
    clouds:
      ec2: {image_id: ami-0123456789abcdef0}
      exoscale-ch-gva: {image_id: 3a1b0c94-0000-4000-8000-000000000000}
      local-a: {image_id: debian-12}
""")
    catalog = load_catalog([SHIPPED_LAYER, mine])
    where = "catalog defaults at %s/security_groups.yml:" % shipped_catalog_dir()
    for cloud in ("ec2", "exoscale-ch-gva", "local-a"):
        value, source = groups(catalog, "my-own", cloud)
        assert value == ("slipway_managed",) and source.startswith(where), (cloud, source)
    assert catalog.security_group_rules("slipway_managed", (8443,)) == (
        Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 8443, 8443, "0.0.0.0/0"))
    # The shipped images name their group themselves: a user's default does not change them.
    layer(tmp_path / "mine", defaults="defaults: {security_groups: []}\n")
    catalog = load_catalog([SHIPPED_LAYER, mine])
    assert groups(catalog, "my-own", "ec2")[0] == ()
    assert groups(catalog, "debian-12", "ec2")[0] == ("slipway_managed",)
