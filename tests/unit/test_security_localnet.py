# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, finding 9: the local machines' bridge-port filter and capabilities, as rendered.

The real-machine tests are tests/integration/security/test_local_network.py; these check the
rendered nft script and the systemd-nspawn arguments without root.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import firewall, isolation

CLOUDS = {"local-a": {"bridge": "slw-local-a", "subnet": "198.18.1.0/24", "gateway": "198.18.1.1"}}


def machine(machine_id, address, state="running", mac=True):
    record = {"id": machine_id, "name": "m-" + machine_id, "cloud": "local-a", "state": state, "address": address,
              "security_groups": [], "resources": {"veth": "vslw" + machine_id}}
    if mac:
        record["mac"] = isolation.mac_for(machine_id)
    return record


def port_chain_text(text, machine_id):
    chain = text[text.index("chain p_%s {" % machine_id):]
    return chain[:chain.index("\n  }")]


def test_each_machine_port_passes_only_its_own_mac_ipv4_source_and_arp():
    """Issue 18, finding 9: anti-spoofing by bridge port, in the same transaction as the groups."""
    text = firewall.render_ruleset("slipway_local_test", CLOUDS, [machine("aa11bb22", "198.18.1.2")], {}, 3143)
    assert text.index("table inet slipway_local_test {") < text.index("table bridge slipway_local_test {")
    assert "delete table bridge slipway_local_test" in text
    assert 'iifname vmap { "vslwaa11bb22" : jump p_aa11bb22 }' in text
    chain = port_chain_text(text, "aa11bb22").splitlines()
    assert [line.strip() for line in chain[2:]] == [
        "ether saddr != 02:73:aa:11:bb:22 drop",
        "ether type ip ip saddr 198.18.1.2 accept",
        "ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 02:73:aa:11:bb:22 "
        "arp saddr ip 198.18.1.2 accept",
        "drop",                                          # IPv6, VLAN tags, every other ethertype
    ]


def test_a_machine_without_a_recorded_mac_is_still_held_to_its_addresses():
    """Issue 18, finding 9: records made before MACs were recorded keep the address checks."""
    text = firewall.render_ruleset("t", CLOUDS, [machine("cc33dd44", "198.18.1.3", mac=False)], {}, 3143)
    chain = port_chain_text(text, "cc33dd44")
    assert "ether saddr" not in chain
    assert "ip saddr 198.18.1.3 accept" in chain and "arp saddr ip 198.18.1.3 accept" in chain


def test_a_deleted_machine_has_no_port_chain():
    text = firewall.render_ruleset("t", CLOUDS, [machine("ee55ff66", "198.18.1.4", state="deleting")], {}, 3143)
    assert "p_ee55ff66" not in text


def test_delete_tables_removes_every_family_rendered():
    """Issue 18, finding 9: teardown removes the bridge table as well as the inet one."""
    deleted = []
    assert firewall.delete_tables("t", lambda family, name: deleted.append((family, name)) or family == "bridge")
    assert deleted == [("inet", "t"), ("bridge", "t")]
    assert set(family for family, _name in deleted) == set(firewall.TABLE_FAMILIES)


def test_machines_boot_without_cap_net_admin_unless_the_cloud_grants_it():
    """Issue 18, finding 9: machines had --capability=CAP_NET_ADMIN; now it is dropped by default."""
    default = isolation.capability_arguments()
    assert not any(a.startswith("--capability=") for a in default)
    dropped = default[0].split("=", 1)[1].split(",")
    assert "CAP_NET_ADMIN" in dropped and "CAP_MKNOD" in dropped
    granted = isolation.capability_arguments(net_admin=True)
    assert "--capability=CAP_NET_ADMIN" in granted
    assert "CAP_NET_ADMIN" not in granted[0] and "CAP_MKNOD" in granted[0]


def test_mac_for_is_locally_administered_unicast_and_checked():
    mac = isolation.mac_for("0a1b2c3d")
    assert mac == "02:73:0a:1b:2c:3d"
    assert int(mac.split(":", maxsplit=1)[0], 16) & 0b11 == 0b10
    for bad in ("0a1b2c3", "0A1B2C3D", "0a1b2c3d\n", "../x"):
        with pytest.raises(ValueError):
            isolation.mac_for(bad)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nftables")
def test_the_rendered_port_table_is_valid_nft():
    machines = [machine("aa11bb22", "198.18.1.2"), machine("cc33dd44", "198.18.1.3", mac=False)]
    text = "\n".join(firewall.render_port_table("slipway_local_unit", machines)[2:]) + "\n"
    check = subprocess.run(["nft", "-c", "-f", "-"], input=text, universal_newlines=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert check.returncode == 0, check.stderr
