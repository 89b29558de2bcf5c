# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Template lookup by name on the fake Exoscale v2 API: newest first, zone and maintainer aware."""

import pytest
from exo_helpers import DEBIAN

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError


def test_newest_first(exo, provider):
    images = provider.find_images(DEBIAN)
    assert [i["creation_date"] for i in images] == ["2025-03-02T08:00:00Z", "2024-09-20T08:00:00Z",
                                                    "2024-01-10T08:00:00Z"]
    assert provider.resolve_image_lookup(DEBIAN) == images[0]["id"]
    assert images[0]["login_user"] == "debian"


def test_a_newer_template_wins_in_a_new_run(exo, provider, cloud, env):
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider

    first = provider.resolve_image_lookup(DEBIAN)
    newer = exo.state.add_template(DEBIAN["name"], "2025-06-01T00:00:00Z", build="2025-06-01")
    assert provider.resolve_image_lookup(DEBIAN) == first            # cached within a run
    assert ExoscaleProvider(cloud, env).resolve_image_lookup(DEBIAN) == newer


def test_glob_owner_and_zone(exo, provider):
    assert {i["name"] for i in provider.find_images({"name": "Linux Debian *"})} == {
        "Linux Debian 12 (Bookworm) 64-bit", "Linux Debian 11 (Bullseye) 64-bit"}
    # The de-fra-1-only build (newest of all) is not offered in this zone.
    assert all(i["creation_date"] != "2025-05-01T08:00:00Z" for i in provider.find_images(DEBIAN))
    assert provider.find_images(dict(DEBIAN, owner="Someone else")) == []
    mine = exo.state.add_template("my golden image", "2025-01-01T00:00:00Z", visibility="private",
                                  maintainer="me")
    assert provider.find_images({"name": "my golden*"}) == []
    assert [i["id"] for i in provider.find_images({"name": "my golden*", "visibility": "private"})] == [mine]


def test_no_match_and_bad_lookups_are_clear(exo, provider):
    with pytest.raises(ProviderError, match="no public template in zone ch-gva-2 matches name 'Plan 9'"):
        provider.resolve_image_lookup({"name": "Plan 9"})
    with pytest.raises(ProviderError, match="unknown image lookup key\\(s\\) architecture"):
        provider.find_images({"name": "x", "architecture": "arm64"})
    with pytest.raises(ProviderError, match="needs at least a name pattern"):
        provider.find_images({"owner": "Exoscale"})
    with pytest.raises(ProviderError, match="visibility must be public or private"):
        provider.find_images({"name": "x", "visibility": "shared"})
