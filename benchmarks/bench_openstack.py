# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instance against openstack.cloud.server on one loopback OpenStack (Keystone, Nova with its
fake driver, Neutron, Glance, Placement on 127.0.0.1, started by this run: tests/support/openstack_loopback).

Whole `ansible-playbook` processes, medians of --runs rounds, measured in this run: a fleet of --count
servers created, the unchanged re-run, destroyed. slipway: one task (``names``, wait running). The peer:
openstack.cloud.server (from the ``ansible`` package) in a loop over the names, as a playbook runs it for
several servers, with its defaults (wait: true, for ACTIVE and for the deletion) and ``auto_ip: false``
(slipway's cloud gives no floating IP either). Same image, flavor, network and credentials (the OS_*
variables of the loopback's member user); no key pair, the project's default group. Ratio = slipway /
peer, goal <= 0.5 on each step. Ansible's own floor (a playbook with one ping) is printed beside them.

    python benchmarks/bench_openstack.py [--runs 3] [--count 20] [--json FILE]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import sys
import tempfile


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# tests/conftest.py makes the checkout importable as ansible_collections.slipway.cloud
import conftest as _alias  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from support.collection import collection_root  # noqa: E402
from timed_playbooks import Runner, median, print_steps  # noqa: E402
from support.openstack_catalog import CLOUD, IMAGE, write_layer  # noqa: E402
from support.openstack_loopback import seed  # noqa: E402
from support.openstack_loopback.cloud import LoopbackCloud  # noqa: E402
from support.openstack_loopback.install import ensure_venv  # noqa: E402

FLAVOR = "Basic"


def live_servers(conn, prefix):
    return [s for s in conn.compute.servers() if s.name.startswith(prefix) and s.status != "DELETED"]


#: openstack.cloud 2.5 (the ansible 12 package) reads ``openstack.version``, which openstacksdk 4.15 and later
#: no longer import with ``openstack`` (AttributeError: module 'openstack' has no attribute 'version'); its
#: modules get it imported first through this sitecustomize, on their PYTHONPATH only (the controller's
#: processes never see it). openstack.cloud 2.6 reads the version otherwise.
PEER_SHIM = "try:\n    import openstack.version  # noqa: F401\nexcept ImportError:\n    pass\n"


def peer_environment(workdir):
    shim = os.path.join(workdir, "peer-shim")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "sitecustomize.py"), "w") as handle:
        handle.write(PEER_SHIM)
    return {"PYTHONPATH": os.pathsep.join([shim] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def bench(runs, count, workdir):
    cloud = LoopbackCloud(ensure_venv()).start()
    try:
        seeded = cloud.seeded
        conn = cloud.connect("password", interface="internal")
        runner = Runner(workdir, [os.path.join(collection_root(), "catalog"), write_layer(workdir, seeded)],
                        cloud.env("password"))
        names = ["sw-%02d" % n for n in range(1, count + 1)]
        slipway_create = [{"name": "slipway create", "slipway.cloud.instance": {
            "image": IMAGE, "cloud": CLOUD, "names": names, "deployment": "bench", "size": {"flavor": FLAVOR},
            "security_groups": [], "wait": "running", "timeout": 1200}}]
        slipway_destroy = [{"name": "slipway destroy", "slipway.cloud.instance": {
            "cloud": CLOUD, "deployment": "bench", "state": "absent"}}]
        peer = {"image": seeded.newest_debian_id, "flavor": FLAVOR, "network": seed.NETWORK, "auto_ip": False,
                "timeout": 600}
        loop = ["os-%02d" % n for n in range(1, count + 1)]
        shim = peer_environment(workdir)
        peer_create = [{"name": "peer create", "openstack.cloud.server": dict(peer, name="{{ item }}", state="present"),
                        "loop": loop, "environment": shim}]
        peer_destroy = [{"name": "peer destroy", "openstack.cloud.server": {"name": "{{ item }}", "state": "absent"},
                         "loop": loop, "environment": shim}]
        ping = [{"name": "ping", "ansible.builtin.ping": {}}]
        figures = {key: [] for key in ("slipway create", "slipway rerun", "slipway destroy", "peer create",
                                       "peer rerun", "peer destroy", "floor")}
        for round_number in range(runs):
            order = [("slipway", slipway_create, slipway_destroy, "sw-"), ("peer", peer_create, peer_destroy, "os-")]
            if round_number % 2:
                order.reverse()              # neither tool always runs first
            for label, create, destroy, prefix in order:
                figures["floor"].append(runner.playbook(ping, "ping")[0])
                seconds = runner.playbook(create, label + "-create")[0]
                made = live_servers(conn, prefix)
                assert len(made) == count and {s.status for s in made} == {"ACTIVE"}, (label, len(made))
                figures[label + " create"].append(seconds)
                seconds, out = runner.playbook(create, label + "-rerun")
                # slipway's re-run must change nothing; the peer's reports every server changed (noted, timed)
                unchanged = "changed=0" in out
                assert unchanged or label == "peer", label + " re-run changed something:\n" + out[-2000:]
                figures[label + " rerun"].append(seconds)
                figures[label + " rerun unchanged"] = figures.get(label + " rerun unchanged", True) and unchanged
                seconds = runner.playbook(destroy, label + "-destroy")[0]
                assert live_servers(conn, prefix) == [], label + " did not destroy everything"
                figures[label + " destroy"].append(seconds)
        conn.close()
        return figures, cloud.sdk_version
    finally:
        cloud.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="slipway-bench-openstack-")
    status = 0
    report = {"runs": args.runs, "count": args.count}
    try:
        figures, sdk = bench(args.runs, args.count, workdir)
        report["figures"] = figures
        floor = median(figures["floor"])
        print("loopback OpenStack (openstacksdk %s), %d servers, median of %d runs (whole ansible-playbook processes)"
              % (sdk, args.count, args.runs))
        print_steps(figures)
        print("  floor (one-ping playbook): %.2f s" % floor)
        print("  peer: openstack.cloud.server in a loop (wait: true, auto_ip: false); slipway: one task, wait running")
        unchanged = (figures["slipway rerun unchanged"], figures["peer rerun unchanged"])
        print("  re-run reported unchanged: slipway %s, peer %s" % unchanged)
    except Exception as exc:  # pylint: disable=broad-except
        print("bench_openstack failed: %s" % exc)
        status = 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
