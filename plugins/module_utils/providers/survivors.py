# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pieces of the survivor rule (``Provider.settle_names``): which machine of a name survives when runs
of one task at once each made it, and what a create reports of it. No Ansible imports.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from ansible_collections.slipway.cloud.plugins.module_utils.model import REQUEST_TAG


class CreatedMachines(list):
    """The machines of one create, one per name, in the names' order (a list), and what the survivor rule
    did: ``adopted`` names whose machine another run made (this run reports it and keeps no second one),
    and ``duplicates_removed``, the Machines removed as duplicates (this run's or another's)."""

    #: the longest the engine waits for other runs' creates of the same moment before it settles again
    MAX_SETTLE_PAUSE = 30.0

    def __init__(self, machines=(), token=None, asked_at=None, answered_at=None, marked=False):
        super(CreatedMachines, self).__init__(machines)
        self.token = token           # this run's slipway:request value
        self.asked_at = asked_at     # when this run's create was sent, and when the cloud answered it
        self.answered_at = answered_at
        self.marked = marked         # the create was marked in flight (Provider.put_create_mark)
        self.others_in_flight = []   # marks of other runs' creates seen before the survivor rule's look
        self.adopted = []
        self.duplicates_removed = []
        self.warnings = []

    @property
    def second_look(self):
        """Whether the engine looks at the names again once its waits are over. With create marks only
        when other runs' creates were in flight (the look after them saw every create asked before it;
        the second one is for a cloud that lists late); without marks always (settle_pause)."""
        return bool(self) and (not self.marked or bool(self.others_in_flight))

    def settle_pause(self, now=None):
        """Seconds to wait before settling again after the waits. Nothing with create marks: the first look
        already waited for the creates other runs had in flight. Without them: another run's create asked
        before this one's (and so its survivor) started before ``asked_at``; it is listed once it has landed,
        which takes about as long as this run's own create took. Twice that after this run asked, at most
        MAX_SETTLE_PAUSE; nothing when that time has passed (the waits usually take longer)."""
        if self.marked or self.asked_at is None or self.answered_at is None:
            return 0.0
        now = time.time() if now is None else now
        landed_by = self.asked_at + 2 * max(self.answered_at - self.asked_at, 0.0)
        return max(0.0, min(landed_by - now, self.MAX_SETTLE_PAUSE))

    def made_elsewhere(self, machine):
        """True when another run's request made ``machine``."""
        return machine.tags.get(REQUEST_TAG) not in (None, self.token)


#: create marks that are key pairs (EC2, OpenStack) carry this public key; its private half was thrown away
#: the moment it was made, so the pair lets no one in
MARK_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMfENL949Y/fG0KIJ8ucLud9O3IBbjSpFukpNoMuFCbe slipway create mark"
MARK_PREFIX = "slipway-creating-"
MARK_DESCRIPTION = "slipway.cloud: a create of machines is in flight (removed when it has landed)"


def mark_name(deployment, mark_id):
    """The cloud-side name of a create mark: the prefix, the deployment's digest (key pair names allow few
    characters), the mark id."""
    return mark_prefix(deployment) + mark_id


def mark_prefix(deployment):
    """What the names of one deployment's create marks begin with (machines without one share a prefix)."""
    digest = hashlib.sha256((deployment or "").encode("utf-8")).hexdigest()[:12]
    return "%s%s-" % (MARK_PREFIX, digest)


def marks_of(deployment, names):
    """{mark id: name} of the create marks of ``deployment`` among key pair ``names``."""
    prefix = mark_prefix(deployment)
    return {name[len(prefix):]: name for name in names if name and name.startswith(prefix)}


def new_request_token():
    """A create request's ``slipway:request`` value (and a create mark's id): when it was made
    (microseconds) and a random part."""
    return "%x-%s" % (int(time.time() * 1e6), uuid.uuid4().hex[:16])


def token_time(text):
    """When a token of ``new_request_token`` was made (seconds since the epoch), or None."""
    try:
        return int(text.split("-", 1)[0], 16) / 1e6 if text and "-" in text else None
    except ValueError:
        return None


def request_time(machine):
    """When the request that made ``machine`` was sent, from its ``slipway:request`` tag (None if unknown)."""
    return token_time((machine.tags or {}).get(REQUEST_TAG))


def survivor_key(machine):
    """Which of several machines of one name survives, the same in every run: the one whose create was
    asked first (the ``slipway:request`` tag, to the microsecond; clouds date machines to the second only),
    else the oldest, then the lowest id."""
    requested = request_time(machine)
    created = machine.timings.get("launched_at") or machine.timings.get("requested_at")
    first = requested if requested is not None else created
    return (first if first is not None else float("inf"), str(machine.id))
