# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The listing engine behind instance_info: every managed machine of several clouds, listed at once.

One listing call per cloud, the clouds in parallel through the per-cloud fan-out; one broken cloud never
hides the others. The inventory plugin lists through ``list_clouds`` as well. No Ansible imports.
"""

from __future__ import annotations

from ansible_collections.slipway.cloud.plugins.module_utils.engine.fanout import (
    CloudOutcome,
    for_each_cloud,
    provider_opener,
)
from ansible_collections.slipway.cloud.plugins.module_utils.engine.records import is_gone, machine_record


class ListingOutcome(CloudOutcome):
    """One cloud's listing: its live machines (model.Machine), in the provider's order."""

    def __init__(self, cloud):
        super(ListingOutcome, self).__init__(cloud)
        self.machines = []


def list_clouds(clouds, opener, timeout=None):
    """{cloud name: ListingOutcome} of every cloud (model.Cloud), listed in parallel, bounded by ``timeout``."""
    def work(cloud, provider, outcome):
        outcome.machines = [m for m in provider.list_machines() if not is_gone(m)]

    return for_each_cloud(list(clouds), work, opener, outcome_type=ListingOutcome, timeout=timeout)


def list_instances(catalog, clouds, image=None, deployment=None, names=None, provider_factory=None,
                   environ=None):
    """Every managed machine on ``clouds`` matching the filters, listed in parallel.

    Returns (instances, {cloud: {"status", "count", "error"?}}): one broken cloud
    never hides the others.
    """
    cloud_objs = [catalog.cloud(name) for name in clouds]
    wanted = set(names) if names else None
    outcomes = list_clouds(cloud_objs, provider_opener(provider_factory, environ))
    instances, status = [], {}
    for cloud in cloud_objs:
        outcome = outcomes[cloud.name]
        if outcome.failed:
            status[cloud.name] = {"status": "failed", "count": 0, "error": outcome.error}
            continue
        found = [record for record in (machine_record(m) for m in outcome.machines)
                 if (image is None or record.get("image") == image)
                 and (deployment is None or record.get("deployment") == deployment)
                 and (wanted is None or record["name"] in wanted)]
        found.sort(key=lambda r: (r["name"], str(r["id"])))
        instances.extend(found)
        status[cloud.name] = {"status": "ok", "count": len(found)}
    return instances, status
