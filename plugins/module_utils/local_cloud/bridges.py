# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local clouds' bridges: which names they may have, and how teardown knows a bridge is its own.

A bridge name starts with the collection's prefix ``slw`` (as every derived name does), so a cloud can
never name ``eth0`` or ``docker0``. Set-up marks each bridge it makes with an interface alias
``slipway:<root>:<cloud>`` and records its ifindex; teardown deletes a link only when it is a bridge,
carries that mark and has that ifindex. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

PREFIX = "slw"
#: "slw" + 1-12 letters, digits, '-' or '_': at most 15 characters (Linux's IFNAMSIZ - 1)
BRIDGE_RE = re.compile(r"^slw[A-Za-z0-9_-]{1,12}\Z")
#: the machines' host-side veths ("vslw<id>") are never a cloud's bridge
_SYS_NET = "/sys/class/net"


def check_bridge_name(bridge, cloud):
    """``bridge`` if it is a valid bridge name under the collection's prefix, else one clear error."""
    if not isinstance(bridge, str) or not BRIDGE_RE.match(bridge):
        raise ProviderError("cloud %s option bridge %s is not valid: give an interface name of 4-15 characters "
                            "starting with %r, then letters, digits, '-' or '_' (e.g. slw-%s), or leave it unset "
                            "to derive one; other interfaces of the host are never a local cloud's bridge"
                            % (cloud, excerpt(bridge), PREFIX, "web"), cloud=cloud, key="options.bridge",
                            valid=BRIDGE_RE.pattern)
    return bridge


def marker(state, cloud):
    """The alias set-up gives the bridge of ``cloud`` in ``state``'s root."""
    return "slipway:%s:%s" % (state.suffix or "default", cloud)


def _sys(name, *parts):
    return os.path.join(_SYS_NET, name, *parts)


def inspect(name):
    """{"exists", "bridge", "alias", "ifindex"} of the link ``name`` (a valid bridge name), from /sys."""
    if not BRIDGE_RE.match(name) or not os.path.isdir(_sys(name)):
        return {"exists": False}
    index = (host.read_text(_sys(name, "ifindex")) or "").strip()
    return {"exists": True, "bridge": os.path.isdir(_sys(name, "bridge")),
            "alias": (host.read_text(_sys(name, "ifalias")) or "").strip(),
            "ifindex": int(index) if index.isdigit() else None}


def check_claimable(state, definition):
    """Set-up may use the bridge: absent, or a bridge with no mark or this cloud's mark. Else one clear error."""
    found = inspect(definition["bridge"])
    if not found["exists"]:
        return
    wanted = marker(state, definition["name"])
    if not found["bridge"] or found["alias"] not in ("", wanted):
        raise ProviderError("local cloud %s: interface %s already exists and is not this cloud's bridge (%s); "
                            "choose another bridge name" % (definition["name"], definition["bridge"],
                                                            "not a bridge" if not found["bridge"]
                                                            else "marked for another cloud or root"),
                            cloud=definition["name"], key="options.bridge")


def claim(state, definition):
    """Mark the cloud's bridge as made by this set-up; returns what the record keeps of it."""
    wanted = marker(state, definition["name"])
    found = inspect(definition["bridge"])
    if found.get("alias") != wanted:
        host.run(["ip", "link", "set", "dev", definition["bridge"], "alias", wanted])
        found = inspect(definition["bridge"])
    return {"name": definition["bridge"], "alias": wanted, "ifindex": found.get("ifindex")}


def ours(state, record):
    """Why the link of a cloud ``record`` must not be deleted, or None when it is the bridge set-up made.

    A record without the ``made`` entry (written before bridges were marked) is trusted only for an
    unmarked bridge under the prefix.
    """
    made = record.get("made") or {}
    bridge = made.get("bridge") or {}
    name = record.get("bridge")
    if not isinstance(name, str) or not BRIDGE_RE.match(name):
        return "its bridge %s is not a name under the %r prefix" % (excerpt(name), PREFIX)
    if bridge and bridge.get("name") != name:
        return "its bridge differs from the one set-up recorded"
    found = inspect(name)
    if not found["exists"]:
        return None
    if not found["bridge"]:
        return "interface %s is not a bridge" % name
    if not bridge:
        return None if found["alias"] == "" else "bridge %s is marked for another cloud or root" % name
    if found["alias"] != marker(state, record["name"]):
        return "bridge %s does not carry this cloud's mark" % name
    if bridge.get("ifindex") is not None and bridge["ifindex"] != found["ifindex"]:
        return "bridge %s is not the interface set-up made (ifindex %s, recorded %s)" % (
            name, found["ifindex"], bridge["ifindex"])
    return None
