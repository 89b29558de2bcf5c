# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared values and builders for the EC2 provider tests (imported by conftest and tests)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "support"))

from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Placement  # noqa: E402

KEY_VAR = "SLIPWAY_TEST_AWS_KEY"
SECRET_VAR = "SLIPWAY_TEST_AWS_SECRET"
KEY_VALUE = "AKIDSLIPWAYTEST7731"
SECRET_VALUE = "slipway-test-secret-Zq81xW"      # recognisable: searched for in every error
SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq6zq1Xw0n4bq7hO2nQ5p8qv2S0y0e9Ew7o1C2d3e4f slipway-test")
FAST_RETRY = (("retry_base_delay", 0.01), ("retry_max_delay", 0.05), ("retry_attempts", 12), ("retry_deadline", 60))


def make_cloud(url, name="moto-east", region="us-east-1", options=(), provider="ec2"):
    return Cloud(name=name, provider=provider, region=region, endpoint=url,
                 credentials=(("key", KEY_VAR), ("secret", SECRET_VAR)),
                 options=(("ssh_probe", False),) + FAST_RETRY + tuple(options))


def make_placement(cloud, image_id, groups=(), flavor="t3.micro", image="debian-12", login_user="admin"):
    return Placement(cloud=cloud, image=image, image_id=image_id, image_lookup=None, login_user=login_user,
                     flavor=flavor, cpu=2, ram_gb=1, security_groups=tuple(groups))
