# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real local machines end to end: SSH, size as seen inside, security groups, apt, lifecycle."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from support.collection import ansible_command, ansible_env
from support.local_cloud import TEST_SSH_GROUP, leftovers, ssh

from ansible_collections.slipway.cloud.plugins.module_utils.model import Rule


def http_get(address, port=80, timeout=5):
    """(status, body) from http://address:port/, or ("refused"|"timeout", reason)."""
    try:
        with urllib.request.urlopen("http://%s:%d/" % (address, port), timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ConnectionRefusedError):
            return "refused", str(reason)
        return "timeout", str(reason)


def ansible_facts(machine, key_path):
    result = subprocess.run(
        ansible_command("ansible", "all", "-i", machine.address + ",", "-u", machine.login_user,
                        "--private-key", key_path, "-m", "ansible.builtin.setup",
                        "-a", "filter=ansible_processor_vcpus,ansible_memtotal_mb,ansible_processor_nproc",
                        "-e", "ansible_python_interpreter=/usr/bin/python3"),
        env=ansible_env(ANSIBLE_HOST_KEY_CHECKING="false"), check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    payload = result.stdout[result.stdout.index("{"):]
    return json.loads(payload)["ansible_facts"]


def test_micro_machine_end_to_end(local_cloud_session, local_machines):
    """The issue's main scenario on local-a with a sudo login user."""
    session = local_cloud_session
    provider = session.provider("local-a")
    group = session.name("slipway_test_web")
    provider.ensure_security_group(group, "tests: web", [Rule("tcp", 22, 22, "0.0.0.0/0")])
    try:
        (machine,) = local_machines("local-a", ["e2e-micro"], flavor="Micro", login_user="debian",
                                    security_groups=(group,))
        assert machine.state == "running"
        assert machine.address.startswith("198.18.1.")
        assert machine.flavor == "Micro" and machine.cpu == 1 and machine.ram_gb == 0.5
        for key in ("requested_at", "running_at", "ssh_ready_at"):
            assert key in machine.timings
        assert machine.timings["requested_at"] <= machine.timings["running_at"] <= machine.timings["ssh_ready_at"]

        # The host keys the provider returned are the ones the machine serves.
        scanned = subprocess.run(["ssh-keyscan", "-T", "5", machine.address], check=False, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True).stdout
        served = set(" ".join(line.split()[1:3]) for line in scanned.splitlines() if line and line[0] != "#")
        assert set(machine.host_keys) <= served and machine.host_keys

        # Real ssh as the login user, with passwordless sudo.
        result = ssh(machine, session.key_path, "id -un; sudo -n id -u; nproc; grep -c ^processor /proc/cpuinfo;"
                                                " grep MemTotal /proc/meminfo; systemctl is-system-running")
        lines = result.stdout.split("\n")
        assert result.returncode in (0, 1), result.stderr   # is-system-running exits 1 when "degraded"
        assert lines[0] == "debian" and lines[1] == "0"
        assert lines[2] == "1", "nproc"
        assert lines[3] == "1", "processor blocks in /proc/cpuinfo"
        assert lines[4].split()[1] == str(512 * 1024), "MemTotal in kB"
        assert lines[5] == "running", result.stdout

        facts = ansible_facts(machine, session.key_path)
        assert facts["ansible_processor_vcpus"] == 1
        assert facts["ansible_processor_nproc"] == 1
        assert facts["ansible_memtotal_mb"] == 512

        # Port 80: closed by the cloud's firewall until a rule of the machine's group opens it.
        started = ssh(machine, session.key_path,
                      "sudo -n sh -c 'mkdir -p /srv/www && echo hello-from-%s > /srv/www/index.html &&"
                      " (setsid python3 -m http.server 80 -d /srv/www >/dev/null 2>&1 &)';"
                      " for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 80))'"
                      " 2>/dev/null && break; sleep 0.1; done" % machine.name)
        assert started.returncode == 0, started.stderr
        assert http_get(machine.address)[0] == "refused"
        provider.ensure_security_group(group, "tests: web", [Rule("tcp", 22, 22, "0.0.0.0/0"),
                                                             Rule("tcp", 80, 80, "0.0.0.0/0")])
        status, body = http_get(machine.address)
        assert status == 200 and body.strip() == "hello-from-" + session.name("e2e-micro")
        # And closed again when the rule goes.
        provider.ensure_security_group(group, "tests: web", [Rule("tcp", 22, 22, "0.0.0.0/0")])
        assert http_get(machine.address)[0] == "refused"

        # apt works through the cloud's proxy...
        apt = ssh(machine, session.key_path, "sudo -n env DEBIAN_FRONTEND=noninteractive sh -c "
                                             "'apt-get -q update >/dev/null && apt-get install -y -q hello >/dev/null'"
                                             " && hello", timeout=300)
        assert apt.returncode == 0, apt.stdout + apt.stderr
        assert apt.stdout.strip() == "Hello, world!"
        # ...which serves only the host's Debian mirror: anything else is refused, and nothing routes out.
        probe = ssh(machine, session.key_path, """python3 - <<'EOF'
import socket, urllib.request
proxy = urllib.request.ProxyHandler({"http": open("/etc/apt/apt.conf.d/00slipway-proxy").read().split('"')[1]})
try:
    urllib.request.build_opener(proxy).open("http://example.org/", timeout=10)
    print("proxy:open")
except Exception as exc:
    print("proxy:%s" % getattr(exc, "code", exc))
try:
    socket.create_connection(("192.0.2.1", 80), timeout=3)
    print("direct:open")
except OSError as exc:
    print("direct:closed")
EOF""")
        assert probe.stdout.split() == ["proxy:403", "direct:closed"], probe.stdout + probe.stderr

        # Destroy, then nothing of it is left on the host.
        provider.destroy_machines([machine])
        assert machine.id not in [m.id for m in provider.list_machines()]
        assert leftovers(session.state, [machine.id]) == []
    finally:
        for made_cloud, made_id in list(session.made):
            if made_cloud == "local-a":
                provider.destroy_machines([made_id])
        provider.delete_security_group(group)


def test_two_cpu_flavor_on_local_b_as_root(local_cloud_session, local_machines):
    (machine,) = local_machines("local-b", ["b-standard"], flavor="Standard")
    assert machine.address.startswith("198.18.2.") and machine.login_user == "root"
    result = ssh(machine, local_cloud_session.key_path,
                 "id -u; nproc; grep -c ^processor /proc/cpuinfo; grep MemTotal /proc/meminfo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[:3] == ["0", "2", "2"]
    assert lines[3].split()[1] == str(2 * 1024 * 1024)


def test_stop_start_reboot_keep_the_machine(local_cloud_session, local_machines):
    provider = local_cloud_session.provider("local-a")
    (machine,) = local_machines("local-a", ["lifecycle"], flavor="Tiny")
    key = local_cloud_session.key_path
    assert ssh(machine, key, "echo kept > /root/marker").returncode == 0

    provider.stop_machines([machine])
    assert [m.state for m in provider.list_machines() if m.id == machine.id] == ["stopped"]
    assert http_get(machine.address, 22, timeout=2)[0] in ("refused", "timeout")

    provider.start_machines([machine])
    (machine,) = provider.wait_machines([machine], "ssh", 120)
    assert ssh(machine, key, "cat /root/marker").stdout.strip() == "kept"

    boot_id = ssh(machine, key, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    provider.reboot_machines([machine])
    (machine,) = provider.wait_machines([machine], "ssh", 120)
    assert ssh(machine, key, "cat /proc/sys/kernel/random/boot_id").stdout.strip() != boot_id

    # A reboot from inside (what ansible.builtin.reboot does) brings it back too, with a new boot id.
    boot_id = ssh(machine, key, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    ssh(machine, key, "systemctl reboot")
    deadline = time.time() + 120
    seen = boot_id
    while seen in (boot_id, "") and time.time() < deadline:
        time.sleep(0.5)
        seen = ssh(machine, key, "cat /proc/sys/kernel/random/boot_id", timeout=30).stdout.strip()
    assert seen not in (boot_id, "")
    assert ssh(machine, key, "cat /root/marker").stdout.strip() == "kept"
    assert [m.state for m in provider.list_machines() if m.id == machine.id] == ["running"]


def test_machines_in_parallel_get_distinct_addresses_and_cpus(local_cloud_session, local_machines):
    names = ["par-%d" % i for i in range(4)]
    machines = local_machines("local-a", names, flavor="Micro")
    assert sorted(m.name for m in machines) == [local_cloud_session.name(n) for n in names]
    assert len(set(m.address for m in machines)) == 4
    listed = {m.name: m for m in local_cloud_session.provider("local-a").list_machines()}
    for machine in machines:
        assert listed[machine.name].state == "running"
        assert listed[machine.name].tags["slipway:managed"] == "true"
    # One machine cannot reach another's closed port (filtered on the host's bridge too).
    first, second = machines[0], machines[1]
    probe = ssh(first, local_cloud_session.key_path,
                "python3 -c 'import socket; socket.create_connection((\"%s\", 80), timeout=3)' 2>&1 | tail -1"
                % second.address)
    assert "refused" in probe.stdout.lower(), probe.stdout


def test_libcloud_driver_is_registered(local_clouds):
    from libcloud.compute.providers import get_driver

    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.driver import LocalNodeDriver

    cls = get_driver("slipway_local")
    assert cls is LocalNodeDriver
    cloud = local_clouds["local-b"]
    driver = cls("local-b", ex_subnet=cloud.option("subnet"),
                 ex_flavors=[(f.name, f.cpu, f.ram_gb) for f in cloud.flavors])
    sizes = {s.name: s for s in driver.list_sizes()}
    assert sorted(sizes) == ["Basic", "Standard"]
    assert sizes["Standard"].ram == 2048 and sizes["Standard"].extra["vcpus"] == 2
    assert [i.id for i in driver.list_images()] == ["debian-12"]
    assert TEST_SSH_GROUP in [g.name for g in driver.ex_list_security_groups()]


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_security_group_crud_is_idempotent(local_cloud_session):
    provider = local_cloud_session.provider("local-b")
    group = local_cloud_session.name("slipway_test_crud")
    rules = [Rule("tcp", 8000, 8100, "198.18.0.0/15"), Rule("icmp", 8, None, "0.0.0.0/0")]
    try:
        first = provider.ensure_security_group(group, "crud", rules)
        assert first["changed"] and first["before"] is None
        again = provider.ensure_security_group(group, "crud", list(reversed(rules)))
        assert not again["changed"]
        check = provider.ensure_security_group(group, "crud", rules[:1], check_mode=True)
        assert check["changed"] and provider.list_security_groups()[group] == sorted(
            rules, key=lambda r: r.proto != "tcp")
        merged = provider.ensure_security_group(group, "crud", [Rule("udp", 53, 53, "0.0.0.0/0")],
                                                purge_rules=False)
        assert merged["changed"] and len(merged["after"]) == 3
        table = subprocess.run(["nft", "list", "table", "inet", local_cloud_session.state.nft_table],
                               check=False, stdout=subprocess.PIPE, universal_newlines=True).stdout
        assert "tcp dport 8000-8100 accept" in table and "udp dport 53 accept" in table
    finally:
        deleted = provider.delete_security_group(group)
    assert deleted["changed"]
    assert not provider.delete_security_group(group)["changed"]
    assert group not in provider.list_security_groups()
