# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throttling and server errors: retried with backoff to convergence, never duplicated, bounded."""

import dataclasses
import time

import pytest
from exo_helpers import SSH_KEY, make_placement

from ansible_collections.slipway.cloud.plugins.module_utils.model import MANAGED_TAG, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import parse_rules

NAMES = ["f-%d" % i for i in range(1, 9)]
RULES = parse_rules([{"proto": "tcp", "ports": [22, 80, 443], "source": "0.0.0.0/0"},
                     {"proto": "icmp", "source": "0.0.0.0/0"}])


@pytest.mark.parametrize("when", ["before", "after", "both"])
def test_a_share_of_429_and_503_converges(exo, provider, cloud, when):
    exo.faults.configure(rate=0.3, statuses=(429, 503), when=when, seed=7)
    group = provider.ensure_security_group("web", "web", RULES)
    machines = provider.create_machines(make_placement(cloud, groups=("web",)), NAMES, SSH_KEY,
                                        {MANAGED_TAG: "true"})
    provider.wait_machines(machines, "running", timeout=30)
    assert provider.ensure_security_group("web", "web", RULES)["changed"] is False
    provider.stop_machines(machines)
    provider.start_machines(machines)
    listed = provider.list_machines()
    assert exo.faults.injected > 5 and provider.retries >= exo.faults.injected
    exo.faults.configure()
    # Converged exactly: one machine per name (no duplicate from a lost answer), one group, every rule once.
    assert sorted(i["name"] for i in exo.state.instances.values()) == NAMES
    assert sorted(m.name for m in listed) == NAMES
    assert [g["name"] for g in exo.state.security_groups.values()] == ["web"]
    assert len(exo.state.security_groups[group["id"]]["rules"]) == 4
    assert len(exo.state.ssh_keys) == 1
    exo.faults.configure(rate=0.3, statuses=(429, 503), when=when, seed=8)
    provider.destroy_machines(listed)
    exo.faults.configure()
    assert exo.state.instances == {}


def test_giving_up_is_bounded_and_says_so(exo, cloud, env):
    options = tuple((k, v) for k, v in cloud.options if k not in ("retry_attempts",)) + (("retry_attempts", 4),)
    provider = ExoscaleProvider(dataclasses.replace(cloud, options=options), env)
    exo.faults.configure(rate=1.0, statuses=(503,))
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        provider.list_machines()
    assert time.monotonic() - started < 5
    assert "HTTP 503" in err.value.msg and "gave up after 4 attempts" in err.value.msg
    assert exo.count("list-instances") == 4


def test_429_honours_retry_after_within_the_cap(exo, cloud, env):
    provider = ExoscaleProvider(cloud, env)
    slept = []
    provider.caller.sleep = slept.append
    exo.faults.configure(rate=1.0, statuses=(429,), limit=2)
    assert provider.list_machines() == []
    assert len(slept) == 2
    assert all(delay == 0.05 for delay in slept)     # Retry-After: 1, capped by retry_max_delay 0.05


def test_client_errors_are_not_retried(exo, provider):
    with pytest.raises(ProviderError) as err:
        provider._request_checked("read a missing instance", "GET",
                                  "/instance/00000000-0000-4000-8000-000000000000")
    assert err.value.details["http_status"] == 404
    assert exo.count("get-instance") == 1
