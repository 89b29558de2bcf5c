# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set the host up for local clouds, and tear it down: the engine of the local_cloud role.

present: lxcfs running, base image cached, one bridge per cloud with the gateway
address, the apt proxy (apt-cacher-ng, own instance, bound to the gateways, only
the host's Debian mirror behind it), the nft table. absent: every machine of the
clouds destroyed, then all of the above removed. Both idempotent; both report
what they changed. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import signal
import socket
import time

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import bridges, firewall, host, image
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import StateRoot, check_cloud_name
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, ProviderError

LXCFS_DIR = "/var/lib/lxcfs"
DEFAULT_PROXY_PORT = 3143
SETUP_PLAYBOOK = "playbooks/local_cloud.yml"
HOST_PACKAGES = ("debootstrap", "systemd-container", "lxcfs", "nftables", "apt-cacher-ng", "iproute2",
                 "openssh-client")


def not_set_up(what, cloud):
    return ProviderError("local cloud %s is not set up on this host (%s); run: ansible-playbook %s"
                         % (cloud, what, SETUP_PLAYBOOK), cloud=cloud, playbook=SETUP_PLAYBOOK)


def cloud_definition(name, subnet, bridge=None, root=None):
    """A validated {"name", "subnet", "gateway", "bridge"} for one local cloud.

    The name follows the catalog's cloud-name rule, the subnet lies inside 198.18.0.0/15 and the
    bridge is a name under the collection's prefix (derived from the name when not given).
    """
    check_cloud_name(name)
    network = host.check_subnet(subnet, name)
    gateway = str(next(network.hosts()))
    state = root if isinstance(root, StateRoot) else None
    bridge = bridges.check_bridge_name(bridge or (state.bridge_for(name) if state else None), name)
    return {"name": name, "subnet": str(network), "gateway": gateway, "prefixlen": network.prefixlen,
            "bridge": bridge}


def catalog_definitions(catalog, names, state):
    """The definitions of the catalog's local clouds ``names`` (every local cloud when None), or one clear error."""
    local = {name: cloud for name, cloud in catalog.clouds.items() if cloud.provider == "local"}
    if names is None:
        names = sorted(local)
    unknown = [n for n in names if n not in local]
    if unknown:
        raise CatalogError("clouds: %s %s not a local cloud of the catalog; local clouds: %s"
                           % (", ".join(excerpt(n) for n in unknown), "is" if len(unknown) == 1 else "are",
                              ", ".join(sorted(local)) or "none"), key="clouds", valid=sorted(local))
    return [cloud_definition(n, local[n].option("subnet"), local[n].option("bridge"), state) for n in names]


# --------------------------------------------------------------------------- lxcfs

def lxcfs_ready():
    return host.is_mounted(LXCFS_DIR) and os.path.exists(os.path.join(LXCFS_DIR, "proc", "meminfo"))


def ensure_lxcfs(state, check_mode=False):
    if lxcfs_ready():
        return False
    if check_mode:
        return True
    if host.is_mounted(LXCFS_DIR):
        # A dead lxcfs leaves its mount behind ("transport endpoint is not connected").
        host.run(["umount", "-l", LXCFS_DIR], check=False)
    os.makedirs(LXCFS_DIR, exist_ok=True)
    pid, start = host.spawn_detached(["lxcfs", "--foreground", LXCFS_DIR], state.path("lxcfs.log"))
    deadline = time.time() + 10
    while not lxcfs_ready():
        if time.time() > deadline or not host.process_alive(pid, start):
            raise ProviderError("lxcfs did not come up on %s; see %s" % (LXCFS_DIR, state.path("lxcfs.log")))
        time.sleep(0.05)
    data = state.host()
    data["lxcfs"] = {"pid": pid, "start": start}
    state.save_host(data)
    return True


def stop_lxcfs_if_ours(state, cgroups):
    """Stop lxcfs only if this root started it and no local machine of any root is left."""
    data = state.host()
    entry = data.get("lxcfs")
    if not entry or not host.process_alive(entry["pid"], entry["start"]):
        data.pop("lxcfs", None)
        state.save_host(data)
        return False
    for hierarchy in cgroups.hierarchies.values():
        for name in os.listdir(hierarchy):
            path = os.path.join(hierarchy, name)
            if name.startswith("slipway") and os.path.isdir(path) and any(
                    os.path.isdir(os.path.join(path, d)) for d in os.listdir(path)):
                return False
    host.run(["umount", LXCFS_DIR], check=False)
    _terminate(entry["pid"], entry["start"])
    data.pop("lxcfs", None)
    state.save_host(data)
    return True


def _terminate(pid, start, timeout=10.0):
    if not host.process_alive(pid, start):
        return
    host.signal_pid(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while host.process_alive(pid, start):
        if time.time() > deadline:
            host.signal_pid(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


# --------------------------------------------------------------------------- apt proxy

def proxy_config(state, clouds, port, spec):
    lines = [
        "# slipway.cloud local clouds: apt proxy, written by the local_cloud role; do not edit",
        "CacheDir: %s" % state.path("apt-proxy", "cache"),
        "LogDir: %s" % state.path("apt-proxy", "log"),
        "SupportDir: /usr/lib/apt-cacher-ng",
        "Port: %d" % int(port),
        "BindAddress: %s" % " ".join(sorted(c["gateway"] for c in clouds.values())),
        "PidFile: %s" % state.path("apt-proxy", "pid"),
        # Only the repositories below, nothing else: machines get no general way out.
        "ForceManaged: 1",
        "ExThreshold: 4",
    ]
    repos = sorted(set(uri for uri, _release in spec["mirrors"]))
    for index, uri in enumerate(repos):
        lines.append("Remap-slipway%d: %s ; %s" % (index, uri.split("://", 1)[1], uri))
    return "\n".join(lines) + "\n"


def proxy_alive(state):
    entry = state.host().get("apt_proxy")
    return bool(entry) and host.process_alive(entry["pid"], entry["start"])


def ensure_proxy(state, clouds, port, spec, check_mode=False):
    """The apt-cacher-ng instance of this root runs with the config for ``clouds``."""
    conf_dir = state.path("apt-proxy", "conf")
    conf_file = os.path.join(conf_dir, "acng.conf")
    wanted = proxy_config(state, clouds, port, spec)
    same = host.read_text(conf_file) == wanted
    if same and proxy_alive(state):
        return False
    if check_mode:
        return True
    stop_proxy(state)
    for sub in ("conf", "cache", "log"):
        os.makedirs(state.path("apt-proxy", sub), exist_ok=True)
    host.write_text(conf_file, wanted)
    pid, start = host.spawn_detached(["apt-cacher-ng", "-c", conf_dir, "ForeGround=1"],
                                     state.path("apt-proxy", "log", "stdout.log"))
    data = state.host()
    data["apt_proxy"] = {"pid": pid, "start": start, "port": int(port)}
    state.save_host(data)
    first = sorted(c["gateway"] for c in clouds.values())[0]
    deadline = time.time() + 15
    while True:
        try:
            socket.create_connection((first, int(port)), timeout=0.5).close()
            break
        except (OSError, socket.error):
            if time.time() > deadline or not host.process_alive(pid, start):
                raise ProviderError("apt-cacher-ng did not listen on %s:%s (port taken by another service? set "
                                    "local_cloud_apt_proxy_port); see %s"
                                    % (first, port, state.path("apt-proxy", "log")), port=port)
            time.sleep(0.05)
    return True


def stop_proxy(state):
    data = state.host()
    entry = data.pop("apt_proxy", None)
    if entry:
        _terminate(entry["pid"], entry["start"])
        state.save_host(data)
        return True
    return False


# --------------------------------------------------------------------------- firewall

def apply_firewall(state):
    """Render the nft table from the records and replace it atomically. Call under state.lock()."""
    clouds = state.clouds()
    if not clouds:
        return firewall.delete_tables(state.nft_table, host.nft_delete_table)
    groups = {name: state.groups(name) for name in clouds}
    port = (state.host().get("apt_proxy") or {}).get("port", DEFAULT_PROXY_PORT)
    text = firewall.render_ruleset(state.nft_table, clouds, state.machines(), groups, port)
    host.nft_apply(text)
    return True


# --------------------------------------------------------------------------- the whole host

def _check_overlaps(state, definitions):
    """No two clouds (this root's or on any host link) may share a subnet or a bridge."""
    known = dict(state.clouds())
    for definition in definitions:
        known[definition["name"]] = definition
    items = sorted(known.values(), key=lambda c: c["name"])
    for i, first in enumerate(items):
        for second in items[i + 1:]:
            if ipaddress.ip_network(first["subnet"]).overlaps(ipaddress.ip_network(second["subnet"])):
                raise ProviderError("local clouds %s (%s) and %s (%s) overlap; give each its own /24 of 198.18.0.0/15"
                                    % (first["name"], first["subnet"], second["name"], second["subnet"]),
                                    key="options.subnet")
            if first["bridge"] == second["bridge"]:
                raise ProviderError("local clouds %s and %s both use bridge %s"
                                    % (first["name"], second["name"], first["bridge"]), key="options.bridge")
    out = host.run(["ip", "-o", "-4", "addr", "show"], check=False)[1]
    for definition in definitions:
        network = ipaddress.ip_network(definition["subnet"])
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[1] != definition["bridge"]:
                other = ipaddress.ip_interface(parts[3]).network
                if other.overlaps(network):
                    raise ProviderError("local cloud %s: subnet %s is already on host interface %s (%s); choose "
                                        "another /24 of 198.18.0.0/15"
                                        % (definition["name"], network, parts[1], other),
                                        cloud=definition["name"], key="options.subnet")


def ensure_host(state, definitions, proxy_port=DEFAULT_PROXY_PORT, build_image=True, check_mode=False,
                image_spec=None):
    """Make the host ready for ``definitions`` (see cloud_definition). Returns a result dict."""
    started = time.time()
    result = {"changed": False, "changes": [], "clouds": [d["name"] for d in definitions]}

    def note(changed, what):
        if changed:
            result["changed"] = True
            result["changes"].append(what)

    state.check_trusted()
    _check_overlaps(state, definitions)
    for definition in definitions:
        bridges.check_claimable(state, definition)
    if not check_mode:
        note(state.ensure_dirs(), "state root %s made private (0700)" % state.root)
    note(ensure_lxcfs(state, check_mode), "lxcfs started on %s" % LXCFS_DIR)
    spec = image_spec or image.image_spec()
    if build_image:
        built = image.ensure_image(state.images, spec, check_mode=check_mode)
        note(built["changed"], "base image %s built in %.0f s" % (built["path"], built["seconds"]))
        result["image"] = built
    with state.lock():
        for definition in definitions:
            recorded = state.cloud(definition["name"])
            wanted = dict(definition)
            if recorded:
                wanted["set_up_at"] = recorded.get("set_up_at")
                wanted["made"] = recorded.get("made")
            if not check_mode:
                address = "%s/%d" % (definition["gateway"], definition["prefixlen"])
                changed = host.ensure_bridge(definition["bridge"], address)
                note(changed, "bridge %s up with %s" % (definition["bridge"], definition["gateway"]))
                wanted["made"] = made_by_set_up(state, definition)
            elif "%s/%d" % (definition["gateway"], definition["prefixlen"]) not in host.bridge_address(
                    definition["bridge"]):
                note(True, "bridge %s up with %s" % (definition["bridge"], definition["gateway"]))
            if recorded != wanted or not recorded.get("set_up_at"):
                wanted["set_up_at"] = wanted.get("set_up_at") or time.time()
                if recorded and recorded.get("subnet") != definition["subnet"] and state.machines(definition["name"]):
                    raise ProviderError("local cloud %s has machines on %s; destroy them before moving it to %s"
                                        % (definition["name"], recorded["subnet"], definition["subnet"]),
                                        cloud=definition["name"])
                if not check_mode:
                    state.save(state.cloud_file(definition["name"]), wanted)
                note(True, "cloud %s recorded" % definition["name"])
        clouds = state.clouds() if not check_mode else dict(state.clouds(), **{d["name"]: d for d in definitions})
        if clouds:
            note(ensure_proxy(state, clouds, proxy_port, spec, check_mode), "apt proxy on port %d" % proxy_port)
        if not check_mode:
            before = host.nft_table_text("inet", state.nft_table)
            apply_firewall(state)
            note(before != host.nft_table_text("inet", state.nft_table), "nft table inet %s" % state.nft_table)
    result["seconds"] = round(time.time() - started, 2)
    return result


def made_by_set_up(state, definition):
    """What a cloud's record keeps of what set-up made for it: the marked bridge and its paths in the root."""
    return {"bridge": bridges.claim(state, definition),
            "paths": [os.path.relpath(state.cloud_file(definition["name"]), state.root),
                      os.path.relpath(state.group_dir(definition["name"]), state.root)]}


def checked_record(state, name, record):
    """``record`` (of clouds/) when teardown may act on it, else one clear error; nothing is touched first."""
    def refuse(why):
        raise ProviderError("refusing to tear down local cloud %s: its record in %s %s; nothing was removed. "
                            "Check the record (it may have been tampered with) and remove it by hand"
                            % (excerpt(name), state.path("clouds"), why), cloud=str(name)[:63])
    try:
        check_cloud_name(name)
    except ProviderError as exc:
        refuse("has a name that is not valid (%s)" % exc.msg)
    if state.cloud(name) != record:
        refuse("is not in the file named after the cloud")
    expected = [os.path.relpath(state.cloud_file(name), state.root), os.path.relpath(state.group_dir(name), state.root)]
    paths = (record.get("made") or {}).get("paths")
    if paths is not None and paths != expected:
        refuse("lists paths set-up does not make (%s)" % excerpt(", ".join(str(p) for p in paths)))
    why = bridges.ours(state, record)
    if why:
        refuse("names a link set-up did not make: %s" % why)
    return record


def teardown_host(state, cloud_names=None, purge_images=False, check_mode=False):
    """Destroy every machine of the clouds and remove what the set-up made. Returns a result dict.

    Runs under the state root's lock from start to end, with the clouds' records removed first:
    a creator in another process either finished before (its machines are destroyed here) or
    finds the cloud gone (a clear "not set up" error); no machine is ever left half-removed.
    """
    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import machines

    result = {"changed": False, "changes": []}

    def note(what):
        result["changed"] = True
        result["changes"].append(what)

    state.check_trusted()
    if cloud_names is not None:
        for name in cloud_names:
            check_cloud_name(name, "clouds")
    with state.lock():
        recorded = state.clouds()
        names = sorted(recorded) if cloud_names is None else [n for n in cloud_names if n in recorded]
        for name in names:
            checked_record(state, name, recorded[name])
        doomed = [r for r in state.machines() if r.get("cloud") in names or r.get("cloud") not in recorded]
        for record in doomed:
            note("machine %s (%s) destroyed" % (record["name"], record["id"]))
        for name in names:
            note("cloud %s removed" % name)
        if check_mode:
            return result
        for name in names:
            state.remove_inside(state.cloud_file(name))
        engine = machines.Machines(state)
        for record in doomed:
            engine.destroy(record)
        for name in names:
            # Checked again right before: the link must still be the bridge set-up made.
            if not bridges.ours(state, recorded[name]):
                host.delete_link(recorded[name]["bridge"])
            state.remove_inside(state.group_dir(name))
        apply_firewall(state)
        remaining = state.clouds()
        if remaining:
            ensure_proxy(state, remaining, (state.host().get("apt_proxy") or {}).get("port", DEFAULT_PROXY_PORT),
                         image.image_spec())
            return result
        if stop_proxy(state):
            note("apt proxy stopped")
        if firewall.delete_tables(state.nft_table, host.nft_delete_table):
            note("nft tables inet and bridge %s deleted" % state.nft_table)
        cgroups = host.Cgroups(state.cgroup_parent)
        cgroups.remove_parent()
        if stop_lxcfs_if_ours(state, cgroups):
            note("lxcfs stopped")
        # Only what is surely ours and unused now; a directory still holding something stays.
        for leftover in ("apt-proxy/conf", "apt-proxy/log", "host.json", "lxcfs.log"):
            state.remove_inside(state.path(leftover))
        for directory in ("machines", "clouds", "groups", "test-sessions"):
            try:
                os.rmdir(state.path(directory))
            except OSError:
                pass
        if purge_images:
            for directory in (state.images, state.path("apt-proxy")):
                if os.path.isdir(directory):
                    note("%s removed" % directory)
                    state.remove_inside(directory)
    return result


def require_cloud(state, definition):
    """Raise a clear 'not set up' error unless ``definition``'s cloud is ready to take machines."""
    recorded = state.cloud(definition["name"])
    if not recorded:
        raise not_set_up("no record in %s" % state.path("clouds"), definition["name"])
    if recorded["subnet"] != definition["subnet"]:
        raise ProviderError("local cloud %s was set up with subnet %s but is now configured with %s; run: "
                            "ansible-playbook %s" % (definition["name"], recorded["subnet"], definition["subnet"],
                                                     SETUP_PLAYBOOK),
                            cloud=definition["name"], playbook=SETUP_PLAYBOOK)
    if "%s/%d" % (recorded["gateway"], recorded["prefixlen"]) not in host.bridge_address(recorded["bridge"]):
        raise not_set_up("bridge %s is missing or has no %s" % (recorded["bridge"], recorded["gateway"]),
                         definition["name"])
    # lxcfs is one per host, shared by every state root: another root's teardown stops it when no machine
    # runs at that moment, also between this cloud's set-up and its first machine. Bring it back.
    ensure_lxcfs(state)
    if not proxy_alive(state):
        raise not_set_up("its apt proxy is not running", definition["name"])
    image.require_image(state.images)
    return recorded
