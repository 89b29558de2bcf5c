# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a local machine may do to the host's network: its MAC, its capabilities.

Each machine's link gets a MAC derived from its id (recorded before the link exists), so the
bridge-port table of firewall.py knows which frames are the machine's own. Machines boot
without CAP_NET_ADMIN and other capabilities a guest does not need: their root cannot add
addresses, change its MAC or routes. A cloud whose machines run their own host firewall (the
firewall role) opts in with the ``machine_net_admin`` option: the port filter keeps what such a
machine can send to its own addresses. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host

MACHINE_LINK = "host0"
_ID = re.compile(r"[0-9a-f]{8}\Z")

# Dropped from systemd-nspawn's default set: none is needed by systemd, sshd, apt, sudo or nginx in
# a machine, and each reaches past the machine (network configuration of its netns, raw devices,
# kernel audit rules, immutable flags, leases, tty configuration, other processes' memory).
DROPPED_CAPABILITIES = ("CAP_NET_ADMIN", "CAP_MKNOD", "CAP_AUDIT_CONTROL", "CAP_LINUX_IMMUTABLE",
                        "CAP_LEASE", "CAP_SYS_TTY_CONFIG", "CAP_SYS_PTRACE", "CAP_IPC_OWNER")


def mac_for(machine_id):
    """A locally administered unicast MAC from the machine's 8 hex digit id: 02:73:<id>."""
    if not _ID.match(machine_id or ""):
        raise ValueError("machine id must be 8 lowercase hex digits")
    return "02:73:" + ":".join(machine_id[i:i + 2] for i in range(0, 8, 2))


def set_machine_mac(netns, mac):
    """Give the machine's end of its veth (inside its netns) the recorded MAC."""
    host.run(["ip", "-n", netns, "link", "set", "dev", MACHINE_LINK, "address", mac])


def capability_arguments(net_admin=False):
    """systemd-nspawn arguments for a machine's capabilities.

    ``net_admin``: keep CAP_NET_ADMIN over the machine's own netns (its own nftables); the bridge
    port still drops whatever it sends from an address or MAC that is not its own.
    """
    dropped = [c for c in DROPPED_CAPABILITIES if not (net_admin and c == "CAP_NET_ADMIN")]
    arguments = ["--drop-capability=" + ",".join(dropped)]
    if net_admin:
        arguments.append("--capability=CAP_NET_ADMIN")
    return arguments
