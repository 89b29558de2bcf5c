# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""size_info with live: true on the families other than OpenStack that can list their sizes (OpenStack's
own case is in tests/integration/openstack): the EC2 API server (moto answers DescribeInstanceTypes with
AWS's real figures) and the Exoscale test server (its instance types, checked against the OpenAPI document).
The catalog's table comes back beside the cloud's, and a drifted table names each flavor that drifted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from module_helpers import EXO_CLOUD


def drift_by_flavor(result):
    return {d["flavor"]: d for d in result["drift"]}


def test_ec2_table_beside_the_clouds_and_its_drift(ansible_moto, moto, tmp_path):
    drifted = tmp_path / "moto-drift.yml"
    drifted.write_text("""\
clouds:
  moto-drift:
    provider: ec2
    region: us-east-1
    endpoint: %s
    options: {ssh_probe: false}
    credentials: {key: AWS_ACCESS_KEY_ID, secret: AWS_SECRET_ACCESS_KEY}
    flavors:
      t3.micro: {cpu: 1, ram_gb: 1}        # AWS says 2 vCPUs
      t3.small: {cpu: 2, ram_gb: 2}
      t9.imaginary: {cpu: 1, ram_gb: 1}    # no such type
""" % moto.url)
    ansible_moto.catalog_layers.append(str(drifted))
    run = ansible_moto.playbook([
        {"name": "table", "slipway.cloud.size_info": {"cloud": "moto-a", "live": True}},
        {"name": "drift", "slipway.cloud.size_info": {"cloud": "moto-drift", "live": True}},
        {"name": "offline", "slipway.cloud.size_info": {"cloud": "moto-a"}}])
    assert run.ok, run
    table = run.named("table")
    listed = {f["name"]: (f["cpu"], f["ram_gb"]) for f in table["cloud_flavors"]}
    assert (listed["t3.micro"], listed["t3.medium"], listed["m6i.xlarge"]) == ((2, 1), (2, 4), (4, 16))
    assert table["drift"] == []
    drift = drift_by_flavor(run.named("drift"))
    assert sorted(drift) == ["t3.micro", "t9.imaginary"]
    assert (drift["t3.micro"]["problem"], drift["t3.micro"]["differs"]) == ("differs", ["cpu"])
    assert (drift["t3.micro"]["catalog"]["cpu"], drift["t3.micro"]["cloud"]["cpu"]) == (1, 2)
    assert (drift["t9.imaginary"]["problem"], drift["t9.imaginary"]["cloud"]) == ("missing", None)
    offline = run.named("offline")
    assert "cloud_flavors" not in offline and "drift" not in offline


def test_exoscale_table_beside_the_clouds_and_its_drift(ansible_exoscale, tmp_path):
    server, ansible = ansible_exoscale
    drifted = tmp_path / "exo-drift.yml"
    drifted.write_text((EXO_CLOUD % server.url).replace("exo-it:", "exo-drift:").replace(
        "Small: {cpu: 2, ram_gb: 2}", "Small: {cpu: 2, ram_gb: 4}\n      Colossal: {cpu: 64, ram_gb: 512}"))
    ansible.catalog_layers.append(str(drifted))
    run = ansible.playbook([
        {"name": "table", "slipway.cloud.size_info": {"cloud": "exo-it", "live": True}},
        {"name": "drift", "slipway.cloud.size_info": {"cloud": "exo-drift", "live": True}}])
    assert run.ok, run
    table = run.named("table")
    listed = {f["name"]: (f["cpu"], f["ram_gb"]) for f in table["cloud_flavors"]}
    assert (listed["standard.tiny"], listed["standard.small"], listed["memory.large"]) == ((1, 1), (2, 2), (2, 16))
    assert table["drift"] == []
    drift = drift_by_flavor(run.named("drift"))
    assert sorted(drift) == ["Colossal", "Small"]
    assert (drift["Small"]["problem"], drift["Small"]["differs"]) == ("differs", ["ram_gb"])
    assert drift["Colossal"]["problem"] == "missing"
