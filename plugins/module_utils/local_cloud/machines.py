# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local machines: an overlay on the base image, booted by systemd-nspawn in its own netns.

Crash safety: a machine's record (with every host resource it will own: netns,
veth, mount, cgroups) is written BEFORE any of them is created, and every
process of the machine runs inside its cgroups from its first instruction. So
``destroy`` (or the cloud's teardown) finds and removes all of it, also after the
creating process was SIGKILLed at any point. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import ipaddress
import math
import os
import re
import secrets
import shlex
import signal
import time

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup, host, image, isolation
from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.names import check_machine_names
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import parse_public_key

# Memory the host keeps for itself when deciding whether a flavor fits.
HOST_RESERVE_BYTES = 512 * 1024 * 1024
GiB = 1024 ** 3
NSPAWN_RUN = "/run/systemd/nspawn"
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")
_INODE_LOCK = re.compile(r"^inode-[0-9]+:[0-9]+\Z")
_PAUSE_ENV = "SLIPWAY_LOCAL_TEST_PAUSE"     # "<step>:<seconds>", used by the crash tests only


def _pause_point(step, record, state):
    """Crash tests set SLIPWAY_LOCAL_TEST_PAUSE=<step>:<s> to be SIGKILLed at a known step."""
    value = os.environ.get(_PAUSE_ENV, "")
    if value.split(":")[0] == step:
        host.write_text(os.path.join(state.machine_dir(record["id"]), "paused-at-" + step), step)
        time.sleep(float(value.split(":")[1]))


def hostname_for(name):
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]
    return cleaned or "machine"


def check_fits(cloud_name, flavor_name, cpu, ram_gb, cgroups, flavors=()):
    """Refuse a size the host cannot give, before anything is created."""
    host_cpus = len(cgroups.host_cpus())
    host_memory = host.host_memory_bytes()
    usable = max(host_memory - HOST_RESERVE_BYTES, 0)
    if cpu <= 0 or ram_gb <= 0:
        raise ProviderError("size %s on %s must have cpu > 0 and ram_gb > 0 (got %s cpu, %s GB)"
                            % (flavor_name, cloud_name, cpu, ram_gb), cloud=cloud_name, flavor=flavor_name)
    if cpu > host_cpus or ram_gb * GiB > usable:
        fitting = [f.name for f in flavors if f.cpu <= host_cpus and f.ram_gb * GiB <= usable]
        raise ProviderError(
            "flavor %s (%g cpu, %g GB) does not fit this host, which can give a local machine at most %d cpu and "
            "%.1f GB; %s" % (flavor_name, cpu, ram_gb, host_cpus, usable / GiB,
                             "flavors of %s that fit: %s" % (cloud_name, ", ".join(fitting)) if fitting
                             else "no flavor of %s fits" % cloud_name),
            cloud=cloud_name, flavor=flavor_name, host_cpus=host_cpus, host_ram_gb=round(usable / GiB, 1),
            valid=fitting)


def check_login_user(user):
    if user != "root" and not _USER.match(user or ""):
        raise ProviderError("login user %r is not a valid user name (lowercase letters, digits, _ and -)" % (user,),
                            login_user=user)


def _remove_nspawn_file(state, path, machine_id):
    """Remove a file systemd-nspawn keeps on the host for this machine (its lock or propagate entry); a
    recorded path anywhere else is left alone: records are not trusted to name what may be removed."""
    name = os.path.basename(path)
    directory = os.path.dirname(path)
    if directory == os.path.join(NSPAWN_RUN, "locks") and _INODE_LOCK.match(name):
        state.remove_tree(path)
    elif directory == os.path.join(NSPAWN_RUN, "propagate") and name == "slw-" + machine_id:
        state.remove_tree(path)


class Machines:
    """Create, list, start, stop, reboot and destroy the machines of one state root."""

    def __init__(self, state):
        self.state = state
        self.cgroups = host.Cgroups(state.cgroup_parent)

    # ------------------------------------------------------------------ create
    def create(self, cloud, names, flavor_name, cpu, ram_gb, ssh_public_key, login_user="root",
               tags=None, security_groups=(), image_name=image.IMAGE_NAME, flavors=(), cloud_firewall=True,
               net_admin=False):
        """Create one machine per name; returns their records in the names' order (state "running", SSH not
        yet ready). ``net_admin``: the machines keep CAP_NET_ADMIN over their own netns (isolation.py).

        ``cloud`` is a hostsetup.cloud_definition dict. Everything is validated before
        anything is created; then the records are written, then the host resources. A name that another
        run of the same deployment made meanwhile is not made twice: its record is returned instead (the
        host lock makes the check and the create one step).
        """
        names = check_machine_names(names, where=cloud["name"])
        check_login_user(login_user)
        key = parse_public_key(ssh_public_key).line
        if image_name != image.IMAGE_NAME:
            raise ProviderError("local clouds have one image, %s; got image_id %r" % (image.IMAGE_NAME, image_name),
                                image_id=image_name, valid=[image.IMAGE_NAME])
        check_fits(cloud["name"], flavor_name, cpu, ram_gb, self.cgroups, flavors)
        # The lock is held until every machine is built and started (a fraction of a second each; the
        # boot itself runs after): a teardown in another process never interleaves with a half-built
        # machine. The builds run in threads of this process, which holds the lock for them.
        with self.state.lock():
            records, adopted = self._plan(cloud, names, flavor_name, cpu, ram_gb, key, login_user, tags or {},
                                          list(security_groups), bool(cloud_firewall), bool(net_admin))
            workers = min(8, len(records)) or 1
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(self._build, record): record for record in records}
                errors = []
                for future in concurrent.futures.as_completed(futures):
                    try:
                        future.result()
                    except Exception as exc:  # pylint: disable=broad-except
                        errors.append((futures[future], exc))
            if errors:
                # All or nothing: a request that fails leaves no machine behind.
                for record in records:
                    self.destroy(self.state.machine(record["id"]) or record)
                record, exc = errors[0]
                raise ProviderError("creating local machine %s failed, so the %d machine(s) of this request were "
                                    "removed again: %s" % (record["name"], len(records), getattr(exc, "msg", exc)),
                                    machine=record["name"])
        made = {r["name"]: self.state.machine(r["id"]) for r in records}
        made.update(adopted)
        return [made[name] for name in names]

    def _plan(self, cloud, names, flavor_name, cpu, ram_gb, key, login_user, tags, groups, cloud_firewall,
              net_admin=False):
        state = self.state
        with state.lock():
            hostsetup.require_cloud(state, cloud)
            base = image.require_image(state.images)
            known_groups = state.groups(cloud["name"])
            missing = [g for g in groups if g not in known_groups]
            if missing:
                raise ProviderError("security group(s) %s do not exist on local cloud %s; existing: %s"
                                    % (", ".join(missing), cloud["name"], ", ".join(sorted(known_groups)) or "none"),
                                    cloud=cloud["name"], security_groups=missing)
            existing = state.machines()
            adopted = {}
            deployment = (tags or {}).get(DEPLOYMENT_TAG)
            for record in existing:
                if record["cloud"] != cloud["name"] or record["name"] not in names or \
                        self.status(record) == "terminated":
                    continue
                owner = (record.get("tags") or {}).get(DEPLOYMENT_TAG)
                if owner != deployment:
                    raise ProviderError("local cloud %s already has a machine named %s (of deployment %s)"
                                        % (cloud["name"], record["name"], owner or "none"),
                                        cloud=cloud["name"], names=[record["name"]], deployment=owner)
                adopted[record["name"]] = record      # made by another run of the same task meanwhile
            names = [n for n in names if n not in adopted]
            network = ipaddress.ip_network(cloud["subnet"])
            used = set(r["address"] for r in existing if r["cloud"] == cloud["name"] and r.get("address"))
            used.add(cloud["gateway"])
            free = (str(a) for a in network.hosts() if str(a) not in used)
            cpu_load = {}
            for record in existing:
                if record.get("state") in ("creating", "running"):
                    for c in record.get("cpus", ()):
                        cpu_load[c] = cpu_load.get(c, 0) + 1
            host_cpus = self.cgroups.host_cpus()
            records = []
            now = time.time()
            for name in names:
                address = next(free, None)
                if address is None:
                    raise ProviderError("local cloud %s has no free address left in %s" % (cloud["name"], network),
                                        cloud=cloud["name"])
                machine_id = secrets.token_hex(4)
                while os.path.exists(state.machine_dir(machine_id)):
                    machine_id = secrets.token_hex(4)
                count = int(math.ceil(cpu))
                cpus = sorted(sorted(host_cpus, key=lambda c: (cpu_load.get(c, 0), c))[:count])
                for c in cpus:
                    cpu_load[c] = cpu_load.get(c, 0) + 1
                directory = state.machine_dir(machine_id)
                record = {
                    "id": machine_id, "name": name, "cloud": cloud["name"], "state": "creating",
                    "address": address, "prefixlen": network.prefixlen, "gateway": cloud["gateway"],
                    "bridge": cloud["bridge"], "hostname": hostname_for(name),
                    "flavor": flavor_name, "cpu": cpu, "ram_gb": ram_gb, "cpus": cpus,
                    "memory_bytes": int(round(ram_gb * GiB)),
                    "cpu_quota": cpu if cpu != count else None,
                    "image": image.IMAGE_NAME, "lower": base["path"], "login_user": login_user,
                    "ssh_public_key": key, "tags": dict(tags), "security_groups": list(groups),
                    "cloud_firewall": cloud_firewall, "net_admin": net_admin,
                    # The MAC its bridge port accepts (firewall.render_port_table), set on its link.
                    "mac": isolation.mac_for(machine_id),
                    "proxy": "http://%s:%d/" % (cloud["gateway"], (state.host().get("apt_proxy") or {}).get(
                        "port", hostsetup.DEFAULT_PROXY_PORT)),
                    # Every host resource, recorded before it exists (see the module docstring).
                    "resources": {
                        "netns": state.netns_prefix + machine_id,
                        "veth": "vslw" + machine_id,
                        "mount": os.path.join(directory, "rootfs"),
                        "dir": directory,
                        "cgroups": self.cgroups.machine_dirs(machine_id),
                        "nft_chain": "m_" + machine_id,
                    },
                    "creator": {"pid": os.getpid(), "start": host.process_start_time(os.getpid())},
                    "keeper": None, "host_keys": [],
                    "timings": {"requested_at": now},
                }
                os.makedirs(directory, exist_ok=True)
                state.save_machine(record)
                records.append(record)
            # The machine's chain exists (closed) before its link does.
            hostsetup.apply_firewall(state)
        return records, adopted

    def _build(self, record):
        self._ensure_resources(record, first_boot=True)
        self._spawn(record)

    def _ensure_resources(self, record, first_boot=False):
        state = self.state
        res = record["resources"]
        directory = res["dir"]
        _pause_point("mount", record, state)
        host.mount_overlay(record["lower"], os.path.join(directory, "upper"), os.path.join(directory, "work"),
                           res["mount"])
        if first_boot or not os.path.exists(os.path.join(directory, "provisioned")):
            self._provision(record)
        host.write_text(os.path.join(directory, "run", "cpuinfo"), host.cpuinfo_for(len(record["cpus"])))
        _pause_point("cgroups", record, state)
        self.cgroups.create(record["id"], record["cpus"], record["memory_bytes"], record.get("cpu_quota"))
        _pause_point("network", record, state)
        host.ensure_machine_network(res["netns"], res["veth"], record["bridge"],
                                    "%s/%d" % (record["address"], record["prefixlen"]), record["gateway"])
        if record.get("mac"):
            isolation.set_machine_mac(res["netns"], record["mac"])

    def _provision(self, record):
        """First-boot identity written into the machine's overlay: hostname, keys, user, apt proxy."""
        rootfs = record["resources"]["mount"]

        def path(*parts):
            return os.path.join(rootfs, *parts)

        host.write_text(path("etc", "hostname"), record["hostname"] + "\n")
        host.write_text(path("etc", "hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n%s\t%s\n"
                        % (record["hostname"], record["address"], record["hostname"]))
        host.write_text(path("etc", "machine-id"), secrets.token_hex(16) + "\n", mode=0o444)
        host.write_text(path("etc", "apt", "apt.conf.d", "00slipway-proxy"),
                        'Acquire::http::Proxy "%s";\n' % record["proxy"])
        host_keys = []
        for kind in ("ed25519", "ecdsa"):
            key_file = path("etc", "ssh", "ssh_host_%s_key" % kind)
            for stale in (key_file, key_file + ".pub"):
                if os.path.exists(stale):
                    os.unlink(stale)
            host.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "root@" + record["hostname"], "-f", key_file])
            host_keys.append(" ".join(host.read_text(key_file + ".pub").split()[:2]))
        user = record["login_user"]
        if user == "root":
            home, uid, gid = path("root"), 0, 0
        else:
            rc, _out, err = host.run(["useradd", "--root", rootfs, "--create-home", "--shell", "/bin/bash",
                                      "--password", "*", user], check=False)
            if rc not in (0, 9):      # 9: the user exists already (a re-provisioned machine)
                raise ProviderError("could not create login user %s: %s" % (user, err.strip()), login_user=user)
            entry = [line.split(":") for line in host.read_text(path("etc", "passwd")).splitlines()
                     if line.startswith(user + ":")][0]
            uid, gid = int(entry[2]), int(entry[3])
            home = path(entry[5].lstrip("/"))
            host.write_text(path("etc", "sudoers.d", "90-slipway-" + user), "%s ALL=(ALL) NOPASSWD:ALL\n" % user,
                            mode=0o440)
        ssh_dir = os.path.join(home, ".ssh")
        os.makedirs(ssh_dir, exist_ok=True)
        host.write_text(os.path.join(ssh_dir, "authorized_keys"), record["ssh_public_key"] + "\n", mode=0o600)
        for item in (ssh_dir, os.path.join(ssh_dir, "authorized_keys")):
            os.chown(item, uid, gid)
        os.chmod(ssh_dir, 0o700)
        record["host_keys"] = host_keys
        self.state.save_machine(record)
        host.write_text(os.path.join(record["resources"]["dir"], "provisioned"), "%f\n" % time.time())

    def _keeper_script(self, record):
        res = record["resources"]
        nspawn = [
            "systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--quiet",
            "--directory=" + res["mount"], "--machine=slw-" + record["id"], "--hostname=" + record["hostname"],
            "--network-namespace-path=/run/netns/" + res["netns"],
        ] + isolation.capability_arguments(record.get("net_admin", False)) + [
            "--bind-ro=" + hostsetup.LXCFS_DIR,
            "--bind-ro=%s:/run/slipway" % os.path.join(res["dir"], "run"),
            "--console=passive", "--link-journal=no", "--resolv-conf=off", "--timezone=off",
        ]
        joins = " ".join(shlex.quote(p) for p in self.cgroups.procs_files(record["id"]))
        return "\n".join([
            "#!/bin/sh",
            "# slipway.cloud local machine %s (%s): keeps systemd-nspawn running;" % (record["id"], record["name"]),
            "# a reboot inside (exit 133) starts it again, SIGTERM shuts the machine down.",
            "for f in %s; do echo $$ > \"$f\" || exit 90; done" % joins,
            "stop=0",
            "child=",
            "trap 'stop=1; [ -n \"$child\" ] && kill -TERM \"$child\" 2>/dev/null' TERM INT HUP",
            "while :; do",
            "    %s &" % " ".join(shlex.quote(a) for a in nspawn),
            "    child=$!",
            "    rc=0",
            "    wait \"$child\" || rc=$?",
            "    while kill -0 \"$child\" 2>/dev/null; do rc=0; wait \"$child\" || rc=$?; done",
            "    child=",
            "    echo \"slipway: systemd-nspawn exited with $rc\"",
            "    [ \"$stop\" = 0 ] && [ \"$rc\" = 133 ] || exit \"$rc\"",
            "done",
        ]) + "\n"

    def _spawn(self, record):
        directory = record["resources"]["dir"]
        # Files systemd-nspawn keeps on the host while it runs; recorded so that a
        # SIGKILLed nspawn's leftovers are removed by destroy too.
        info = os.stat(record["resources"]["mount"])
        record["resources"]["nspawn_files"] = [
            os.path.join(NSPAWN_RUN, "locks", "inode-%d:%d" % (info.st_dev, info.st_ino)),
            os.path.join(NSPAWN_RUN, "propagate", "slw-" + record["id"]),
        ]
        self.state.save_machine(record)
        script = os.path.join(directory, "keeper.sh")
        host.write_text(script, self._keeper_script(record), mode=0o700)
        _pause_point("spawn", record, self.state)
        pid, start = host.spawn_detached(["/bin/sh", script], os.path.join(directory, "console.log"))
        record["keeper"] = {"pid": pid, "start": start}
        record["state"] = "running"
        record["timings"]["running_at"] = time.time()
        record["timings"].pop("ssh_ready_at", None)
        self.state.save_machine(record)

    # ------------------------------------------------------------------ state
    def keeper_alive(self, record):
        keeper = record.get("keeper") or {}
        return host.process_alive(keeper.get("pid"), keeper.get("start"))

    def status(self, record):
        """pending, running, stopped, terminated or unknown, from the record and the live processes."""
        state = record.get("state")
        if state == "deleting":
            return "terminated"
        if state == "creating":
            creator = record.get("creator") or {}
            return "pending" if host.process_alive(creator.get("pid"), creator.get("start")) else "unknown"
        if state == "running":
            return "running" if self.keeper_alive(record) else "stopped"
        if state == "stopped":
            return "stopped"
        return "unknown"

    def list(self, cloud=None):
        return self.state.machines(cloud)

    def find(self, machine_id):
        record = self.state.machine(machine_id)
        if record is None:
            raise ProviderError("no local machine with id %s" % machine_id, id=machine_id)
        return record

    # ------------------------------------------------------------------ lifecycle
    def destroy(self, record):
        """Remove the machine and every host resource it recorded. Idempotent.

        Under the host lock: a create in another process holds it until its machines are built, so a
        destroy racing it (an absent beside a create) waits and removes whole machines, never half-built
        ones; the record is read again then, with what the build recorded.
        """
        with self.state.lock():
            self._destroy(self.state.machine(record["id"]) or record)

    def _destroy(self, record):
        state = self.state
        res = record.get("resources") or {}
        if os.path.exists(state.machine_file(record["id"])):
            record["state"] = "deleting"
            state.save_machine(record)
        keeper = record.get("keeper") or {}
        if host.process_alive(keeper.get("pid"), keeper.get("start")):
            host.signal_pid(keeper["pid"], signal.SIGKILL)
        self.cgroups.kill_all(record["id"])
        if res.get("mount"):
            host.unmount(res["mount"])
        for path in res.get("nspawn_files", ()):
            _remove_nspawn_file(self.state, path, record["id"])
        host.delete_machine_network(res.get("netns", state.netns_prefix + record["id"]),
                                    res.get("veth", "vslw" + record["id"]))
        self.cgroups.remove(record["id"])
        for path in res.get("cgroups", ()):
            if os.path.isdir(path):
                os.rmdir(path)
        state.remove_tree(res.get("dir") or state.machine_dir(record["id"]))
        hostsetup.apply_firewall(state)

    def stop(self, record, timeout=30.0):
        """Orderly shutdown (systemd powers off inside), SIGKILL after ``timeout`` seconds."""
        keeper = record.get("keeper") or {}
        record["state"] = "stopped"
        self.state.save_machine(record)
        if host.process_alive(keeper.get("pid"), keeper.get("start")):
            host.signal_pid(keeper["pid"], signal.SIGTERM)
        deadline = time.time() + timeout
        while self.cgroups.pids(record["id"]):
            if time.time() > deadline:
                self.cgroups.kill_all(record["id"])
                break
            time.sleep(0.1)
        record["timings"].pop("ssh_ready_at", None)
        self.state.save_machine(record)

    def start(self, record):
        if self.status(record) == "running":
            return False
        subnet = ipaddress.ip_interface("%s/%d" % (record["address"], record["prefixlen"])).network
        with self.state.lock():
            hostsetup.require_cloud(self.state, {"name": record["cloud"], "subnet": str(subnet)})
            record = self.find(record["id"])        # still there: not destroyed meanwhile
            self.cgroups.kill_all(record["id"])
            self._ensure_resources(record)
            self._spawn(record)
        return True

    def reboot(self, record, timeout=30.0):
        """Ask systemd inside to reboot (SIGINT to its PID 1); the keeper restarts nspawn."""
        if self.status(record) != "running":
            return self.start(record)
        init = self._container_init(record)
        if init is None:
            self.stop(record, timeout)
            return self.start(record)
        init_start = host.process_start_time(init)
        host.signal_pid(init, signal.SIGINT)
        # Return once the old boot is gone, so a following wait sees the new one's SSH.
        deadline = time.time() + timeout
        while host.process_alive(init, init_start):
            if time.time() > deadline:
                self.stop(record, 0)
                return self.start(record)
            time.sleep(0.05)
        record["timings"].pop("ssh_ready_at", None)
        record["timings"]["running_at"] = time.time()
        self.state.save_machine(record)
        return True

    def _container_init(self, record):
        for pid in self.cgroups.pids(record["id"]):
            status = host.read_text("/proc/%d/status" % pid, "") or ""
            match = re.search(r"^NSpid:\s+(.*)$", status, re.M)
            if match and match.group(1).split()[-1] == "1" and len(match.group(1).split()) > 1:
                return pid
        return None

    # ------------------------------------------------------------------ waiting
    def record_timings(self, machine_id, timings):
        """Keep a wait's timings (ssh_ready_at...) in the record, so later listings report them."""
        with self.state.lock():
            current = self.state.machine(machine_id)
            if current:
                current["timings"].update({k: v for k, v in timings.items() if v is not None})
                self.state.save_machine(current)

    def console_tail(self, record, lines=5):
        text = host.read_text(os.path.join(record["resources"]["dir"], "console.log"), "") or ""
        return " | ".join(text.strip().splitlines()[-lines:]) or "(no console output)"
