# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizing: the seed's tables, the tie-breaks, explicit clouds, and properties over random tables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Cloud, Flavor
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.sizing import (
    choose_flavor, flavor_order, nearest_flavors, positive_number, sorted_flavors,
)

# The SlipStream tutorial's tables (cpu, GB).
EXOSCALE = Cloud("exoscale-ch-gva", "exoscale", flavors=tuple(Flavor(*row) for row in [
    ("Micro", 1, 0.5), ("Tiny", 1, 1), ("Small", 2, 2), ("Medium", 2, 4), ("Large", 4, 8),
    ("Extra-large", 4, 16), ("Huge", 8, 32)]))
ULTIMUM = Cloud("ultimum", "openstack", flavors=tuple(Flavor(*row) for row in [
    ("Basic", 1, 1), ("Standard", 2, 2), ("Standard Plus", 4, 4), ("Large", 8, 8),
    ("Large Plus", 16, 16), ("Extra Large", 32, 32)]))
EXPLICIT = Cloud("bare", "dummy", sizing="explicit")


@pytest.mark.parametrize("cpu, ram, exoscale, ultimum", [
    (2, 4, "Medium", "Standard Plus"),
    (1, 0.5, "Micro", "Basic"),
    (1, 1, "Tiny", "Basic"),
    (2, 2, "Small", "Standard"),
    (3, 3, "Large", "Standard Plus"),
    (8, 8, "Huge", "Large"),
    (16, 16, None, "Large Plus"),
])
def test_seed_tables(cpu, ram, exoscale, ultimum):
    assert choose_flavor(ULTIMUM, cpu=cpu, ram_gb=ram).flavor_name == ultimum
    if exoscale is None:
        with pytest.raises(CatalogError, match="no flavor of cloud exoscale-ch-gva has at least 16 cpu"):
            choose_flavor(EXOSCALE, cpu=cpu, ram_gb=ram)
    else:
        assert choose_flavor(EXOSCALE, cpu=cpu, ram_gb=ram).flavor_name == exoscale


def test_large_is_a_different_machine_on_each_cloud():
    exo, ult = choose_flavor(EXOSCALE, flavor="Large"), choose_flavor(ULTIMUM, flavor="Large")
    assert (exo.cpu, exo.ram_gb) == (4, 8)
    assert (ult.cpu, ult.ram_gb) == (8, 8)


def test_16_16_on_exoscale_lists_the_nearest_flavors():
    with pytest.raises(CatalogError) as info:
        choose_flavor(EXOSCALE, cpu=16, ram_gb=16)
    assert info.value.msg.endswith("nearest: Huge (8 cpu, 32 GB), Extra-large (4 cpu, 16 GB), Large (4 cpu, 8 GB)")
    assert info.value.details["valid"] == ["Huge", "Extra-large", "Large"]
    assert info.value.details["cloud"] == "exoscale-ch-gva"


def test_explicit_flavor_wins_over_cpu_and_ram():
    choice = choose_flavor(EXOSCALE, cpu=8, ram_gb=32, flavor="Micro")
    assert (choice.flavor_name, choice.cpu, choice.ram_gb) == ("Micro", 1, 0.5)


def test_unknown_flavor_lists_the_valid_ones_smallest_first():
    with pytest.raises(CatalogError) as info:
        choose_flavor(ULTIMUM, flavor="Medium")
    assert info.value.msg == ("flavor 'Medium' is not in the table of cloud ultimum; valid flavors: "
                              "Basic, Standard, Standard Plus, Large, Large Plus, Extra Large")


def test_candidates_are_the_next_fitting_flavors():
    choice = choose_flavor(EXOSCALE, cpu=2, ram_gb=2)
    assert choice.flavor_name == "Small"
    assert [f.name for f in choice.candidates] == ["Medium", "Large", "Extra-large"]
    assert choose_flavor(EXOSCALE, cpu=8, ram_gb=1).candidates == ()
    assert choice.to_dict()["candidates"][0] == {"name": "Medium", "cpu": 2, "ram_gb": 4, "disk_gb": None, "price": None}


def test_one_dimension_alone():
    assert choose_flavor(EXOSCALE, cpu=4).flavor_name == "Large"
    assert choose_flavor(EXOSCALE, ram_gb=10).flavor_name == "Extra-large"


def test_ties_fewer_cpu_then_less_ram_then_price_then_name():
    cloud = Cloud("t", "x", flavors=(
        Flavor("zeta", 2, 4, price=0.1), Flavor("alpha", 2, 4, price=0.2), Flavor("beta", 2, 4),
        Flavor("aardvark", 2, 4), Flavor("bigram", 2, 8, price=0.01), Flavor("morecpu", 4, 4, price=0.001)))
    order = [f.name for f in sorted_flavors(cloud)]
    assert order == ["zeta", "alpha", "aardvark", "beta", "bigram", "morecpu"]
    assert choose_flavor(cloud, cpu=2, ram_gb=3).flavor_name == "zeta"
    assert [f.name for f in choose_flavor(cloud, cpu=2, ram_gb=3).candidates] == ["alpha", "aardvark", "beta"]


def test_ec2_like_table_prefers_the_cheaper_equal_machine():
    cloud = Cloud("ec2", "ec2", flavors=(Flavor("c6i.large", 2, 4, price=0.097), Flavor("t3.medium", 2, 4, price=0.048)))
    assert choose_flavor(cloud, cpu=2, ram_gb=4).flavor_name == "t3.medium"


def test_explicit_cloud_accepts_any_positive_size():
    choice = choose_flavor(EXPLICIT, cpu=3, ram_gb=0.75)
    assert (choice.flavor, choice.cpu, choice.ram_gb, choice.candidates) == (None, 3, 0.75, ())
    assert choice.to_dict() == {"flavor": None, "cpu": 3, "ram_gb": 0.75, "candidates": []}


def test_explicit_cloud_needs_both_and_has_no_flavors():
    with pytest.raises(CatalogError, match="sizes machines explicitly: give both cpu and ram_gb"):
        choose_flavor(EXPLICIT, cpu=3)
    with pytest.raises(CatalogError, match="has no flavor table .*give cpu and ram_gb instead of flavor 'Small'"):
        choose_flavor(EXPLICIT, flavor="Small")


def test_nothing_requested_is_an_error():
    with pytest.raises(CatalogError, match="no size given for cloud ultimum"):
        choose_flavor(ULTIMUM)


@pytest.mark.parametrize("value, expected", [(2, 2), (2.0, 2), ("2", 2), ("0.5", 0.5), (0.25, 0.25)])
def test_positive_number_accepts(value, expected):
    result = positive_number(value, "cpu")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value, match", [
    (0, "cpu must be greater than 0, got 0"),
    (-1, "cpu must be greater than 0, got -1"),
    ("-3", "cpu must be greater than 0"),
    ("two", "cpu must be a number greater than 0, got 'two'"),
    (True, "must be a number"),
    (None, "must be a number"),
    (float("nan"), "must be a number"),
    (float("inf"), "must be a number"),
    ([2], "must be a number"),
])
def test_positive_number_rejects(value, match):
    with pytest.raises(CatalogError, match=match):
        positive_number(value, "cpu")


@pytest.mark.parametrize("cpu, ram", [(0, 1), (1, 0), (-2, 4), ("x", 1), (1, "lots")])
def test_bad_requests_fail_on_table_and_explicit_clouds(cpu, ram):
    for cloud in (EXOSCALE, EXPLICIT):
        with pytest.raises(CatalogError, match="(cpu|ram_gb) must be"):
            choose_flavor(cloud, cpu=cpu, ram_gb=ram)


def test_errors_name_the_source():
    with pytest.raises(CatalogError, match=r"\(from my-image at images\.yml:3\)") as info:
        choose_flavor(ULTIMUM, cpu=0, ram_gb=1, source="my-image at images.yml:3")
    assert info.value.details["source"] == "my-image at images.yml:3"


# -- properties over random tables --------------------------------------------------------------

_SIZES = st.sampled_from([0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32, 64])
_FLAVORS = st.lists(
    st.builds(lambda name, cpu, ram, price: Flavor(name, cpu, ram, price=price),
              st.text(alphabet="abcdefgh", min_size=1, max_size=4), _SIZES, _SIZES,
              st.one_of(st.none(), st.sampled_from([0.01, 0.05, 0.1, 1.0]))),
    min_size=1, max_size=10, unique_by=lambda f: f.name)


@settings(max_examples=300, deadline=None)
@given(flavors=_FLAVORS, cpu=st.one_of(st.none(), _SIZES), ram=st.one_of(st.none(), _SIZES))
def test_choice_fits_and_nothing_smaller_fits(flavors, cpu, ram):
    cloud = Cloud("p", "x", flavors=tuple(flavors))
    if cpu is None and ram is None:
        return
    fits = [f for f in flavors if (cpu is None or f.cpu >= cpu) and (ram is None or f.ram_gb >= ram)]
    if not fits:
        with pytest.raises(CatalogError) as info:
            choose_flavor(cloud, cpu=cpu, ram_gb=ram)
        assert info.value.details["valid"] == [f.name for f in nearest_flavors(cloud, cpu, ram)]
        assert 1 <= len(info.value.details["valid"]) <= 3
        return
    choice = choose_flavor(cloud, cpu=cpu, ram_gb=ram)
    assert choice.flavor in fits
    assert all(flavor_order(choice.flavor) <= flavor_order(f) for f in fits)
    assert (choice.cpu, choice.ram_gb) == (choice.flavor.cpu, choice.flavor.ram_gb)
    assert all(c in fits for c in choice.candidates)
    assert [flavor_order(c) for c in choice.candidates] == sorted(flavor_order(c) for c in choice.candidates)
    assert all(flavor_order(choice.flavor) < flavor_order(c) for c in choice.candidates)
    assert len(choice.candidates) == min(3, len(fits) - 1)


@settings(max_examples=200, deadline=None)
@given(flavors=_FLAVORS, data=st.data())
def test_asking_for_a_flavors_own_size_never_gives_a_bigger_one(flavors, data):
    cloud = Cloud("p", "x", flavors=tuple(flavors))
    wanted = data.draw(st.sampled_from(flavors))
    choice = choose_flavor(cloud, cpu=wanted.cpu, ram_gb=wanted.ram_gb)
    assert flavor_order(choice.flavor) <= flavor_order(wanted)
    assert choose_flavor(cloud, flavor=wanted.name).flavor == wanted


@settings(max_examples=200, deadline=None)
@given(cpu=st.floats(min_value=0.01, max_value=1e6), ram=st.floats(min_value=0.01, max_value=1e6))
def test_explicit_cloud_returns_the_request(cpu, ram):
    choice = choose_flavor(EXPLICIT, cpu=cpu, ram_gb=ram)
    assert math.isclose(choice.cpu, cpu) and math.isclose(choice.ram_gb, ram) and choice.flavor is None
