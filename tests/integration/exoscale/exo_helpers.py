# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared values and builders for the Exoscale provider tests (imported by conftest and tests)."""

import dataclasses
import os
import sys

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)

from exoscale_server import DEFAULT_KEY, DEFAULT_SECRET  # noqa: E402

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import shipped_catalog_dir  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.model import Placement  # noqa: E402

KEY_VAR = "SLIPWAY_TEST_EXO_KEY"
SECRET_VAR = "SLIPWAY_TEST_EXO_SECRET"
ENV = {KEY_VAR: DEFAULT_KEY, SECRET_VAR: DEFAULT_SECRET}
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq6zq1Xw0n4bq7hO2nQ5p8qv2S0y0e9Ew7o1C2d3e4f slipway-test"
FAST = (("poll_interval", 0.01), ("retry_base_delay", 0.01), ("retry_max_delay", 0.05),
        ("retry_attempts", 12), ("retry_deadline", 60), ("ssh_probe", False))
DEBIAN = {"name": "Linux Debian 12 (Bookworm) 64-bit"}


def shipped_cloud(name="exoscale-ch-gva"):
    """The shipped catalog's Exoscale cloud (its flavor table and zone), as the catalog defines it."""
    return load_catalog([shipped_catalog_dir()]).cloud(name)


def make_cloud(url, name="exoscale-ch-gva", options=(), credentials=None):
    """The shipped cloud pointed at the fake, with test credentials and fast retries."""
    return dataclasses.replace(shipped_cloud(name), endpoint=url,
                               credentials=credentials or (("key", KEY_VAR), ("secret", SECRET_VAR)),
                               options=FAST + tuple(options))


def make_placement(cloud, flavor="Tiny", groups=(), image_id=None, lookup=None, image="debian-12"):
    return Placement(cloud=cloud, image=image, image_id=image_id,
                     image_lookup=None if image_id else (lookup or DEBIAN), login_user="debian",
                     flavor=flavor, cpu=1, ram_gb=1, security_groups=tuple(groups))
