# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's base image: Debian 12 built once with debootstrap, then cached.

Each build lives in its own directory named by a hash of what went into it
(suite, mirror, packages, customisation version), so a changed spec builds next
to the old image and machines still running on the old one keep their lower layer.
No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import time

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

IMAGE_NAME = "debian-12"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# systemd boots the machine (services start as on a VM); python3/python3-apt serve Ansible.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo",
            "iproute2", "procps", "ca-certificates", "less")
# Bump when customise() changes, so a cached image is rebuilt.
CUSTOMISATION = 4
# Units a VM image would not run in a container, or that race the first apt call for its lock.
MASKED_UNITS = ("apt-daily.service", "apt-daily.timer", "apt-daily-upgrade.service", "apt-daily-upgrade.timer",
                "dpkg-db-backup.timer", "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
                "systemd-pstore.service", "getty@tty1.service", "console-getty.service",
                "systemd-networkd-wait-online.service",
                # nothing to remount, flush or mount in a container: each costs boot time
                "systemd-remount-fs.service", "systemd-journal-flush.service", "sys-fs-fuse-connections.mount",
                "dev-hugepages.mount", "systemd-update-utmp-runlevel.service")

PROC_UNIT = """[Unit]
Description=Show this machine's size in /proc (lxcfs and a generated cpuinfo)
DefaultDependencies=no
Before=sysinit.target systemd-journald.service
ConditionPathExists=/run/slipway/cpuinfo

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/slipway/bind-proc

[Install]
WantedBy=sysinit.target
"""

# systemd-nspawn cannot bind a file onto /proc, so this runs inside, first thing at boot.
BIND_PROC = """#!/bin/sh
mount --bind /run/slipway/cpuinfo /proc/cpuinfo
for f in meminfo stat uptime loadavg swaps diskstats; do
    [ -e /var/lib/lxcfs/proc/$f ] && mount --bind /var/lib/lxcfs/proc/$f /proc/$f
done
online=/var/lib/lxcfs/sys/devices/system/cpu/online
[ -e $online ] && mount --bind $online /sys/devices/system/cpu/online
exit 0
"""

SSHD_CONFIG = """# slipway.cloud local machine: keys only
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""


def host_debian_mirrors():
    """[(repo_uri, release), ...] of the host's configured Debian archives for SUITE.

    Machines use exactly these through the apt proxy. Falls back to deb.debian.org.
    """
    # Read the sources files directly: `apt-get indextargets` takes over a second.
    found = []
    for uri, suite in apt_sources():
        if suite.split("-")[0] == SUITE and uri.startswith("http://") and (uri.rstrip("/"), suite) not in found:
            found.append((uri.rstrip("/"), suite))
    if not any(release == SUITE for _uri, release in found):
        found.insert(0, (DEFAULT_MIRROR, SUITE))
    return sorted(found, key=lambda item: (len(item[1]), item))


def apt_sources(etc="/etc/apt"):
    """(uri, suite) of every enabled "deb" source, one-line and deb822 formats."""
    files = [os.path.join(etc, "sources.list")]
    directory = os.path.join(etc, "sources.list.d")
    if os.path.isdir(directory):
        files += [os.path.join(directory, n) for n in sorted(os.listdir(directory))]
    entries = []
    for path in files:
        text = host.read_text(path, "") or ""
        if path.endswith(".sources"):
            for stanza in text.split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line and not line.startswith("#") and ":" in line and not line[0].isspace():
                        key, _sep, value = line.partition(":")
                        fields[key.strip().lower()] = value.split()
                if "deb" in fields.get("types", ()) and fields.get("enabled", ["yes"])[0] != "no":
                    entries += [(uri, suite) for uri in fields.get("uris", ()) for suite in fields.get("suites", ())]
        elif path.endswith(".list"):
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", "", line.split("#")[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], words[2]))
    return entries


def host_apt_options():
    """apt options of the host that the machines' apt needs too (a snapshot mirror's dates)."""
    rc, out = host.run(["apt-config", "dump"], check=False)[:2]
    options = []
    if rc == 0:
        for line in out.splitlines():
            if line.startswith(("Acquire::Check-Valid-Until ", "Acquire::Check-Date ")):
                options.append(line.strip())
    return options


def image_spec(mirrors=None, packages=PACKAGES, apt_options=None):
    mirrors = host_debian_mirrors() if mirrors is None else mirrors
    return {
        "name": IMAGE_NAME,
        "suite": SUITE,
        "mirrors": [list(m) for m in mirrors],
        "packages": sorted(packages),
        "apt_options": host_apt_options() if apt_options is None else list(apt_options),
        "customisation": CUSTOMISATION,
    }


def spec_id(spec):
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def pointer_file(images_dir, name=IMAGE_NAME):
    return os.path.join(images_dir, name + ".json")


def current_image(images_dir, name=IMAGE_NAME):
    """{"path", "spec", "built_at", "seconds"} of the cached image, or None."""
    text = host.read_text(pointer_file(images_dir, name))
    if not text:
        return None
    data = json.loads(text)
    if not os.path.isfile(os.path.join(data["path"], "etc", "os-release")):
        return None
    return data


def ensure_image(images_dir, spec=None, check_mode=False, force=False):
    """Build the base image unless the cached one matches ``spec``.

    Returns {"changed", "path", "seconds", "spec_id"}; seconds is this call's build time.
    """
    spec = spec or image_spec()
    ident = spec_id(spec)
    target = os.path.join(images_dir, "%s-%s" % (spec["name"], ident))
    current = current_image(images_dir, spec["name"])
    if current and current["path"] == target and not force:
        return {"changed": False, "path": target, "seconds": 0.0, "spec_id": ident}
    if check_mode:
        return {"changed": True, "path": target, "seconds": 0.0, "spec_id": ident}
    os.makedirs(images_dir, exist_ok=True)
    started = time.time()
    if not os.path.isfile(os.path.join(target, ".slipway-image-complete")) or force:
        build = target + ".build-%d" % os.getpid()
        shutil.rmtree(build, ignore_errors=True)
        mirror = [uri for uri, release in spec["mirrors"] if release == spec["suite"]][0]
        try:
            host.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(spec["packages"]),
                      spec["suite"], build, mirror], timeout=1800)
            customise(build, spec)
        except Exception:
            shutil.rmtree(build, ignore_errors=True)
            raise
        shutil.rmtree(target, ignore_errors=True)
        os.rename(build, target)
    seconds = round(time.time() - started, 2)
    host.write_text(pointer_file(images_dir, spec["name"]), json.dumps(
        {"path": target, "spec": spec, "spec_id": ident, "built_at": time.time(), "seconds": seconds},
        indent=1, sort_keys=True) + "\n")
    return {"changed": True, "path": target, "seconds": seconds, "spec_id": ident}


def customise(rootfs, spec):
    """Turn a fresh debootstrap tree into a VM-like image shared read-only by all machines."""
    def path(*parts):
        return os.path.join(rootfs, *parts)

    # Per-machine identity is written at create time: no shared host keys or machine id.
    ssh_dir = path("etc", "ssh")
    for name in os.listdir(ssh_dir):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join(ssh_dir, name))
    host.write_text(path("etc", "machine-id"), "", mode=0o444)
    host.write_text(path("etc", "hostname"), "localhost\n")
    host.write_text(path("etc", "hosts"), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    host.write_text(path("etc", "resolv.conf"), "# no DNS on local machines: apt goes through the cloud's proxy\n")
    host.write_text(path("etc", "ssh", "sshd_config.d", "10-slipway.conf"), SSHD_CONFIG)

    for unit in MASKED_UNITS:
        link = path("etc", "systemd", "system", unit)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink("/dev/null", link)
    for wants in ("timers.target.wants", "getty.target.wants"):
        shutil.rmtree(path("etc", "systemd", "system", wants), ignore_errors=True)

    host.write_text(path("usr", "lib", "slipway", "bind-proc"), BIND_PROC, mode=0o755)
    host.write_text(path("etc", "systemd", "system", "slipway-proc.service"), PROC_UNIT)
    wants = path("etc", "systemd", "system", "sysinit.target.wants")
    os.makedirs(wants, exist_ok=True)
    link = os.path.join(wants, "slipway-proc.service")
    if not os.path.lexists(link):
        os.symlink("../slipway-proc.service", link)

    sources = "".join("deb %s %s main\n" % (uri, release) for uri, release in spec["mirrors"])
    host.write_text(path("etc", "apt", "sources.list"), sources)
    if spec.get("apt_options"):
        host.write_text(path("etc", "apt", "apt.conf.d", "10slipway-host"), "\n".join(spec["apt_options"]) + "\n")
    archives = path("var", "cache", "apt", "archives")
    for name in os.listdir(archives):
        if name.endswith(".deb"):
            os.unlink(os.path.join(archives, name))
    host.write_text(path(".slipway-image-complete"), json.dumps(spec, sort_keys=True) + "\n")


def require_image(images_dir, name=IMAGE_NAME):
    image = current_image(images_dir, name)
    if image is None:
        raise ProviderError("the local cloud's base image %s is not built yet (looked in %s); "
                            "run: ansible-playbook playbooks/local_cloud.yml" % (name, images_dir),
                            image=name, path=images_dir)
    return image
