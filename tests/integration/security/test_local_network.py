# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, finding 9: local machines must not be root on the host's network.

Real machines of an isolated local cloud (its own state root, bridge and nft tables). A forger
machine, as root inside, sends hand-made Ethernet frames through an AF_PACKET socket (CAP_NET_RAW,
which guests keep: that is what any root can do); a target machine records, with its own AF_PACKET
socket, every frame that reached its link. What the host lets through is what the target sees.
Each test ends on a legitimate datagram the target waits for, so no test depends on timing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import dataclasses
import ipaddress
import json
import socket
import subprocess
import threading

import pytest

from support.local_cloud import SSH_OPTIONS, TEST_SSH_GROUP
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup
from ansible_collections.slipway.cloud.plugins.module_utils.model import MANAGED_TAG, Placement, Rule
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

GROUP_PORT = 7001          # open on the target only to members of MEMBERS
SENTINEL_PORT = 7002       # open on the target to the whole subnet: "the forger is done"
MEMBERS = "sec_members"
TARGET = "sec_target"

# Runs on the target: prints "ready", then records frames until it has the datagrams it waits for.
LISTENER = r'''
import json, select, socket, struct, sys, time
wanted = set(sys.argv[1].split(","))
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
raw.bind(("host0", 0))
udp = {}
for port in (@GROUP@, @SENTINEL@):
    udp[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp[port].bind(("0.0.0.0", port))
seen = {"frames": [], "datagrams": []}
print("ready", flush=True)
deadline = time.time() + 60


def record(frame, info):
    if info[2] == socket.PACKET_OUTGOING:
        return
    kind = struct.unpack("!H", frame[12:14])[0]
    entry = {"ethertype": kind, "src_mac": frame[6:12].hex(":")}
    if kind == 0x0806:
        entry["arp_sender_mac"] = frame[22:28].hex(":")
        entry["arp_sender_ip"] = socket.inet_ntoa(frame[28:32])
    if kind == 0x0800:
        entry["ip_src"] = socket.inet_ntoa(frame[26:30])
    seen["frames"].append(entry)


while wanted and time.time() < deadline:
    ready = select.select([raw] + list(udp.values()), [], [], 1)[0]
    for sock in ready:
        if sock is raw:
            record(*raw.recvfrom(2048))
        else:
            data, peer = sock.recvfrom(2048)
            seen["datagrams"].append({"from": peer[0], "port": sock.getsockname()[1], "data": data.decode()})
            wanted.discard(data.decode())
# A frame is queued on the packet socket before the IP stack delivers its datagram: take the rest.
raw.setblocking(False)
while True:
    try:
        record(*raw.recvfrom(2048))
    except BlockingIOError:
        break
seen["missing"] = sorted(wanted)
print(json.dumps(seen), flush=True)
'''.replace("@GROUP@", str(GROUP_PORT)).replace("@SENTINEL@", str(SENTINEL_PORT))

# Runs on the forger: sends the frames named on its command line (JSON), then a legitimate sentinel.
FORGER = r'''
import json, socket, struct, sys, time
spec = json.loads(sys.argv[1])

def mac(text):
    return bytes.fromhex(text.replace(":", ""))

def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff

def ipv4_udp(src, dst, port, payload):
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp

def arp_reply(sender_mac, sender_ip, target_mac, target_ip):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac(sender_mac), socket.inet_aton(sender_ip),
                       mac(target_mac), socket.inet_aton(target_ip))

def ipv6_udp(payload):
    udp = struct.pack("!HHHH", 40000, @GROUP@, 8 + len(payload), 0) + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, bytes.fromhex("fe80" + "0" * 26 + "01"),
                       bytes.fromhex("ff02" + "0" * 26 + "01")) + udp

raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
raw.bind(("host0", 0))
for frame in spec["frames"]:
    if frame["kind"] == "ipv4":
        body, kind = ipv4_udp(frame["src"], spec["target_ip"], frame["port"], frame["data"].encode()), 0x0800
    elif frame["kind"] == "arp":
        body, kind = arp_reply(frame["sender_mac"], frame["sender_ip"], spec["target_mac"], spec["target_ip"]), 0x0806
    elif frame["kind"] == "ipv6":
        body, kind = ipv6_udp(b"ipv6"), 0x86dd
    else:
        body, kind = b"slipway other ethertype".ljust(46, b"\0"), 0x88b5
    destination = "ff:ff:ff:ff:ff:ff" if frame.get("broadcast") else spec["target_mac"]
    packet = mac(destination) + mac(frame["eth_src"]) + struct.pack("!H", kind) + body
    for _ in range(3):
        raw.send(packet)
time.sleep(0.3)
sentinel = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    sentinel.sendto(b"sentinel", (spec["target_ip"], @SENTINEL@))
    time.sleep(0.1)
print("sent", flush=True)
'''.replace("@GROUP@", str(GROUP_PORT)).replace("@SENTINEL@", str(SENTINEL_PORT))


def run_on(machine, key_path, argv, input_text=None, timeout=90):
    """Run ``argv`` (an argument list) on the machine as root over SSH; returns the CompletedProcess."""
    command = " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)
    return subprocess.run(["ssh", "-i", key_path] + SSH_OPTIONS + ["root@%s" % machine.address, command],
                          input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)


def link_mac(machine, key_path):
    result = run_on(machine, key_path, ["ip", "-o", "link", "show", "dev", "host0"])
    assert result.returncode == 0 and "link/ether " in result.stdout, result.stderr
    return result.stdout.split("link/ether ")[1].split()[0]


class Listening:
    """The target's listener, started over SSH; ``result()`` is what reached the target's link."""

    def __init__(self, target, key_path, wanted):
        command = "python3 -c %s %s" % (_shell_quote(LISTENER), ",".join(wanted))
        self.proc = subprocess.Popen(["ssh", "-i", key_path] + SSH_OPTIONS + ["root@%s" % target.address, command],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            self.proc.kill()
            raise AssertionError("listener did not start: %r %s" % (first, self.proc.stderr.read()[-2000:]))

    def result(self):
        out, err = self.proc.communicate(timeout=90)
        assert self.proc.returncode == 0, err[-2000:]
        return json.loads(out.strip().splitlines()[-1])


def _shell_quote(text):
    return "'%s'" % text.replace("'", "'\\''")


def forge(forger, key_path, target, target_mac, frames):
    spec = {"target_ip": target.address, "target_mac": target_mac, "frames": frames}
    result = run_on(forger, key_path, ["python3", "-c", FORGER, json.dumps(spec)])
    assert result.returncode == 0 and "sent" in result.stdout, result.stderr[-2000:]


def make(provider, names, groups, key):
    placement = Placement(cloud=provider.cloud, image="debian-12", image_id="debian-12", image_lookup=None,
                          login_user="root", flavor="Micro", cpu=1, ram_gb=0.5,
                          security_groups=(TEST_SSH_GROUP,) + tuple(groups))
    machines = provider.create_machines(placement, list(names), key, {MANAGED_TAG: "true"})
    return provider.wait_machines(machines, "ssh", 120)


def groups_for_the_target(provider):
    """MEMBERS may reach GROUP_PORT of TARGET machines; the whole subnet may reach SENTINEL_PORT."""
    subnet = provider.cloud.option("subnet")
    provider.ensure_security_group(MEMBERS, "members", [Rule("tcp", 22, 22, "0.0.0.0/0")])
    provider.ensure_security_group(TARGET, "target", [
        Rule("udp", GROUP_PORT, GROUP_PORT, "group:" + MEMBERS), Rule("udp", SENTINEL_PORT, SENTINEL_PORT, subnet)])


@pytest.fixture
def trio(isolated_local_cloud):
    """(provider, member, forger, target, key_path) on an isolated local cloud."""
    iso = isolated_local_cloud
    provider = iso.provider()
    groups_for_the_target(provider)
    member, = make(provider, ["sec-member"], [MEMBERS], iso.public_key)
    forger, = make(provider, ["sec-forger"], [], iso.public_key)
    target, = make(provider, ["sec-target"], [TARGET], iso.public_key)
    return provider, member, forger, target, iso.key_path


def arrived(seen, **match):
    return [f for f in seen["frames"] if all(f.get(k) == v for k, v in match.items())]


def test_a_forged_member_address_gets_nothing_the_group_denies(trio):
    """Issue 18, finding 9: group: rules match on source addresses; a machine outside the group that
    sends with a member's address (and even the member's MAC) reaches nothing, while the member does."""
    _provider, member, forger, target, key = trio
    target_mac, forger_mac, member_mac = (link_mac(m, key) for m in (target, forger, member))
    listening = Listening(target, key, ["sentinel", "member"])
    member_send = run_on(member, key, ["python3", "-c", "import socket; s = socket.socket(socket.AF_INET, "
                                       "socket.SOCK_DGRAM); [s.sendto(b'member', (%r, %d)) for _ in range(3)]"
                                       % (target.address, GROUP_PORT)])
    assert member_send.returncode == 0, member_send.stderr
    forge(forger, key, target, target_mac, [
        {"kind": "ipv4", "src": member.address, "port": GROUP_PORT, "data": "forged-ip", "eth_src": forger_mac},
        {"kind": "ipv4", "src": member.address, "port": GROUP_PORT, "data": "forged-mac", "eth_src": member_mac},
    ])
    seen = listening.result()
    assert seen["missing"] == [], seen                               # the member and the sentinel got through
    got = [d["data"] for d in seen["datagrams"]]
    assert "forged-ip" not in got and "forged-mac" not in got, seen["datagrams"]
    assert arrived(seen, ethertype=0x0800, src_mac=forger_mac, ip_src=member.address) == []
    assert "member" in got


def test_arp_ipv6_and_other_ethertypes_from_a_machine_are_dropped_at_its_port(trio):
    """Issue 18, finding 9: ARP claiming another machine's address, bridged IPv6 and other ethertypes
    pass no security group (nf_call_iptables sees only IPv4): the machine's bridge port drops them."""
    _provider, member, forger, target, key = trio
    target_mac, forger_mac = link_mac(target, key), link_mac(forger, key)
    listening = Listening(target, key, ["sentinel"])
    forge(forger, key, target, target_mac, [
        {"kind": "arp", "sender_mac": forger_mac, "sender_ip": member.address, "eth_src": forger_mac},
        {"kind": "arp", "sender_mac": forger_mac, "sender_ip": member.address, "eth_src": forger_mac,
         "broadcast": True},
        {"kind": "ipv6", "eth_src": forger_mac},
        {"kind": "ipv6", "eth_src": forger_mac, "broadcast": True},
        {"kind": "other", "eth_src": forger_mac},
    ])
    seen = listening.result()
    assert seen["missing"] == [], seen
    assert arrived(seen, ethertype=0x0806, arp_sender_ip=member.address, arp_sender_mac=forger_mac) == []
    assert arrived(seen, ethertype=0x86dd) == []
    assert arrived(seen, ethertype=0x88b5) == []
    # The forger's own IPv4 (the sentinel) did pass its port.
    assert arrived(seen, ethertype=0x0800, src_mac=forger_mac, ip_src=forger.address), json.dumps(seen)


def test_a_machine_cannot_add_addresses(isolated_local_cloud):
    """Issue 18, finding 9: root in a machine had CAP_NET_ADMIN and added any address of its subnet."""
    iso = isolated_local_cloud
    machine, = make(iso.provider(), ["sec-noadmin"], [], iso.public_key)
    free = _free_address(iso)
    for argv in (["ip", "addr", "add", free + "/32", "dev", "host0"],
                 ["ip", "link", "set", "dev", "host0", "address", "02:00:00:00:00:01"],
                 ["ip", "route", "add", "198.18.0.0/15", "dev", "host0"]):
        result = run_on(machine, iso.key_path, argv)
        assert result.returncode != 0 and "not permitted" in result.stderr, (argv, result.stdout, result.stderr)
    addresses = run_on(machine, iso.key_path, ["ip", "-4", "-o", "addr", "show", "dev", "host0"]).stdout
    assert free not in addresses and machine.address in addresses


def test_machine_net_admin_adds_addresses_but_the_port_drops_them(isolated_local_cloud):
    """Issue 18, finding 9: the machine_net_admin option (a firewall inside the machine) gives back
    CAP_NET_ADMIN over its own netns only: an address it adds to itself carries nothing past its port."""
    iso = isolated_local_cloud
    provider = iso.provider()
    groups_for_the_target(provider)
    target, = make(provider, ["sec-target"], [TARGET], iso.public_key)
    admin = get_provider(dataclasses.replace(iso.cloud, options=iso.cloud.options + (("machine_net_admin", True),)))
    forger, = make(admin, ["sec-admin"], [], iso.public_key)
    free = _free_address(iso)
    added = run_on(forger, iso.key_path, ["ip", "addr", "add", free + "/32", "dev", "host0"])
    assert added.returncode == 0, added.stderr
    listening = Listening(target, iso.key_path, ["sentinel"])
    sent = run_on(forger, iso.key_path, [
        "python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.bind((%r, 0)); [s.sendto(b'from-added', (%r, %d)) for _ in range(3)]"
        % (free, target.address, SENTINEL_PORT)])
    assert sent.returncode == 0, sent.stderr
    forge(forger, iso.key_path, target, link_mac(target, iso.key_path), [])
    seen = listening.result()
    assert seen["missing"] == [], seen
    assert "from-added" not in [d["data"] for d in seen["datagrams"]]
    assert arrived(seen, ethertype=0x0800, ip_src=free) == []


def _free_address(iso):
    """An address of the isolated cloud's subnet no machine holds (a neighbour's, as far as the port knows)."""
    used = {r.get("address") for r in iso.state.machines()} | {iso.definition["gateway"]}
    return next(str(a) for a in ipaddress.ip_network(iso.definition["subnet"]).hosts() if str(a) not in used)


def test_the_host_is_reachable_from_a_machine_only_on_the_apt_proxy_port(isolated_local_cloud):
    """Issue 18, finding 9: from a machine the host answers on the apt proxy port, and TCP to any other
    port of the bridge address is refused (a listener the test opens there accepts nothing)."""
    iso = isolated_local_cloud
    machine, = make(iso.provider(), ["sec-host"], [], iso.public_key)
    gateway = iso.definition["gateway"]
    proxy_port = (iso.state.host().get("apt_proxy") or {}).get("port", hostsetup.DEFAULT_PROXY_PORT)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((gateway, 0))
    listener.listen(5)
    accepted = []

    def accept():
        try:
            accepted.append(listener.accept()[1])
        except OSError:
            pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        probe = ("import socket\nfor port in (%d, %d):\n    s = socket.socket(); s.settimeout(10)\n"
                 "    try:\n        s.connect((%r, port)); print(port, 'open')\n"
                 "    except OSError as exc:\n        print(port, type(exc).__name__)\n"
                 % (proxy_port, listener.getsockname()[1], gateway))
        result = run_on(machine, iso.key_path, ["python3", "-c", probe])
        assert result.returncode == 0, result.stderr
        lines = dict(line.split() for line in result.stdout.splitlines())
        assert lines[str(proxy_port)] == "open", result.stdout
        assert lines[str(listener.getsockname()[1])] == "ConnectionRefusedError", result.stdout
        assert accepted == []
    finally:
        listener.close()
