# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped catalog's Exoscale clouds through the deploy engine, against the fake."""

from exo_helpers import ENV, SSH_KEY, make_cloud

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import shipped_catalog_dir
from ansible_collections.slipway.cloud.plugins.module_utils.engine.deploy import DeployRequest, converge_instances
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider


def _catalog(exo):
    catalog = load_catalog([shipped_catalog_dir()])
    catalog.clouds["exoscale-ch-gva"] = make_cloud(exo.url)
    return catalog


def _run(catalog, **kwargs):
    request = DeployRequest(clouds=["exoscale-ch-gva"], image="debian-12-web", ssh_public_key=SSH_KEY,
                            wait="running", timeout=60, deployment="tutorial", **kwargs)
    return converge_instances(catalog, request,
                              provider_factory=lambda cloud: ExoscaleProvider(catalog.clouds[cloud.name], ENV))


def test_tutorial_image_converges_and_is_idempotent(exo):
    catalog = _catalog(exo)
    first = _run(catalog, names=["web-1", "web-2"])
    assert first.failed_clouds == [], first.outcomes["exoscale-ch-gva"].error
    assert first.changed is True
    machines = first.instances
    assert sorted(m["name"] for m in machines) == ["web-1", "web-2"]
    assert {m["flavor"] for m in machines} == {"Tiny"}            # debian-12 asks 1 cpu / 1 GB
    # The image's port 80 opened through slipway_managed, with SSH.
    group = next(g for g in exo.state.security_groups.values() if g["name"] == "slipway_managed")
    assert sorted(r["start-port"] for r in group["rules"]) == [22, 80]

    second = _run(catalog, names=["web-1", "web-2"])
    assert second.failed_clouds == [] and second.changed is False
    assert len(exo.state.instances) == 2

    gone = _run(catalog, names=["web-1", "web-2"], state="absent")
    assert gone.changed is True and exo.state.instances == {}
