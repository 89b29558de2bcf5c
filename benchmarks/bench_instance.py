# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instance against amazon.aws.ec2_instance on one moto server, and multi-cloud parallelism.

Whole `ansible-playbook` processes, medians of --runs rounds, measured in this run:

1. moto (EC2 API on loopback), both modules on the same server, same AMI and instance type:
   create 50 instances in one task, the unchanged re-run, destroy. Ratio = slipway / peer
   (goal <= 0.5). Ansible's own floor (a playbook with one ping) is printed beside them.
   slipway waits until running (moto has no SSH); the peer uses its defaults (wait: true).
   The same slipway tasks on a cloud with ``options.survivor_rule: false`` show what the survivor
   rule (the create mark put up and taken down, the look at other runs' marks and at the names after a
   create, which make concurrent runs converge) costs one run (goal < 10 %).
2. Local clouds (real machines, wait for SSH): one task provisioning one machine on each of two
   local clouds, against the same two done one after the other (two playbooks). Ratio goal < 0.6.
   Uses two local clouds of its own (temporary state root, two free /24s of 198.18.200-239.0);
   skipped with the reason on a host that cannot run local machines.

    python benchmarks/bench_instance.py [--runs 3] [--count 50] [--skip-local] [--skip-moto] [--json FILE]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# tests/conftest.py makes the checkout importable as ansible_collections.slipway.cloud
import conftest as _alias  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from support.collection import collection_root  # noqa: E402
from timed_playbooks import Runner, median, print_steps  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "modules"))
del sys.modules["conftest"]
import conftest  # noqa: E402  (the module tests' helpers: catalog layer, boto3 client)

AMI = "ami-1e749f67"
KEY_ID, SECRET = "AKIASLIPWAYBENCH0001", "slipwayBENCHfakeSECRET0123456789abcdefgh"


def count_live(moto, tag_key, tag_value):
    client = conftest.ec2_client(moto)
    found = 0
    for page in client.get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:" + tag_key, "Values": [tag_value]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]):
        found += sum(len(r["Instances"]) for r in page["Reservations"])
    return found


#: the same moto region as moto-a, without the survivor rule (the bench's own layer on top of the test layer)
NO_RULE_LAYER = """\
clouds:
  moto-norule:
    description: moto-a without the survivor rule
    provider: ec2
    region: us-east-1
    endpoint: %s
    options: {ssh_probe: false, survivor_rule: false}
    credentials: {key: AWS_ACCESS_KEY_ID, secret: AWS_SECRET_ACCESS_KEY}
    flavors:
      t3.micro: {cpu: 2, ram_gb: 1, price: 0.012}
images:
  trusty-norule:
    description: trusty, on moto-norule
    parent: trusty
    clouds:
      moto-norule: {image_id: ami-1e749f67}
"""


def moto_bench(runs, count, workdir):
    from support.moto_server import MotoServer

    moto = MotoServer(mode="process").start()
    try:
        layer = conftest.template_layer("moto.yml", workdir, moto_url=moto.url)
        no_rule = os.path.join(workdir, "no-rule.yml")
        with open(no_rule, "w") as handle:
            handle.write(NO_RULE_LAYER % moto.url)
        runner = Runner(workdir, [os.path.join(collection_root(), "catalog"), layer, no_rule],
                        {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
                         "AWS_DEFAULT_REGION": "us-east-1"})
        slipway_create = [{"name": "slipway create", "slipway.cloud.instance": {
            "image": "trusty", "cloud": "moto-a", "count": count, "name_pattern": "b-%02d", "deployment": "bench",
            "wait": "running", "size": {"flavor": "t3.micro"}}}]
        slipway_destroy = [{"name": "slipway destroy", "slipway.cloud.instance": {
            "cloud": "moto-a", "deployment": "bench", "state": "absent"}}]
        norule_create = [{"name": "slipway create", "slipway.cloud.instance": dict(
            slipway_create[0]["slipway.cloud.instance"], image="trusty-norule", cloud="moto-norule")}]
        norule_destroy = [{"name": "slipway destroy", "slipway.cloud.instance": dict(
            slipway_destroy[0]["slipway.cloud.instance"], cloud="moto-norule")}]
        peer_common = {"region": "us-east-1", "endpoint_url": moto.url, "filters": {
            "tag:bench": "peer", "instance-state-name": ["pending", "running", "stopping", "stopped"]}}
        peer_create = [{"name": "peer create", "amazon.aws.ec2_instance": dict(
            peer_common, image_id=AMI, instance_type="t3.micro", exact_count=count, tags={"bench": "peer"})}]
        peer_destroy = [{"name": "peer destroy", "amazon.aws.ec2_instance": dict(peer_common, state="absent")}]
        ping = [{"name": "ping", "ansible.builtin.ping": {}}]

        figures = {key: [] for key in ("slipway create", "slipway rerun", "slipway destroy", "peer create",
                                       "peer rerun", "peer destroy", "norule create", "norule rerun",
                                       "norule destroy", "floor")}
        for round_number in range(runs):
            order = [("slipway", slipway_create, slipway_destroy, ("slipway:deployment", "bench")),
                     ("norule", norule_create, norule_destroy, ("slipway:deployment", "bench")),
                     ("peer", peer_create, peer_destroy, ("bench", "peer"))]
            if round_number % 2:
                order.reverse()          # neither tool always runs first on a warm server
            for label, create, destroy, (tag_key, tag_value) in order:
                # The floor is taken beside each tool's runs: on a busy host it moves with them.
                figures["floor"].append(runner.playbook(ping, "ping")[0])
                moto.reset()
                # moto builds a region's backend on its first call (seconds); a real cloud is always warm.
                count_live(moto, tag_key, tag_value)
                seconds = runner.playbook(create, label + "-create")[0]
                assert count_live(moto, tag_key, tag_value) == count, label + " did not create %d" % count
                figures[label + " create"].append(seconds)
                seconds, out = runner.playbook(create, label + "-rerun")
                assert "changed=0" in out, label + " re-run changed something:\n" + out[-2000:]
                assert count_live(moto, tag_key, tag_value) == count
                figures[label + " rerun"].append(seconds)
                seconds = runner.playbook(destroy, label + "-destroy")[0]
                assert count_live(moto, tag_key, tag_value) == 0, label + " did not destroy everything"
                figures[label + " destroy"].append(seconds)
        return figures
    finally:
        moto.stop()


def local_bench(runs, workdir):
    from local_pair import LocalPair, why_not_local

    reason = why_not_local()
    if reason:
        return {"skipped": reason}
    pair = LocalPair("bench", image="debian-12-bench").set_up()
    try:
        key = os.path.join(workdir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        runner = Runner(workdir, [os.path.join(collection_root(), "catalog"), pair.layer(workdir)], {})
        a, b = pair.names

        def create(clouds, label):
            return [{"name": label, "slipway.cloud.instance": {
                "image": pair.image, "clouds": clouds, "name": "n1", "deployment": "bench",
                "ssh_public_key_file": key + ".pub", "wait": "ssh", "timeout": 300}}]

        destroy = [{"name": "destroy", "slipway.cloud.instance": {
            "clouds": [a, b], "deployment": "bench", "state": "absent"}}]
        figures = {"parallel": [], "sequential": [], "sequential_a": [], "sequential_b": []}
        for dummy in range(runs):
            figures["parallel"].append(runner.playbook(create([a, b], "both"), "local-both")[0])
            runner.playbook(destroy, "local-destroy")
            first = runner.playbook(create([a], "a"), "local-a")[0]
            second = runner.playbook(create([b], "b"), "local-b")[0]
            figures["sequential_a"].append(first)
            figures["sequential_b"].append(second)
            figures["sequential"].append(first + second)
            runner.playbook(destroy, "local-destroy")
        return figures
    finally:
        pair.teardown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-moto", action="store_true")
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="slipway-bench-instance-")
    report = {"runs": args.runs, "count": args.count}
    status = 0
    try:
        if not args.skip_moto:
            figures = moto_bench(args.runs, args.count, workdir)
            report["moto"] = figures
            floor = median(figures["floor"])
            print("moto, %d instances in one task, median of %d runs (whole ansible-playbook processes)"
                  % (args.count, args.runs))
            print_steps(figures)
            above = ["%s %.2f vs %.2f s" % (step, median(figures["slipway " + step]) - floor,
                                            median(figures["peer " + step]) - floor)
                     for step in ("create", "rerun", "destroy")]
            print("  floor (one-ping playbook): %.2f s; above the floor: %s" % (floor, ", ".join(above)))
            print("  peer: amazon.aws.ec2_instance (exact_count, defaults: wait true); slipway: wait running")
            costs = ["%s %+.1f %% (%.2f vs %.2f s)" % (
                step, 100.0 * (median(figures["slipway " + step]) / median(figures["norule " + step]) - 1),
                median(figures["slipway " + step]), median(figures["norule " + step])) for step in ("create", "rerun")]
            print("  survivor rule on one run (goal < 10 %% more): %s" % ", ".join(costs))
        if not args.skip_local:
            figures = local_bench(args.runs, workdir)
            report["local"] = figures
            if "skipped" in figures:
                print("local: skipped: %s" % figures["skipped"])
            else:
                both, seq = median(figures["parallel"]), median(figures["sequential"])
                print("local, one machine on each of two local clouds, wait ssh, median of %d runs" % args.runs)
                ratio = both / seq
                print("  one task, two clouds: %.2f s; one after the other: %.2f s (%.2f + %.2f); ratio %.2fx "
                      "(goal < 0.6x)%s" % (both, seq, median(figures["sequential_a"]), median(figures["sequential_b"]),
                                           ratio, "" if ratio < 0.6 else "  (missed)"))
    except Exception as exc:  # pylint: disable=broad-except
        print("bench_instance failed: %s" % exc)
        status = 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
