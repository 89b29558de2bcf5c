# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host operations of the local cloud: commands, processes, cgroups, links, mounts.

Every function here is idempotent in the direction it goes (creating what exists,
removing what is gone, are no-ops), so that destroy and teardown can replay a
machine's recorded resources after a crash at any point. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import ipaddress
import os
import re
import signal
import subprocess
import time

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

# All local clouds live here; nothing else is ever given to a machine or a bridge.
ALLOWED_NETWORK = ipaddress.ip_network("198.18.0.0/15")
CGROUP_ROOT = "/sys/fs/cgroup"


class HostError(ProviderError):
    """A host command or file operation failed."""


def run(argv, check=True, input_text=None, timeout=120, env=None):
    """Run a command; returns (rc, stdout, stderr). Raises HostError naming it when check fails."""
    try:
        # The engine has no AnsibleModule (no Ansible imports, by design), so no run_command: ansible-core
        # 2.21's sanity flags subprocess in module_utils.
        proc = subprocess.run(  # pylint: disable=ansible-bad-function
            argv, input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
            universal_newlines=True, timeout=timeout, env=env)
    except FileNotFoundError:
        raise HostError("%s is not installed on this host (run playbooks/local_cloud.yml, which installs "
                        "the local cloud's host packages)" % argv[0], command=argv[0])
    except subprocess.TimeoutExpired:
        raise HostError("%s did not finish within %d s" % (" ".join(argv), timeout), command=" ".join(argv))
    if check and proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()[-800:]
        raise HostError("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode, output),
                        command=" ".join(argv), rc=proc.returncode)
    return proc.returncode, proc.stdout, proc.stderr


def read_text(path, default=None):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return default


def write_text(path, text, mode=0o644):
    """Write atomically (temp file + rename), so a crash never leaves half a file."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def write_value(path, value):
    """Write one value to a kernel file (cgroup, sysctl); errors name the file."""
    try:
        with open(path, "w") as handle:
            handle.write(str(value))
    except (IOError, OSError) as exc:
        raise HostError("cannot write %r to %s: %s" % (value, path, exc.strerror or exc), file=path)


# --------------------------------------------------------------------------- networks

def check_subnet(value, cloud_name):
    """The cloud's subnet as an IPv4Network inside 198.18.0.0/15, or a clear error."""
    where = "cloud %s option subnet" % cloud_name
    if not value:
        raise ProviderError("%s is missing; give a /24 inside %s, e.g. 198.18.1.0/24" % (where, ALLOWED_NETWORK),
                            cloud=cloud_name, key="options.subnet")
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise ProviderError("%s %r is not a network (%s); give a /24 inside %s, e.g. 198.18.1.0/24"
                            % (where, value, exc, ALLOWED_NETWORK), cloud=cloud_name, key="options.subnet")
    if network.version != 4 or not network.subnet_of(ALLOWED_NETWORK):
        raise ProviderError("%s %s is outside %s: local machines only ever get addresses from %s "
                            "(one /24 per local cloud, e.g. 198.18.1.0/24)"
                            % (where, network, ALLOWED_NETWORK, ALLOWED_NETWORK),
                            cloud=cloud_name, key="options.subnet", value=str(value))
    if not 16 <= network.prefixlen <= 28:
        raise ProviderError("%s %s: the prefix must be between /16 and /28 (a /24 is usual)" % (where, network),
                            cloud=cloud_name, key="options.subnet", value=str(value))
    return network


def link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def netns_exists(name):
    return os.path.exists("/run/netns/%s" % name)


def ensure_bridge(name, address_cidr):
    """The bridge exists, is up and holds address_cidr. Returns True if anything changed."""
    changed = False
    if not link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"])
        changed = True
    out = run(["ip", "-o", "-4", "addr", "show", "dev", name])[1]
    if (" %s " % address_cidr) not in out:
        run(["ip", "addr", "replace", address_cidr, "dev", name])
        changed = True
    # The host never talks IPv6 to machines: nothing to filter there.
    disable_ipv6("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % name)
    # Bridged traffic between machines must pass the inet forward hook (br_netfilter), where the
    # security groups are; per bridge, so it does not depend on the global sysctl.
    if not os.path.isdir("/proc/sys/net/bridge"):
        run(["modprobe", "br_netfilter"], check=False)
    if "nf_call_iptables 1" not in run(["ip", "-d", "link", "show", "dev", name])[1]:
        run(["ip", "link", "set", "dev", name, "type", "bridge", "nf_call_iptables", "1"], check=False)
    if "UP" not in _link_flags(name):
        run(["ip", "link", "set", name, "up"])
        changed = True
    return changed


def _link_flags(name):
    out = run(["ip", "-o", "link", "show", "dev", name], check=False)[1]
    match = re.search(r"<([^>]*)>", out)
    return match.group(1).split(",") if match else []


def bridge_address(name):
    """IPv4 CIDRs on the link, [] when it does not exist."""
    if not link_exists(name):
        return []
    out = run(["ip", "-o", "-4", "addr", "show", "dev", name], check=False)[1]
    return re.findall(r"inet (\S+)", out)


def delete_link(name):
    if link_exists(name):
        run(["ip", "link", "del", name], check=False)
        return True
    return False


def disable_ipv6(path):
    if os.path.exists(path):
        try:
            write_value(path, 1)
        except HostError:
            pass


def ensure_machine_network(netns, veth, bridge, address_cidr, gateway):
    """netns + veth pair (host end on the bridge, machine end "host0" inside) + address + route."""
    if not netns_exists(netns):
        run(["ip", "netns", "add", netns])
    if not link_exists(veth):
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "host0", "netns", netns])
    disable_ipv6("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % veth)
    run(["ip", "link", "set", veth, "master", bridge, "up"])
    script = "\n".join([
        "link set lo up",
        "addr replace %s dev host0" % address_cidr,
        "link set host0 up",
        "route replace default via %s dev host0" % gateway,
    ]) + "\n"
    # sysctl inside the namespace: no IPv6 on the machine's link either.
    run(["ip", "netns", "exec", netns, "sh", "-c",
         "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6;"
         " ip -batch -"], input_text=script)


def delete_machine_network(netns, veth):
    delete_link(veth)
    if netns_exists(netns):
        run(["ip", "netns", "del", netns], check=False)


# --------------------------------------------------------------------------- mounts

def is_mounted(path):
    path = os.path.realpath(path)
    for line in (read_text("/proc/self/mountinfo", "") or "").splitlines():
        fields = line.split()
        if len(fields) > 4 and _unescape(fields[4]) == path:
            return True
    return False


def _unescape(text):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mount_overlay(lower, upper, work, target):
    if is_mounted(target):
        return False
    for path in (upper, work, target):
        os.makedirs(path, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o",
         "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work), target])
    return True


def unmount(path):
    """Unmount (lazily if busy). True if something was mounted."""
    if not is_mounted(path):
        return False
    rc = run(["umount", path], check=False)[0]
    if rc != 0 and is_mounted(path):
        run(["umount", "-l", path], check=False)
    return True


# --------------------------------------------------------------------------- processes

def process_start_time(pid):
    """The kernel start time of pid (clock ticks since boot), None if gone or a zombie.

    Recorded next to every pid we start, so a recycled pid is never mistaken for ours.
    """
    text = read_text("/proc/%d/stat" % int(pid))
    if not text:
        return None
    rest = text.rsplit(")", 1)[-1].split()
    if not rest or rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


def process_alive(pid, start_time=None):
    if not pid:
        return False
    current = process_start_time(pid)
    if current is None:
        return False
    return start_time is None or int(start_time) == current


def parent_pid(pid):
    text = read_text("/proc/%d/stat" % int(pid))
    if not text:
        return None
    return int(text.rsplit(")", 1)[-1].split()[1])


def child_pids(pid):
    """Live children of pid (scans /proc: this kernel has no /proc/*/children)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and parent_pid(int(entry)) == int(pid) and process_start_time(int(entry)) is not None:
            children.append(int(entry))
    return sorted(children)


def signal_pid(pid, sig):
    try:
        os.kill(int(pid), sig)
        return True
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        raise


def spawn_detached(argv, log_path):
    """Start argv in its own session so it outlives this (Ansible module) process.

    Returns (pid, start_time). stdin is /dev/null; stdout/stderr append to log_path.
    """
    with open(log_path, "ab") as log, open(os.devnull, "rb") as null:
        # run_command waits for its process: this one must outlive the module (and there is no AnsibleModule).
        proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdin=null, stdout=log, stderr=log, close_fds=True, start_new_session=True)
    # Popen keeps the object for reaping; we forget it on purpose: the process must live on.
    start = None
    for _attempt in range(50):
        start = process_start_time(proc.pid)
        if start is not None:
            break
        time.sleep(0.01)
    return proc.pid, start


# --------------------------------------------------------------------------- cgroups

class Cgroups:
    """Per-machine cgroups: cpuset + memory limit, in v1 (hybrid) or v2 (unified) layouts.

    ``parent`` is a directory name under every hierarchy ("slipway"); machines are
    ``<parent>/<machine id>``. On v1 hosts the machine also gets a cgroup in the
    name=systemd and unified hierarchies, because systemd-nspawn creates its
    payload/supervisor groups below its own cgroup there.
    """

    def __init__(self, parent, root=CGROUP_ROOT):
        self.parent = parent
        self.root = root
        self.unified = os.path.exists(os.path.join(root, "cgroup.controllers"))
        self.hierarchies = self._detect()

    def _detect(self):
        if self.unified:
            return {"unified": self.root}
        found = {}
        for line in (read_text("/proc/self/mountinfo", "") or "").splitlines():
            pre, _sep, post = line.partition(" - ")
            fields, post_fields = pre.split(), post.split()
            if len(fields) < 5 or len(post_fields) < 3:
                continue
            mountpoint, fstype, options = _unescape(fields[4]), post_fields[0], post_fields[2].split(",")
            if fstype == "cgroup2":
                found.setdefault("unified", mountpoint)
            elif fstype == "cgroup":
                for name in ("cpuset", "memory", "cpu"):
                    if name in options:
                        found.setdefault(name, mountpoint)
                if "name=systemd" in options:
                    found.setdefault("systemd", mountpoint)
        missing = [name for name in ("cpuset", "memory") if name not in found]
        if missing:
            raise HostError("this host has no %s cgroup controller mounted (looked in /proc/self/mountinfo); "
                            "local machines need cpuset and memory to be sized" % " and ".join(missing))
        return found

    def machine_dirs(self, machine_id):
        return [os.path.join(path, self.parent, machine_id) for path in self.hierarchies.values()]

    def parent_dirs(self):
        return [os.path.join(path, self.parent) for path in self.hierarchies.values()]

    def host_cpus(self):
        """The CPUs machines may use: the root cpuset (v1) or the effective set (v2)."""
        name = "cpuset.cpus.effective" if self.unified else "cpuset.cpus"
        base = self.hierarchies["unified" if self.unified else "cpuset"]
        text = (read_text(os.path.join(base, name)) or "").strip()
        if not text:
            return sorted(os.sched_getaffinity(0))
        return parse_cpu_list(text)

    def _ensure_parent(self):
        if self.unified:
            base = self.hierarchies["unified"]
            _enable_controllers(base)
            parent = os.path.join(base, self.parent)
            os.makedirs(parent, exist_ok=True)
            _enable_controllers(parent)
            return
        for name, base in self.hierarchies.items():
            parent = os.path.join(base, self.parent)
            os.makedirs(parent, exist_ok=True)
            if name == "cpuset":
                # v1: a child's cpuset.cpus can only be written once the parent has one.
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    if not (read_text(os.path.join(parent, knob)) or "").strip():
                        write_value(os.path.join(parent, knob), read_text(os.path.join(base, knob)).strip())

    def create(self, machine_id, cpus, memory_bytes, cpu_quota=None):
        """Make the machine's cgroups with its limits (idempotent)."""
        self._ensure_parent()
        cpu_text = ",".join(str(c) for c in cpus)
        period = 100000
        if self.unified:
            path = os.path.join(self.hierarchies["unified"], self.parent, machine_id)
            os.makedirs(path, exist_ok=True)
            write_value(os.path.join(path, "cpuset.cpus"), cpu_text)
            write_value(os.path.join(path, "memory.max"), int(memory_bytes))
            if os.path.exists(os.path.join(path, "memory.swap.max")):
                write_value(os.path.join(path, "memory.swap.max"), 0)
            if cpu_quota:
                write_value(os.path.join(path, "cpu.max"), "%d %d" % (int(cpu_quota * period), period))
            return
        for name, base in self.hierarchies.items():
            path = os.path.join(base, self.parent, machine_id)
            os.makedirs(path, exist_ok=True)
            if name == "cpuset":
                write_value(os.path.join(path, "cpuset.cpus"), cpu_text)
                write_value(os.path.join(path, "cpuset.mems"),
                            read_text(os.path.join(base, self.parent, "cpuset.mems")).strip())
            elif name == "memory":
                write_value(os.path.join(path, "memory.limit_in_bytes"), int(memory_bytes))
                memsw = os.path.join(path, "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    write_value(memsw, int(memory_bytes))
            elif name == "cpu" and cpu_quota:
                write_value(os.path.join(path, "cpu.cfs_period_us"), period)
                write_value(os.path.join(path, "cpu.cfs_quota_us"), int(cpu_quota * period))

    def procs_files(self, machine_id):
        """The cgroup.procs files a process writes its pid to, to join the machine's groups."""
        return [os.path.join(path, "cgroup.procs") for path in self.machine_dirs(machine_id)]

    def pids(self, machine_id):
        """Every live pid in the machine's cgroups, including nested groups (nspawn's payload)."""
        found = set()
        for top in self.machine_dirs(machine_id):
            for directory, _dirs, files in os.walk(top):
                if "cgroup.procs" in files:
                    for line in (read_text(os.path.join(directory, "cgroup.procs"), "") or "").split():
                        if line.isdigit() and process_start_time(int(line)) is not None:
                            found.add(int(line))
        return sorted(found)

    def kill_all(self, machine_id, timeout=10.0):
        """SIGKILL every process of the machine until none is left (bounded)."""
        deadline = time.time() + timeout
        for directory in self.machine_dirs(machine_id):
            kill_file = os.path.join(directory, "cgroup.kill")
            if os.path.exists(kill_file):
                try:
                    write_value(kill_file, 1)
                except HostError:
                    pass
        while True:
            pids = self.pids(machine_id)
            if not pids:
                return
            for pid in pids:
                signal_pid(pid, signal.SIGKILL)
            if time.time() > deadline:
                raise HostError("processes %s of machine %s survived SIGKILL for %.0f s"
                                % (pids, machine_id, timeout), machine=machine_id)
            time.sleep(0.05)

    def remove(self, machine_id, timeout=10.0):
        """rmdir the machine's cgroups, deepest first. True if any existed."""
        existed = False
        deadline = time.time() + timeout
        for top in self.machine_dirs(machine_id):
            if not os.path.isdir(top):
                continue
            existed = True
            while os.path.isdir(top):
                for directory in sorted((item[0] for item in os.walk(top)), key=lambda path: -path.count("/")):
                    try:
                        os.rmdir(directory)
                    except OSError:
                        pass
                if os.path.isdir(top):
                    if time.time() > deadline:
                        raise HostError("cgroup %s cannot be removed (still busy)" % top, path=top)
                    time.sleep(0.05)
        return existed

    def remove_parent(self):
        """rmdir the parent groups if empty. Returns the ones that remain."""
        remaining = []
        for path in self.parent_dirs():
            if os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError:
                    remaining.append(path)
        return remaining

    def existing(self):
        """Every machine cgroup directory under the parent (for leak checks)."""
        found = []
        for path in self.parent_dirs():
            if os.path.isdir(path):
                found.extend(os.path.join(path, d) for d in os.listdir(path)
                             if os.path.isdir(os.path.join(path, d)))
        return found


def _enable_controllers(path):
    wanted = [c for c in ("cpuset", "memory", "cpu")
              if c in (read_text(os.path.join(path, "cgroup.controllers"), "") or "").split()]
    current = (read_text(os.path.join(path, "cgroup.subtree_control"), "") or "").split()
    missing = ["+" + c for c in wanted if c not in current]
    if missing:
        write_value(os.path.join(path, "cgroup.subtree_control"), " ".join(missing))


def parse_cpu_list(text):
    cpus = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            low, high = part.split("-")
            cpus.extend(range(int(low), int(high) + 1))
        else:
            cpus.append(int(part))
    return sorted(set(cpus))


def host_memory_bytes():
    for line in (read_text("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


# --------------------------------------------------------------------------- /proc/cpuinfo

def cpuinfo_for(count, host_text=None):
    """A /proc/cpuinfo with ``count`` processor blocks and a matching single-socket topology.

    lxcfs alone keeps the host's "siblings"/"cpu cores", from which Ansible computes
    ansible_processor_vcpus; rewriting them makes every reader see ``count`` CPUs.
    """
    text = host_text if host_text is not None else (read_text("/proc/cpuinfo", "") or "")
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    template = blocks[0] if blocks else "processor\t: 0\n"
    result = []
    for index in range(int(count)):
        block = template
        replacements = (
            ("processor", "%d" % index), ("physical id", "0"), ("siblings", "%d" % count),
            ("core id", "%d" % index), ("cpu cores", "%d" % count), ("apicid", "%d" % index),
            ("initial apicid", "%d" % index),
        )
        for key, value in replacements:
            block = re.sub(r"(?m)^(%s\s*:).*$" % re.escape(key), lambda m, v=value: m.group(1) + " " + v, block)
        result.append(block)
    return "\n\n".join(result) + "\n\n"


# --------------------------------------------------------------------------- nftables

def nft_apply(ruleset_text):
    run(["nft", "-f", "-"], input_text=ruleset_text)


def nft_table_exists(family, name):
    rc = run(["nft", "list", "table", family, name], check=False)[0]
    return rc == 0


def nft_table_text(family, name):
    rc, out = run(["nft", "list", "table", family, name], check=False)[:2]
    return out if rc == 0 else None


def nft_delete_table(family, name):
    if nft_table_exists(family, name):
        run(["nft", "delete", "table", family, name])
        return True
    return False
