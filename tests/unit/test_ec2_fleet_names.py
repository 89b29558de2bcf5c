# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 fleets are named from birth: the names ride on the RunInstances tags, machine i gets names[i]."""

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.provider import (
    FLEET_NAMES_TAG,
    fleet_name_tags,
    launch_name,
)


def test_a_short_fleet_is_one_tag():
    assert fleet_name_tags(["web-01", "web-02"]) == {FLEET_NAMES_TAG: "web-01 web-02"}
    assert [launch_name(fleet_name_tags(["web-01", "web-02"]), i) for i in ("0", "1", 2, None, "x")] == [
        "web-01", "web-02", None, None, None]


@pytest.mark.parametrize("count", [1, 40, 41, 200])
def test_long_fleets_spread_over_tags_of_at_most_256_characters(count):
    names = ["machine-with-a-long-name-%04d" % i for i in range(count)]
    tags = fleet_name_tags(names)
    assert all(len(value) <= 256 for value in tags.values())
    assert [launch_name(tags, i) for i in range(count)] == names
    assert sorted(tags) == sorted([FLEET_NAMES_TAG] + ["%s:%d" % (FLEET_NAMES_TAG, n) for n in range(2, len(tags) + 1)])
