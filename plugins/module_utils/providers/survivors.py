# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pieces of the survivor rule (``Provider.settle_names``): which machine of a name survives when runs
of one task at once each made it, and what a create reports of it. No Ansible imports.
"""

from __future__ import annotations

import time
import uuid

from ansible_collections.slipway.cloud.plugins.module_utils.model import REQUEST_TAG


class CreatedMachines(list):
    """The machines of one create, one per name, in the names' order (a list), and what the survivor rule
    did: ``adopted`` names whose machine another run made (this run reports it and keeps no second one),
    and ``duplicates_removed``, the Machines removed as duplicates (this run's or another's)."""

    #: the longest the engine waits for other runs' creates of the same moment before it settles again
    MAX_SETTLE_PAUSE = 30.0

    def __init__(self, machines=(), token=None, asked_at=None, answered_at=None):
        super(CreatedMachines, self).__init__(machines)
        self.token = token           # this run's slipway:request value
        self.asked_at = asked_at     # when this run's create was sent, and when the cloud answered it
        self.answered_at = answered_at
        self.adopted = []
        self.duplicates_removed = []

    def settle_pause(self, now=None):
        """Seconds to wait before settling again after the waits. Another run's create asked before this
        one's (and so its survivor) started before ``asked_at``; it is listed once it has landed, which
        takes about as long as this run's own create took. Twice that after this run asked, at most
        MAX_SETTLE_PAUSE; nothing when that time has passed (the waits usually take longer)."""
        if self.asked_at is None or self.answered_at is None:
            return 0.0
        now = time.time() if now is None else now
        landed_by = self.asked_at + 2 * max(self.answered_at - self.asked_at, 0.0)
        return max(0.0, min(landed_by - now, self.MAX_SETTLE_PAUSE))

    def made_elsewhere(self, machine):
        """True when another run's request made ``machine``."""
        return machine.tags.get(REQUEST_TAG) not in (None, self.token)


def new_request_token():
    """A create request's ``slipway:request`` value: when it was sent (microseconds) and a random part."""
    return "%x-%s" % (int(time.time() * 1e6), uuid.uuid4().hex[:16])


def request_time(machine):
    """When the request that made ``machine`` was sent, from its ``slipway:request`` tag (None if unknown)."""
    text = (machine.tags or {}).get(REQUEST_TAG) or ""
    try:
        return int(text.split("-", 1)[0], 16) / 1e6 if "-" in text else None
    except ValueError:
        return None


def survivor_key(machine):
    """Which of several machines of one name survives, the same in every run: the one whose create was
    asked first (the ``slipway:request`` tag, to the microsecond; clouds date machines to the second only),
    else the oldest, then the lowest id."""
    requested = request_time(machine)
    created = machine.timings.get("launched_at") or machine.timings.get("requested_at")
    first = requested if requested is not None else created
    return (first if first is not None else float("inf"), str(machine.id))
