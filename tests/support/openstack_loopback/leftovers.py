# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a deployment left behind in the test project: servers, ports, floating IPs, key pairs,
security groups.

    before = snapshot(conn)
    ...                                  # deploy, destroy, kill a run half-way...
    assert left_since(conn, before) == {}

A snapshot is the ids present; ``left_since`` lists (as "name (id)") what is there now and was
not then, per kind, leaving out kinds with nothing new. Ports that Neutron owns (router
interfaces, gateways, DHCP) are not a deployment's. Use a connection on the internal interface
(``LoopbackCloud.connect(interface="internal")``) so that injected faults never hide anything.
"""

KINDS = ("servers", "ports", "floating_ips", "keypairs", "security_groups")


def inventory(conn):
    """{kind: {id: "name (id)"}} of everything of the connection's project that a deployment can make."""
    found = {kind: {} for kind in KINDS}
    for server in conn.compute.servers():
        if server.status == "DELETED":
            continue       # deleted, ports released: Nova lists it until the row itself goes, a moment later
        found["servers"][server.id] = "%s (%s, %s)" % (server.name, server.id, server.status)
    for port in conn.network.ports(project_id=conn.current_project_id):
        if not (port.device_owner or "").startswith("network:"):
            found["ports"][port.id] = "%s (%s, device %s)" % (port.name or "-", port.id, port.device_id or "-")
    for ip in conn.network.ips(project_id=conn.current_project_id):
        found["floating_ips"][ip.id] = "%s (%s, port %s)" % (ip.floating_ip_address, ip.id, ip.port_id or "-")
    for keypair in conn.compute.keypairs():
        found["keypairs"][keypair.name] = keypair.name
    for group in conn.network.security_groups(project_id=conn.current_project_id):
        if group.name != "default":
            found["security_groups"][group.id] = "%s (%s)" % (group.name, group.id)
    return found


def snapshot(conn):
    """{kind: frozenset of ids} present now."""
    return {kind: frozenset(ids) for kind, ids in inventory(conn).items()}


def left_since(conn, before=None):
    """{kind: [description]} of what exists now and not in ``before`` (everything, when None)."""
    before = before or {}
    left = {}
    for kind, items in inventory(conn).items():
        new = sorted(text for item_id, text in items.items() if item_id not in before.get(kind, ()))
        if new:
            left[kind] = new
    return left
