# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every bad input gets one clear error naming the file (and line), the key and what would be valid."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

CLOUDS = """\
clouds:
  exo:
    provider: exoscale
    flavors:
      Micro: {cpu: 1, ram_gb: 0.5}
      Medium: {cpu: 2, ram_gb: 4}
      Huge: {cpu: 8, ram_gb: 32}
  other: {provider: local, sizing: explicit}
"""
IMAGE = """\
images:
  base:
    login_user: root
    size: {cpu: 1, ram_gb: 1}
    clouds:
      exo: {image_id: exo-1}
"""


@pytest.fixture(autouse=True)
def _private_parse_cache(tmp_path, monkeypatch):
    """Keep the parse cache of these tests out of ~/.cache."""
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))


def load(tmp_path, *files):
    """Write ("name.yml", text) pairs into one layer and load it."""
    for name, text in files:
        (tmp_path / name).write_text(text)
    return load_catalog([str(tmp_path)])


def fails(tmp_path, text, match, name="bad.yml"):
    with pytest.raises(CatalogError) as info:
        load(tmp_path, (name, text))
    error = info.value
    assert re.search(match, error.msg), error.msg
    assert error.details["file"] == str(tmp_path / name)
    return error


# -- YAML -------------------------------------------------------------------------

def test_yaml_syntax_error_names_file_and_line(tmp_path):
    error = fails(tmp_path, "clouds:\n  exo:\n    provider: [local\n", r"bad\.yml:\d+:\d+: YAML syntax error")
    assert error.details["line"] in (3, 4)


def test_tab_indentation_is_a_syntax_error_with_line(tmp_path):
    error = fails(tmp_path, "images:\n\tbase: {}\n", "YAML syntax error")
    assert error.details["line"] == 2


def test_duplicate_key_is_an_error_with_both_lines(tmp_path):
    error = fails(tmp_path, "images:\n  a: {}\n  a: {}\n", r"bad\.yml:3: key 'a' appears twice.*first on line 2")
    assert error.details["line"] == 3


def test_top_level_must_be_a_mapping(tmp_path):
    fails(tmp_path, "- clouds\n", r"bad\.yml:1: must be a mapping, got a list")


def test_non_text_key(tmp_path):
    fails(tmp_path, "images:\n  1: {}\n", r"key 1 must be text")


# -- unknown keys ------------------------------------------------------------------

@pytest.mark.parametrize("text, line, key, suggestion", [
    ("image:\n  a: {}\n", 1, "image", "images"),
    (CLOUDS + "  third:\n    provider: local\n    sizing: explicit\n    regoin: x\n", 12, "clouds.third.regoin", "region"),
    ("clouds:\n  c:\n    provider: local\n    flavors:\n      S: {cpu: 1, ram: 1}\n", 5, "clouds.c.flavors.S.ram", "ram_gb"),
    (CLOUDS + "images:\n  a:\n    login_usr: root\n", 11, "images.a.login_usr", "login_user"),
    (CLOUDS + "images:\n  a:\n    clouds:\n      exo: {imageid: x}\n", 12, "images.a.clouds.exo.imageid", "image_id"),
    (CLOUDS + "images:\n  a:\n    size: {cpus: 1, ram_gb: 1}\n", 11, "images.a.size.cpus", "cpu"),
    ("security_groups:\n  g:\n    rule: []\n", 3, "security_groups.g.rule", "rules"),
])
def test_unknown_key_names_line_and_closest_valid(tmp_path, text, line, key, suggestion):
    error = fails(tmp_path, text, r"bad\.yml:%d: %s: unknown key .*did you mean '%s'\?; valid: "
                  % (line, re.escape(key), re.escape(suggestion)))
    assert error.details["line"] == line
    assert error.details["key"] == key
    assert suggestion in error.details["valid"]


def test_unknown_key_far_from_anything_lists_valid_keys(tmp_path):
    error = fails(tmp_path, "zzzzzz: {}\n", r"unknown key 'zzzzzz'; valid: clouds, defaults, images, security_groups$")
    assert "did you mean" not in error.msg


# -- clouds --------------------------------------------------------------------------

def test_unknown_cloud_in_an_image_lists_known_clouds(tmp_path):
    error = fails(tmp_path, CLOUDS + "images:\n  a:\n    clouds:\n      exoo: {image_id: x}\n",
                  r"bad\.yml:12: unknown cloud 'exoo'; did you mean 'exo'\?; known clouds: exo, other")
    assert error.details["key"] == "images.a.clouds.exoo"
    assert error.details["valid"] == ["exo", "other"]


def test_unknown_cloud_at_resolve_lists_known_clouds(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE))
    with pytest.raises(CatalogError, match=r"unknown cloud 'nowhere'; did you mean 'other'\?; known clouds: exo, other") as info:
        catalog.resolve("base", "nowhere")
    assert info.value.details["valid"] == ["exo", "other"]
    with pytest.raises(CatalogError, match="unknown cloud 'ex'"):
        catalog.cloud("ex")


def test_cloud_needs_flavors_or_explicit_sizing(tmp_path):
    fails(tmp_path, "clouds:\n  c: {provider: local}\n", r"bad\.yml:2: clouds\.c: give flavors .* or sizing: explicit")


def test_cloud_needs_a_provider(tmp_path):
    fails(tmp_path, "clouds:\n  c: {sizing: explicit}\n", r"clouds\.c: missing required key 'provider'")


def test_bad_sizing_word_lists_valid(tmp_path):
    fails(tmp_path, "clouds:\n  c: {provider: local, sizing: flexible}\n",
          r"clouds\.c\.sizing: 'flexible' is not allowed; valid: table, explicit")


def test_endpoint_must_be_a_url(tmp_path):
    fails(tmp_path, "clouds:\n  c: {provider: local, sizing: explicit, endpoint: api.example}\n",
          r"clouds\.c\.endpoint: 'api\.example' does not match")


def test_bad_name(tmp_path):
    fails(tmp_path, "images:\n  'my image': {}\n", r"images\.my image: name 'my image' must start with")


@pytest.mark.parametrize("secret", ["AKIAIOSFODNN7EXAMPLE1234567abc/x", "hunter2", "s3cr3t value", "lower_case_name"])
def test_credentials_must_be_variable_names_and_the_secret_is_not_echoed(tmp_path, secret):
    text = "clouds:\n  c:\n    provider: ec2\n    sizing: explicit\n    credentials:\n      secret: '%s'\n" % secret
    error = fails(tmp_path, text, r"bad\.yml:6: clouds\.c\.credentials\.secret: looks like a literal secret; "
                                  r"give the NAME of the environment variable")
    assert secret not in error.msg
    assert secret not in repr(error.details)


def test_credentials_variable_names_are_accepted(tmp_path):
    catalog = load(tmp_path, ("c.yml", "clouds:\n  c:\n    provider: ec2\n    sizing: explicit\n"
                                       "    credentials: {key: AWS_ACCESS_KEY_ID, secret: _MY_SECRET_2}\n"))
    assert dict(catalog.cloud("c").credentials)["secret"] == "_MY_SECRET_2"


# -- numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, problem", [
    ("0", "must be greater than 0, got 0"),
    ("-2", "must be greater than 0, got -2"),
    ("two", "must be a number, got 'two'"),
    ("'2'", "must be a number, got '2'"),
    ("true", "must be a number, got True"),
    (".nan", "must be a number, got nan"),
    ("", "must be a number, got nothing"),
])
def test_flavor_cpu_must_be_a_positive_number(tmp_path, value, problem):
    text = "clouds:\n  c:\n    provider: local\n    flavors:\n      S:\n        cpu: %s\n        ram_gb: 1\n" % value
    error = fails(tmp_path, text, r"bad\.yml:6: clouds\.c\.flavors\.S\.cpu: %s" % re.escape(problem))
    assert error.details["line"] == 6


@pytest.mark.parametrize("value", ["0", "-1", "lots", "[]"])
def test_image_size_ram_must_be_a_positive_number(tmp_path, value):
    fails(tmp_path, CLOUDS + "images:\n  a:\n    size: {cpu: 1, ram_gb: %s}\n" % value,
          r"bad\.yml:11: images\.a\.size\.ram_gb: must be")


@pytest.mark.parametrize("size", ["{cpu: 1}", "{ram_gb: 1}", "{flavor: Micro, cpu: 1}", "{}"])
def test_size_is_cpu_and_ram_or_a_flavor(tmp_path, size):
    fails(tmp_path, CLOUDS + "images:\n  a:\n    size: %s\n" % size,
          r"images\.a\.size: (a size is either \{cpu, ram_gb\} or \{flavor\})")


def test_port_out_of_range(tmp_path):
    fails(tmp_path, CLOUDS + "images:\n  a:\n    ports: [80, 70000]\n", r"images\.a\.ports\[1\]: must be at most 65535")


def test_port_listed_twice(tmp_path):
    fails(tmp_path, CLOUDS + "images:\n  a:\n    ports: [80, 80]\n", r"images\.a\.ports: lists 80 twice")


def test_image_id_and_lookup_together(tmp_path):
    fails(tmp_path, CLOUDS + "images:\n  a:\n    clouds:\n      exo: {image_id: x, image_lookup: {name: y}}\n",
          r"images\.a\.clouds\.exo: give image_id or image_lookup, not both")


def test_lookup_needs_a_name(tmp_path):
    fails(tmp_path, CLOUDS + "images:\n  a:\n    clouds:\n      exo: {image_lookup: {owner: y}}\n",
          r"images\.a\.clouds\.exo\.image_lookup: missing required key 'name'")


# -- images ---------------------------------------------------------------------------------

def test_unknown_image_at_resolve_suggests_close_names(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE))
    with pytest.raises(CatalogError, match=r"unknown image 'bsae'; did you mean 'base'\?; known images: base") as info:
        catalog.resolve("bsae", "exo")
    assert info.value.details["key"] == "image"


def test_unknown_parent_names_file_and_line(tmp_path):
    error = fails(tmp_path, CLOUDS + IMAGE + "  copy:\n    parent: bass\n",
                  r"bad\.yml:16: unknown image 'bass'; did you mean 'base'\?")
    assert error.details["key"] == "images.copy.parent"


@pytest.mark.parametrize("parents, cycle", [
    ({"a": "a"}, "a -> a"),
    ({"a": "b", "b": "a"}, "a -> b -> a"),
    ({"x": "a", "a": "b", "b": "c", "c": "a"}, "a -> b -> c -> a"),
])
def test_parent_cycle_shows_the_whole_cycle(tmp_path, parents, cycle):
    text = "images:\n" + "".join("  %s: {parent: %s}\n" % pair for pair in parents.items())
    error = fails(tmp_path, text, r"parent cycle: %s$" % re.escape(cycle))
    assert " -> ".join(error.details["cycle"]) == cycle


def test_no_image_id_for_cloud_names_image_cloud_and_chain(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE + "  copy: {parent: base}\n"))
    with pytest.raises(CatalogError) as info:
        catalog.resolve("copy", "other")
    assert info.value.msg == ("image 'copy' has no image_id or image_lookup for cloud other (looked in copy -> base); "
                              "it is available on: exo")
    assert info.value.details["image"] == "copy" and info.value.details["cloud"] == "other"


def test_missing_login_user_and_size_are_errors(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + "images:\n  bare:\n    clouds: {exo: {image_id: x}}\n"
                                                "  sized: {parent: bare, size: {cpu: 1, ram_gb: 1}}\n"))
    with pytest.raises(CatalogError, match="image 'bare' has no login_user for cloud exo"):
        catalog.resolve("bare", "exo")
    with pytest.raises(CatalogError, match="image 'sized' has no login_user"):
        catalog.resolve("sized", "exo")


# -- layers ------------------------------------------------------------------------------------

def test_later_layer_redefining_an_image_names_both_files():
    seed = os.path.join(DATA, "seed")
    override = os.path.join(DATA, "override")
    with pytest.raises(CatalogError) as info:
        load_catalog([seed, override])
    msg = info.value.msg
    assert msg.startswith(os.path.join(override, "redefine.yml") + ":4: image 'ubuntu-14.04' is already defined at "
                          + os.path.join(seed, "images.yml") + ":3")
    assert "derive from it (parent: ubuntu-14.04) under a new name" in msg
    assert info.value.details["defined_at"] == os.path.join(seed, "images.yml") + ":3"


@pytest.mark.parametrize("kind, body", [
    ("clouds", "  exo: {provider: local, sizing: explicit}\n"),
    ("security_groups", "  g: {rules: []}\n"),
])
def test_redefining_clouds_and_groups_is_refused_too(tmp_path, kind, body):
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "a.yml").write_text(CLOUDS + "security_groups:\n  g: {rules: []}\n")
    (second / "b.yml").write_text("%s:\n%s" % (kind, body))
    with pytest.raises(CatalogError, match=r"two/b\.yml:2: .* is already defined at .*one/a\.yml:\d+"):
        load_catalog([str(first), str(second)])


def test_two_files_of_one_layer_may_not_define_the_same_name(tmp_path):
    with pytest.raises(CatalogError, match=r"b\.yml:2: image 'base' is already defined at .*a\.yml:2"):
        load(tmp_path, ("a.yml", IMAGE), ("b.yml", IMAGE))


# -- sizes and flavors ------------------------------------------------------------------------------

def test_size_no_flavor_satisfies_names_cloud_source_and_nearest(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE + "  big: {parent: base, size: {cpu: 16, ram_gb: 16}}\n"))
    with pytest.raises(CatalogError) as info:
        catalog.resolve("big", "exo")
    msg = info.value.msg
    assert msg.startswith("no flavor of cloud exo has at least 16 cpu and at least 16 GB ram (from big at ")
    assert msg.endswith("; nearest: Huge (8 cpu, 32 GB), Medium (2 cpu, 4 GB), Micro (1 cpu, 0.5 GB)")
    assert info.value.details["cloud"] == "exo"


def test_unknown_flavor_in_a_per_cloud_size_fails_at_load(tmp_path):
    fails(tmp_path, CLOUDS + IMAGE.replace("{image_id: exo-1}", "{image_id: exo-1, size: {flavor: Large}}"),
          r"flavor 'Large' is not in the table of cloud exo \(from base clouds\.exo at .*bad\.yml:14\); "
          r"valid flavors: Micro, Medium, Huge")


def test_unknown_flavor_in_an_image_wide_size_fails_at_resolve(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE.replace("{cpu: 1, ram_gb: 1}", "{flavor: Tiny}")))
    with pytest.raises(CatalogError, match=r"flavor 'Tiny' is not in the table of cloud exo \(from base at .*c\.yml:12\)"):
        catalog.resolve("base", "exo")


@pytest.mark.parametrize("size, match", [
    ({"cpu": 0, "ram_gb": 1}, "cpu must be greater than 0"),
    ({"cpu": 1, "ram_gb": -1}, "ram_gb must be greater than 0"),
    ({"cpu": "x", "ram_gb": 1}, "cpu must be a number greater than 0, got 'x'"),
    ({"cpu": 1}, "give both cpu and ram_gb"),
    ({"flavor": "Micro", "cpu": 1}, "either flavor or cpu and ram_gb"),
    ({"cpus": 1, "ram_gb": 1}, "unknown key 'cpus'; did you mean 'cpu'"),
    ({"flavor": "Nano"}, "flavor 'Nano' is not in the table of cloud exo .*valid flavors: Micro, Medium, Huge"),
    ("big", "size must be a mapping"),
])
def test_call_time_size_errors(tmp_path, size, match):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE))
    with pytest.raises(CatalogError, match=match):
        catalog.resolve("base", "exo", size=size)


# -- security groups -----------------------------------------------------------------------------------

def test_unknown_security_group_in_an_image(tmp_path):
    error = fails(tmp_path, CLOUDS + "security_groups:\n  ssh: {rules: []}\n" + IMAGE + "    security_groups: [sshh]\n",
                  r"unknown security group 'sshh'; did you mean 'ssh'\?; known security groups: ssh")
    assert error.details["key"] == "images.base.security_groups"


def test_unknown_security_group_at_call_time(tmp_path):
    catalog = load(tmp_path, ("c.yml", CLOUDS + IMAGE))
    with pytest.raises(CatalogError, match="unknown security group 'web'; known security groups: none"):
        catalog.resolve("base", "exo", security_groups=["web"])


def test_bad_rule_names_file_line_and_rule(tmp_path):
    error = fails(tmp_path, "security_groups:\n  g:\n    rules:\n      - {proto: tcp, ports: 99999, source: 0.0.0.0/0}\n",
                  r"bad\.yml:3: security_groups\.g\.rules\[0\]\.ports: .*out of range")
    assert error.details["line"] == 3
