# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pieces of a bounded wait: polling with a growing interval, and the SSH probe.

Provider.wait_machines (base.py) is the one wait algorithm; these are its tools. No Ansible imports.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError


def ssh_banner(address, port=22, timeout=2.0):
    """The SSH server's banner line ("SSH-2.0-OpenSSH_9.2p1 ...") or None."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return line if line.startswith("SSH-") else None


def probe_ssh(machines, timeout=2.0, workers=16, port=22):
    """{machine.id: banner or None} for machines with an address, probed in parallel."""
    todo = [m for m in machines if m.address]
    if not todo:
        return {}
    if len(todo) == 1:
        return {todo[0].id: ssh_banner(todo[0].address, port=port, timeout=timeout)}
    with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        banners = list(pool.map(lambda m: ssh_banner(m.address, port=port, timeout=timeout), todo))
    return {machine.id: banner for machine, banner in zip(todo, banners)}


def poll_until(check, timeout, first_delay=0.5, max_delay=5.0, clock=time.monotonic, sleep=time.sleep):
    """Call ``check()`` until it returns True or ``timeout`` seconds pass; returns the last result.

    The interval grows from ``first_delay`` to ``max_delay`` so a slow cloud is
    not hammered; the wait never outlasts ``timeout`` by more than one call.
    """
    deadline = clock() + max(0.0, float(timeout))
    delay = first_delay
    while True:
        if check():
            return True
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        sleep(min(delay, remaining))
        delay = min(max_delay, delay * 1.5)


def timeout_error(cloud_name, until, timeout, machines, hint=""):
    """The one error for machines that did not get to ``until`` within ``timeout`` seconds."""
    return ProviderError(
        "cloud %s: %d machine(s) not %s after %s s: %s%s" % (
            cloud_name, len(machines), "answering SSH" if until == "ssh" else until, timeout,
            ", ".join("%s (%s)" % (m.name, m.state) for m in machines), hint),
        cloud=cloud_name, until=until, timeout=timeout, machines=[m.name for m in machines])
