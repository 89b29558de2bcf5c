# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog loading, inheritance and resolution on the fixture layers in tests/unit/data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog import cache as catalog_cache, layers as catalog_layers
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import (
    SHIPPED_LAYER, default_catalog_layers, layer_files, shipped_catalog_dir,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Placement, Rule

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SEED = os.path.join(DATA, "seed")
USER = os.path.join(DATA, "user")


@pytest.fixture(autouse=True)
def _private_parse_cache(tmp_path, monkeypatch):
    """Keep the parse cache of these tests out of ~/.cache."""
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))


@pytest.fixture(scope="module")
def seed():
    return load_catalog([SEED, USER], cache=False)


# -- loading ------------------------------------------------------------------

def test_layers_load_in_order_and_index_everything(seed):
    assert list(seed.clouds) == ["exoscale-ch-gva", "exoscale-ch-dk", "ultimum", "bare"]
    assert list(seed.images) == ["ubuntu-14.04", "my-ubuntu", "my-web"]
    assert set(seed.security_groups) == {"slipway_managed", "web"}
    assert seed.layers == (SEED, USER)
    assert seed.images["my-ubuntu"].layer == 1


def test_cloud_fields_are_built_from_yaml(seed):
    gva = seed.cloud("exoscale-ch-gva")
    assert gva.provider == "exoscale" and gva.region == "ch-gva-2"
    assert dict(gva.credentials) == {"key": "EXOSCALE_API_KEY", "secret": "EXOSCALE_API_SECRET"}
    assert gva.security_groups is True and gva.sizing == "table"
    assert [f.name for f in gva.flavors][:2] == ["Micro", "Tiny"]
    assert gva.flavor("Micro").ram_gb == 0.5
    assert gva.source.endswith("clouds.yml:4")
    assert seed.cloud("ultimum").endpoint.startswith("https://")
    bare = seed.cloud("bare")
    assert bare.sizing == "explicit" and bare.flavors == () and bare.security_groups is False


def test_yaml_anchor_shares_a_flavor_table(seed):
    assert seed.cloud("exoscale-ch-dk").flavors == seed.cloud("exoscale-ch-gva").flavors


def test_a_plain_file_is_a_layer(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("clouds:\n  c: {provider: local, sizing: explicit}\n")
    assert list(load_catalog([str(path)]).clouds) == ["c"]
    assert list(load_catalog(str(path)).clouds) == ["c"]


def test_directory_files_sorted_yml_and_yaml_hidden_skipped(tmp_path):
    for name in ("b.yaml", "a.yml", ".hidden.yml", "notes.txt"):
        (tmp_path / name).write_text("---\n")
    assert [os.path.basename(p) for p in layer_files(str(tmp_path))] == ["a.yml", "b.yaml"]


def test_empty_file_is_an_empty_layer(tmp_path):
    (tmp_path / "empty.yml").write_text("# nothing yet\n")
    catalog = load_catalog([str(tmp_path)])
    assert catalog.images == {} and catalog.clouds == {}


def test_no_layers_is_an_error():
    with pytest.raises(CatalogError, match="SLIPWAY_CATALOG"):
        load_catalog([])


def test_missing_layer_names_the_path(tmp_path):
    with pytest.raises(CatalogError, match="does-not-exist does not exist") as info:
        load_catalog([str(tmp_path / "does-not-exist")])
    assert info.value.details["file"].endswith("does-not-exist")


def test_default_layers_from_environment(tmp_path):
    env = {"SLIPWAY_CATALOG": os.pathsep.join(["/a", " ", "/b"])}
    assert default_catalog_layers(env) == ["/a", "/b"]


def test_default_layers_fall_back_to_the_shipped_catalog():
    assert default_catalog_layers({}) == [shipped_catalog_dir()]
    assert shipped_catalog_dir().endswith(os.sep + "catalog")


def test_shipped_word_stands_for_the_shipped_catalog(tmp_path):
    (tmp_path / "mine.yml").write_text("images:\n  my-debian: {parent: debian-12, ports: [8080]}\n")
    catalog = load_catalog([SHIPPED_LAYER, str(tmp_path)])
    assert catalog.layers[0] == shipped_catalog_dir()
    assert catalog.resolve("my-debian", "local-a").ports == (8080,)


def test_a_layer_colliding_with_the_shipped_catalog_is_refused():
    with pytest.raises(CatalogError, match="cloud 'exoscale-ch-gva' is already defined at .*clouds.yml:"):
        load_catalog([SHIPPED_LAYER, SEED])


def test_shipped_word_without_a_shipped_catalog(monkeypatch):
    monkeypatch.setattr(catalog_layers, "shipped_catalog_dir", lambda: None)
    with pytest.raises(CatalogError, match="action plugin"):
        load_catalog([SHIPPED_LAYER])


# -- resolution and inheritance -------------------------------------------------

def test_resolve_returns_a_full_placement(seed):
    placement = seed.resolve("ubuntu-14.04", "exoscale-ch-gva")
    assert isinstance(placement, Placement)
    assert placement.cloud.name == "exoscale-ch-gva"
    assert placement.image_id == "gva-ubuntu-1404" and placement.image_lookup is None
    assert placement.login_user == "root"
    assert (placement.flavor, placement.cpu, placement.ram_gb) == ("Tiny", 1, 1)
    assert placement.security_groups == ("slipway_managed",)
    assert placement.ports == (8080,)


def test_image_lookup_is_returned_when_there_is_no_fixed_id(seed):
    placement = seed.resolve("ubuntu-14.04", "ultimum")
    assert placement.image_id is None
    assert placement.image_lookup == {"name": "Ubuntu 14.04*", "owner": "ultimum"}
    assert placement.login_user == "ubuntu"          # no per-cloud override here: image-wide value
    assert placement.flavor == "Basic"
    assert dict(placement.sources)["image_lookup"].startswith("ubuntu-14.04 clouds.ultimum at ")


def test_copy_changing_size_on_one_cloud_leaves_the_other(seed):
    """The tutorial's exercise 1: a copy sized up on exoscale-ch-gva only."""
    gva = seed.resolve("my-ubuntu", "exoscale-ch-gva")
    dk = seed.resolve("my-ubuntu", "exoscale-ch-dk")
    assert (gva.flavor, gva.cpu, gva.ram_gb) == ("Medium", 2, 4)
    assert (dk.flavor, dk.cpu, dk.ram_gb) == ("Tiny", 1, 1)
    assert gva.image_id == "gva-ubuntu-1404" and dk.image_id == "dk-ubuntu-1404"
    assert seed.resolve("ubuntu-14.04", "exoscale-ch-gva").flavor == "Tiny"   # the shared one is unchanged


def test_sources_name_the_image_and_file_of_each_value(seed):
    sources = dict(seed.resolve("my-ubuntu", "exoscale-ch-gva").sources)
    assert sources["flavor"].startswith("my-ubuntu clouds.exoscale-ch-gva at ")
    assert sources["flavor"].endswith(os.path.join("user", "my-images.yml") + ":8")
    assert sources["cpu"] == sources["ram_gb"] == sources["flavor"]
    assert sources["image_id"].startswith("ubuntu-14.04 clouds.exoscale-ch-gva at ")
    assert sources["login_user"].endswith(os.path.join("seed", "images.yml") + ":13")
    assert sources["security_groups"].startswith("ubuntu-14.04 at ")
    dk_sources = dict(seed.resolve("my-ubuntu", "exoscale-ch-dk").sources)
    assert dk_sources["flavor"].startswith("ubuntu-14.04 at ")


def test_own_value_wins_else_parents_walking_up(seed):
    web = seed.resolve("my-web", "exoscale-ch-dk")
    assert web.ports == (80,)                                  # own
    assert web.security_groups == ("slipway_managed", "web")   # own
    assert web.login_user == "root"                             # grandparent's per-cloud value
    assert web.image_id == "dk-ubuntu-1404"                     # grandparent's
    web_gva = seed.resolve("my-web", "exoscale-ch-gva")
    assert web_gva.flavor == "Medium"                           # parent's per-cloud size
    assert dict(web_gva.sources)["flavor"].startswith("my-ubuntu ")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


CLOUDS = """\
clouds:
  a: {provider: local, flavors: {S: {cpu: 1, ram_gb: 1}, M: {cpu: 2, ram_gb: 4}, L: {cpu: 4, ram_gb: 8}}}
  b: {provider: local, flavors: {S: {cpu: 1, ram_gb: 1}, M: {cpu: 2, ram_gb: 4}}}
"""


def test_per_cloud_value_beats_same_levels_image_wide_value(tmp_path):
    _write(tmp_path, "c.yml", CLOUDS + """\
images:
  base:
    login_user: everyone
    size: {cpu: 1, ram_gb: 1}
    clouds:
      a: {image_id: a-1, login_user: only-a, size: {flavor: L}}
      b: {image_id: b-1}
""")
    catalog = load_catalog([str(tmp_path)])
    assert catalog.resolve("base", "a").login_user == "only-a"
    assert catalog.resolve("base", "a").flavor == "L"
    assert catalog.resolve("base", "b").login_user == "everyone"
    assert catalog.resolve("base", "b").flavor == "S"


def test_childs_image_wide_value_beats_parents_per_cloud_value(tmp_path):
    """Walking up, the nearer level wins; within one level, per-cloud beats image-wide."""
    _write(tmp_path, "c.yml", CLOUDS + """\
images:
  base:
    login_user: everyone
    clouds:
      a: {image_id: a-1, login_user: only-a}
  child:
    parent: base
    login_user: mine
  grandchild:
    parent: child
    clouds:
      a: {login_user: per-cloud-at-grandchild}
""")
    catalog = load_catalog([str(tmp_path)])
    assert catalog._effective("child", "a")["login_user"][0] == "mine"
    assert catalog._effective("grandchild", "a")["login_user"][0] == "per-cloud-at-grandchild"
    assert catalog._effective("base", "a")["login_user"][0] == "only-a"


def test_child_lookup_replaces_parent_image_id(tmp_path):
    _write(tmp_path, "c.yml", CLOUDS + """\
images:
  base:
    login_user: u
    size: {cpu: 1, ram_gb: 1}
    clouds: {a: {image_id: a-1}}
  newer:
    parent: base
    clouds: {a: {image_lookup: {name: "base-*"}}}
""")
    placement = load_catalog([str(tmp_path)]).resolve("newer", "a")
    assert placement.image_id is None and placement.image_lookup == {"name": "base-*"}


def test_call_time_overrides_win_and_are_named_in_sources(seed):
    placement = seed.resolve("my-ubuntu", "ultimum", size={"cpu": 2, "ram_gb": 4}, security_groups=["web"])
    assert placement.flavor == "Standard Plus" and (placement.cpu, placement.ram_gb) == (4, 4)
    assert placement.security_groups == ("web",)
    sources = dict(placement.sources)
    assert sources["flavor"] == "call-time size override"
    assert sources["security_groups"] == "call-time security_groups override"
    assert seed.resolve("my-ubuntu", "ultimum", size={"flavor": "Large"}).cpu == 8


def test_cloud_without_security_groups_gets_none(seed):
    placement = seed.resolve("ubuntu-14.04", "bare")
    assert placement.security_groups == ()
    assert dict(placement.sources)["security_groups"] == "cloud bare has no security groups"


def test_explicit_sizing_cloud_takes_cpu_and_ram_as_given(seed):
    placement = seed.resolve("ubuntu-14.04", "bare")
    assert (placement.flavor, placement.cpu, placement.ram_gb) == (None, 3, 5)
    assert seed.resolve("ubuntu-14.04", "bare", size={"cpu": 0.5, "ram_gb": 0.25}).cpu == 0.5


def test_placement_to_dict_is_json(seed):
    data = seed.resolve("my-web", "exoscale-ch-gva").to_dict()
    again = json.loads(json.dumps(data))
    assert again["cloud"] == "exoscale-ch-gva" and again["flavor"] == "Medium"
    assert set(again["sources"]) == {"image_id", "login_user", "flavor", "cpu", "ram_gb", "security_groups", "ports"}


def test_resolution_is_independent_per_cloud_after_memoising(seed):
    first = [seed.resolve("my-web", c).flavor for c in ("exoscale-ch-gva", "exoscale-ch-dk")]
    second = [seed.resolve("my-web", c).flavor for c in ("exoscale-ch-dk", "exoscale-ch-gva")]
    assert first == ["Medium", "Tiny"] and second == ["Tiny", "Medium"]


def test_available_clouds_and_describe_images(seed):
    assert seed.available_clouds("my-web") == ["exoscale-ch-gva", "exoscale-ch-dk", "ultimum", "bare"]
    described = {entry["name"]: entry for entry in seed.describe_images()}
    assert described["my-ubuntu"]["description"] == "minimal Ubuntu 14.04"   # inherited
    assert described["my-web"]["description"] == "my web server"
    assert described["my-web"]["os"] == "ubuntu"
    assert described["my-web"]["parent"] == "my-ubuntu"
    assert described["ubuntu-14.04"]["source"].endswith("images.yml:3")


def test_security_group_rules_add_the_image_ports(seed):
    managed = seed.security_group("slipway_managed")
    assert managed.rules == (Rule("tcp", 22, 22, "0.0.0.0/0"),)
    assert seed.security_group_rules("slipway_managed", (80,)) == (
        Rule("tcp", 22, 22, "0.0.0.0/0"), Rule("tcp", 80, 80, "0.0.0.0/0"))
    # a group without image_ports ignores them
    assert seed.security_group_rules("web", (8080,)) == seed.security_group("web").rules
    assert len(seed.security_group("web").rules) == 2


def test_later_layer_may_derive_from_earlier_image(seed):
    assert seed.images["my-ubuntu"].parent == "ubuntu-14.04"
    assert seed.chain("my-web") == ["my-web", "my-ubuntu", "ubuntu-14.04"]


def test_fast_placement_equals_the_dataclass_constructor(seed):
    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import new_placement
    import dataclasses
    fast = seed.resolve("my-web", "exoscale-ch-gva")
    values = {f.name: getattr(fast, f.name) for f in dataclasses.fields(Placement)}
    assert fast == Placement(**values) == new_placement(**values)
    assert hash(fast) == hash(Placement(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.flavor = "Huge"


# -- the parsed-file cache --------------------------------------------------------------------

def _big_layer(tmp_path, images=400):
    layer = tmp_path / "layer"
    layer.mkdir()
    text = "clouds:\n  c: {provider: local, flavors: {S: {cpu: 1, ram_gb: 1}}}\nimages:\n" + "".join(
        "  img-%d:\n    login_user: u\n    size: {cpu: 1, ram_gb: 1}\n    clouds:\n      c: {image_id: id-%d}\n"
        % (i, i) for i in range(images))
    (layer / "big.yml").write_text(text)
    return layer


def test_cache_gives_the_same_catalog_with_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog_cache, "CACHE_MIN_BYTES", 1)
    layer, cache = _big_layer(tmp_path), tmp_path / "cache"
    cold = load_catalog([str(layer)], cache=str(cache))
    assert len(os.listdir(str(cache))) == 1
    monkeypatch.setattr(catalog_cache, "parse_yaml", lambda *a: pytest.fail("parsed although cached"))
    warm = load_catalog([str(layer)], cache=str(cache))
    assert warm.resolve("img-7", "c") == cold.resolve("img-7", "c")
    assert dict(warm.resolve("img-7", "c").sources) == dict(cold.resolve("img-7", "c").sources)
    assert warm.images["img-399"].lines == cold.images["img-399"].lines


def test_cache_misses_when_the_file_changes_and_keeps_only_valid_documents(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog_cache, "CACHE_MIN_BYTES", 1)
    layer, cache = _big_layer(tmp_path, 5), tmp_path / "cache"
    load_catalog([str(layer)], cache=str(cache))
    (layer / "big.yml").write_text((layer / "big.yml").read_text().replace("login_user: u", "login_usr: u", 1))
    with pytest.raises(CatalogError, match="unknown key 'login_usr'"):
        load_catalog([str(layer)], cache=str(cache))
    with pytest.raises(CatalogError, match="unknown key 'login_usr'"):      # not cached as valid
        load_catalog([str(layer)], cache=str(cache))
    assert len(os.listdir(str(cache))) == 1


def test_cache_off_and_unwritable(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog_cache, "CACHE_MIN_BYTES", 1)
    assert catalog_cache.cache_dir({"SLIPWAY_CATALOG_CACHE": "off"}) is None
    assert catalog_cache.cache_dir({"XDG_CACHE_HOME": "/x"}) == "/x/slipway.cloud/catalog"
    layer = _big_layer(tmp_path, 3)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    assert load_catalog([str(layer)], cache=str(blocker / "sub")).resolve("img-1", "c").image_id == "id-1"
    assert load_catalog([str(layer)], cache=False).resolve("img-2", "c").image_id == "id-2"


def test_resolve_all_skips_unavailable_pairs_and_restores_gc(seed, tmp_path):
    import gc
    assert gc.isenabled()
    everything = seed.resolve_all()
    assert gc.isenabled()
    assert [(p.image, p.cloud.name) for p in everything][:4] == [
        ("ubuntu-14.04", "exoscale-ch-gva"), ("ubuntu-14.04", "exoscale-ch-dk"), ("ubuntu-14.04", "ultimum"),
        ("ubuntu-14.04", "bare")]
    assert len(everything) == 12
    some = seed.resolve_all(images=["my-ubuntu"], clouds=["exoscale-ch-gva", "exoscale-ch-dk"])
    assert [p.flavor for p in some] == ["Medium", "Tiny"]
    catalog = load_catalog([os.path.join(DATA, "seed")], cache=False)
    (tmp_path / "x.yml").write_text("images:\n  only-gva:\n    parent: ubuntu-14.04\n")
    with pytest.raises(CatalogError, match="unknown cloud 'mars'"):
        catalog.resolve_all(clouds=["mars"])
    gc.disable()
    try:
        seed.resolve_all()
        assert not gc.isenabled()
    finally:
        gc.enable()
