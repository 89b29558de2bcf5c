# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Give Nova's fake virt driver a host of a chosen size.

The stock FakeDriver reports 1000 vCPUs, 800 GB of RAM and 600 TB of disk, so no flavor is ever
too big for it. The harness sizes the host (``SLIPWAY_FAKE_HOST`` = vcpus,memory_mb,disk_gb) so
that fleets of normal flavors fit and an oversized flavor cannot be placed. Nova loads drivers
only from its own ``nova.virt`` package, so the launcher resizes FakeDriver itself, before the
compute service creates it.
"""

import os

VARIABLE = "SLIPWAY_FAKE_HOST"


def size_fake_driver():
    from nova.virt import fake

    vcpus, memory_mb, disk_gb = (int(part) for part in os.environ[VARIABLE].split(","))
    fake.FakeDriver.vcpus, fake.FakeDriver.memory_mb, fake.FakeDriver.local_gb = vcpus, memory_mb, disk_gb
    return vcpus, memory_mb, disk_gb
