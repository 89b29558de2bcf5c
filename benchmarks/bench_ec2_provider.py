# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider-level figures against one moto EC2 server, as ratios to peers measured in the same run.

Peers: boto3 doing the same work the way a careful script does (one RunInstances for the
fleet, CreateTags per name, DescribeInstances, TerminateInstances), and the generic libcloud
adapter (one create_node per machine, as libcloud offers it). Steps, for N machines (default 50):
create (and see them running), list, destroy. The same provider with ``survivor_rule: false`` shows
what the survivor rule (its create mark, the look at other runs' marks, the look at the names) costs
a create, without the start of Ansible around it. The module-level benchmark against
amazon.aws.ec2_instance lives elsewhere; this one isolates the provider layer.

    python benchmarks/bench_ec2_provider.py [--count 50] [--repeat 3]
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

# tests/conftest.py makes the checkout importable as ansible_collections.slipway.cloud
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from moto_server import MotoServer  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.slipway.cloud.plugins.module_utils.model import (  # noqa: E402  pylint: disable=wrong-import-position
    DEPLOYMENT_TAG,
    MANAGED_TAG,
    Cloud,
    Placement,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider  # noqa: E402

ENV = {"BENCH_KEY": "AKIDBENCH0000", "BENCH_SECRET": "bench-secret"}
IMAGE_ID = "ami-12c6146b"       # any id: moto does not check it


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def slipway_run(url, count, provider_name="ec2", options=()):
    cloud = Cloud(name="bench", provider=provider_name, region="us-east-1", endpoint=url, security_groups=False,
                  credentials=(("key", "BENCH_KEY"), ("secret", "BENCH_SECRET")),
                  options=(("ssh_probe", False),) + tuple(options))
    provider = get_provider(cloud, ENV)
    placement = Placement(cloud=cloud, image="debian-12", image_id=IMAGE_ID, image_lookup=None, login_user="admin",
                          flavor="t3.micro", cpu=2, ram_gb=1)
    names = ["bench-%03d" % i for i in range(count)]
    tags = {MANAGED_TAG: "true", DEPLOYMENT_TAG: "bench"}
    create, machines = timed(lambda: provider.wait_machines(
        provider.create_machines(placement, names, None, tags), "running", 120))
    listing, listed = timed(provider.list_machines)
    assert len(listed) == count, len(listed)
    destroy = timed(lambda: provider.destroy_machines(listed))[0]
    assert provider.list_machines() == []
    provider.close()
    return {"create": create, "list": listing, "destroy": destroy}


def boto3_run(url, count):
    import boto3

    client = boto3.client("ec2", region_name="us-east-1", endpoint_url=url, aws_access_key_id=ENV["BENCH_KEY"],
                          aws_secret_access_key=ENV["BENCH_SECRET"])
    names = ["bench-%03d" % i for i in range(count)]
    tags = [{"Key": MANAGED_TAG, "Value": "true"}, {"Key": DEPLOYMENT_TAG, "Value": "bench"}]
    managed = [{"Name": "tag-key", "Values": [MANAGED_TAG]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]

    def create():
        reservation = client.run_instances(ImageId=IMAGE_ID, InstanceType="t3.micro", MinCount=count, MaxCount=count,
                                           TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        instances = sorted(reservation["Instances"], key=lambda i: i["AmiLaunchIndex"])
        for name, instance in zip(names, instances):
            client.create_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "Name", "Value": name}])
        ids = [i["InstanceId"] for i in instances]
        client.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        return ids

    def listing():
        pages = client.get_paginator("describe_instances").paginate(Filters=managed)
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    create_time = timed(create)[0]
    list_time, ids = timed(listing)
    assert len(ids) == count, len(ids)
    destroy_time = timed(lambda: client.terminate_instances(InstanceIds=ids))[0]
    assert listing() == []
    return {"create": create_time, "list": list_time, "destroy": destroy_time}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    runners = {
        "slipway ec2 provider": lambda url: slipway_run(url, args.count),
        "slipway, survivor rule off": lambda url: slipway_run(url, args.count, options=(("survivor_rule", False),)),
        "boto3 script (peer)": lambda url: boto3_run(url, args.count),
        "libcloud generic (per node)": lambda url: slipway_run(
            url, args.count, "libcloud", (("driver", "ec2"), ("driver_args", {"signature_version": "4"}))),
    }
    results = {name: {"create": [], "list": [], "destroy": []} for name in runners}
    with MotoServer(mode="process") as server:
        for name, run in runners.items():       # warm moto's backend once per runner
            server.reset()
            run(server.url)
        for dummy in range(args.repeat):
            for name, run in runners.items():
                server.reset()
                for step, seconds in run(server.url).items():
                    results[name][step].append(seconds)

    print("EC2 provider layer against one moto server, %d machines, median of %d runs" % (args.count, args.repeat))
    peer = {step: statistics.median(values) for step, values in results["boto3 script (peer)"].items()}
    print("%-30s %10s %10s %10s" % ("", "create", "list", "destroy"))
    for name, steps in results.items():
        medians = {step: statistics.median(values) for step, values in steps.items()}
        print("%-30s %9.3fs %9.3fs %9.3fs" % (name, medians["create"], medians["list"], medians["destroy"]))
        if name != "boto3 script (peer)":
            ratios = (medians["create"] / peer["create"], medians["list"] / peer["list"],
                      medians["destroy"] / peer["destroy"])
            print("%-30s %9.2fx %9.2fx %9.2fx" % (("  ratio to boto3",) + ratios))
    with_rule = statistics.median(results["slipway ec2 provider"]["create"])
    without = statistics.median(results["slipway, survivor rule off"]["create"])
    print("survivor rule on a create of %d: %+.3f s (%+.1f %%; goal < 10 %%)"
          % (args.count, with_rule - without, 100.0 * (with_rule / without - 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
