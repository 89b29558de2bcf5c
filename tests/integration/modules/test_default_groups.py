# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog default group on every family: a user's own image that names no security groups.

The shipped catalog sets ``defaults: {security_groups: [slipway_managed]}``. A user's image that
names no groups (and has no parent that does) must come up in slipway_managed, with SSH and the
image's ports open through it, on the EC2 API server, on the Exoscale test server, on a local
cloud and on the loopback OpenStack, through real ansible-playbook runs. What is on each cloud is read
independently of slipway: boto3 and amazon.aws.ec2_instance_info for EC2, the fake's own state for
Exoscale, the local cloud's machine record and real connections for a local machine, openstacksdk for
OpenStack.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import urllib.error
import urllib.request

import pytest

from module_helpers import PUBLIC_KEY, Ansible, ec2_client, group_rules, instance_task, shipped_catalog

#: the rules slipway_managed gets for an image declaring ports [8443]
MANAGED_8443 = [{"proto": "tcp", "ports": 22, "source": "0.0.0.0/0"},
                {"proto": "tcp", "ports": 8443, "source": "0.0.0.0/0"}]


def own_image_layer(directory, name, clouds, login_user, ports=(8443,)):
    """A user's layer with one image of their own: no parent, no security_groups."""
    lines = ["images:", "  %s:" % name, "    description: a user's own image, naming no security groups",
             "    login_user: %s" % login_user, "    size: {cpu: 1, ram_gb: 1}",
             "    ports: [%s]" % ", ".join(str(p) for p in ports), "    clouds:"]
    lines += ["      %s: {%s}" % (cloud, spec) for cloud, spec in clouds.items()]
    path = os.path.join(directory, "own-%s.yml" % name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def managed_outcome(result, cloud):
    """What the instance task says it did to slipway_managed on ``cloud``."""
    return result["clouds"][cloud]["security_groups"]["slipway_managed"]


# -- EC2 (moto) ---------------------------------------------------------------------------

def test_ec2_own_image_gets_slipway_managed(ansible_moto, moto):
    ansible_moto.catalog_layers.append(own_image_layer(
        ansible_moto.workdir, "own-ami", {"moto-a": "image_id: ami-1e749f67"}, "ubuntu"))
    info = {"name": "groups seen by amazon.aws", "register": "seen", "amazon.aws.ec2_instance_info": {
        "region": "us-east-1", "endpoint_url": moto.url,
        "filters": {"tag:slipway:deployment": "dflt", "instance-state-name": ["pending", "running"]}}}
    tasks = [instance_task(image="own-ami", cloud="moto-a", name="own-1", deployment="dflt", wait="running",
                           ssh_public_key=PUBLIC_KEY), info]
    made = ansible_moto.playbook(tasks)
    assert made.ok, made
    result = made.result()
    assert result["changed"] is True
    assert managed_outcome(result, "moto-a")["after"] == MANAGED_8443

    # amazon.aws reads the instances back from the API, as a user would check them
    (instance,) = result["instances"]
    seen = made.named("groups seen by amazon.aws")["instances"]
    assert [(i["instance_id"], [g["group_name"] for g in i["security_groups"]]) for i in seen] == [
        (instance["id"], ["slipway_managed"])], seen

    # and boto3 agrees, rules included: SSH plus the image's port, nothing else
    reservations = ec2_client(moto).describe_instances(InstanceIds=[instance["id"]])["Reservations"]
    assert [g["GroupName"] for g in reservations[0]["Instances"][0]["SecurityGroups"]] == ["slipway_managed"]
    assert group_rules(moto, "moto-a", "slipway_managed") == {("tcp", 22, 22, "0.0.0.0/0"),
                                                              ("tcp", 8443, 8443, "0.0.0.0/0")}

    again = ansible_moto.playbook(tasks[:1])
    assert again.ok and again.result()["changed"] is False, again
    gone = ansible_moto.playbook([instance_task(cloud="moto-a", deployment="dflt", state="absent")])
    assert gone.ok and gone.result()["changed"] is True, gone


# -- Exoscale (the test server checking every request against Exoscale's OpenAPI document) --------

def test_exoscale_own_template_gets_slipway_managed(ansible_exoscale):
    server, ansible = ansible_exoscale
    ansible.catalog_layers.append(own_image_layer(
        ansible.workdir, "own-template", {"exo-it": "image_lookup: {name: Linux Debian 12 (Bookworm) 64-bit}"},
        "debian"))
    task = instance_task(image="own-template", cloud="exo-it", name="own-1", deployment="dflt", wait="running",
                         ssh_public_key=PUBLIC_KEY)
    made = ansible.playbook([task])
    assert made.ok, made
    result = made.result()
    assert result["changed"] is True and managed_outcome(result, "exo-it")["after"] == MANAGED_8443

    state = server.state
    (instance,) = state.instances.values()
    assert instance["name"] == "own-1"
    assert [state.security_groups[g]["name"] for g in instance["groups"]] == ["slipway_managed"]
    (group,) = [state.security_groups[g] for g in instance["groups"]]
    assert sorted((r["protocol"], r["start-port"], r["network"]) for r in group["rules"]) == [
        ("tcp", 22, "0.0.0.0/0"), ("tcp", 8443, "0.0.0.0/0")]

    again = ansible.playbook([task])
    assert again.ok and again.result()["changed"] is False, again
    gone = ansible.playbook([instance_task(cloud="exo-it", deployment="dflt", state="absent")])
    assert gone.ok and gone.result()["changed"] is True and state.instances == {}, gone


# -- OpenStack (the loopback Nova and Neutron) ------------------------------------------------------

@pytest.mark.openstack
def test_openstack_own_image_gets_slipway_managed(openstack_cloud, openstack_env, tmp_path):
    from support.openstack_catalog import CLOUD, write_layer

    seeded = openstack_cloud.seeded
    ansible = Ansible(str(tmp_path), [shipped_catalog(), write_layer(str(tmp_path), seeded)], openstack_env)
    ansible.catalog_layers.append(own_image_layer(
        ansible.workdir, "own-glance", {CLOUD: "image_lookup: {name: 'Debian 12 bookworm *', owner: '%s'}"
                                        % seeded.admin_project_id}, "debian"))
    task = instance_task(image="own-glance", cloud=CLOUD, name="own-1", deployment="dflt", wait="running",
                         ssh_public_key=PUBLIC_KEY)
    conn = openstack_cloud.connect("password", interface="internal")
    try:
        made = ansible.playbook([task])
        assert made.ok, made
        result = made.result()
        assert result["changed"] is True and managed_outcome(result, CLOUD)["after"] == MANAGED_8443
        (instance,) = result["instances"]
        # Nova's server is in that group, and Neutron's group holds SSH and the image's port (the default
        # egress rules beside them, untouched)
        server = conn.compute.get_server(instance["id"])
        assert [g["name"] for g in server.security_groups] == ["slipway_managed"]
        (group,) = conn.network.security_groups(name="slipway_managed")
        assert sorted((r["protocol"], r["port_range_min"], r["remote_ip_prefix"]) for r in group.security_group_rules
                      if r["direction"] == "ingress") == [("tcp", 22, "0.0.0.0/0"), ("tcp", 8443, "0.0.0.0/0")]
        again = ansible.playbook([task])
        assert again.ok and again.result()["changed"] is False, again
    finally:
        gone = ansible.playbook([instance_task(cloud=CLOUD, deployment="dflt", state="absent"),
                                 {"name": "group", "slipway.cloud.security_group": {
                                     "name": "slipway_managed", "cloud": CLOUD, "state": "absent"}}])
        conn.close()
    assert gone.ok and gone.result()["changed"] is True, gone


# -- a local cloud (real machines; skipped where the host cannot run them) ---------------------------

def http_status(address, port, timeout=5):
    try:
        with urllib.request.urlopen("http://%s:%d/" % (address, port), timeout=timeout) as response:
            return response.status
    except urllib.error.URLError as exc:
        return "refused" if isinstance(getattr(exc, "reason", None), ConnectionRefusedError) else "timeout"


@pytest.mark.long
def test_local_own_image_gets_slipway_managed(ansible_local, local_pair, local_ssh_key):
    key_path = local_ssh_key[0]
    cloud = local_pair.names[0]
    ansible_local.catalog_layers.append(own_image_layer(
        ansible_local.workdir, "own-local", {cloud: "image_id: debian-12"}, "root", ports=(8443,)))
    task = instance_task(image="own-local", cloud=cloud, name="own-1", deployment="dflt", wait="ssh", timeout=300,
                         ssh_public_key_file=key_path + ".pub")
    try:
        made = ansible_local.playbook([task])
        assert made.ok, made
        result = made.result()
        assert managed_outcome(result, cloud)["after"] == MANAGED_8443
        (instance,) = result["instances"]
        # the machine's own record on the host lists the group its firewall enforces
        assert local_pair.state.machine(instance["id"])["security_groups"] == ["slipway_managed"]

        # port 22 answers (the wait was ssh), the image's port opens, any other port stays closed
        address = instance["private_ip"]
        serve = ("for port in 8443 8081; do (setsid python3 -m http.server $port -d / >/dev/null 2>&1 &); done;"
                 " for i in $(seq 50); do python3 -c 'import socket; [socket.create_connection((\"127.0.0.1\", p))"
                 " for p in (8443, 8081)]' 2>/dev/null && break; sleep 0.1; done")
        started = subprocess.run(
            ["ssh", "-i", key_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
             "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
             "root@%s" % address, serve], capture_output=True, text=True, timeout=120, check=False)
        assert started.returncode == 0, started.stderr
        assert http_status(address, 8443) == 200
        assert http_status(address, 8081) == "refused"
    finally:
        gone = ansible_local.playbook([instance_task(cloud=cloud, deployment="dflt", state="absent")])
        # The pair lives for the whole session and groups are ensured without purging: leave
        # slipway_managed as the other tests expect it (SSH only), by removing what this test added.
        group = ansible_local.playbook([{"name": "group", "ignore_errors": True, "slipway.cloud.security_group": {
            "name": "slipway_managed", "clouds": [cloud], "state": "absent"}}])
    assert gone.ok and gone.result()["changed"] is True, gone
    assert group.ok and group.result()["changed"] is True, group
