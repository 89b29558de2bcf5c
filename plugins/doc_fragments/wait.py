# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Bounded waiting for machines."""

    DOCUMENTATION = r"""
options:
  wait:
    description:
      - What to wait for after creating or starting machines.
      - V(ssh) waits until each machine answers SSH and returns its host keys.
      - V(running) waits only until the cloud reports the machines running.
    type: str
    choices: [running, ssh]
    default: ssh
  timeout:
    description:
      - Seconds the whole task may take on each cloud, waiting included.
      - Machines that are not there in time are named in the error; those that are, are reported.
    type: int
    default: 600
"""
