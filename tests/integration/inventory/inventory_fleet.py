# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Machines on moto and files for the inventory tests and benchmarks/bench_inventory.py.

Seeds moto straight through its EC2 API (boto3, one RunInstances per batch and one
CreateTags per machine for its name), with the tags the ec2 provider writes, so the
inventory sees exactly what slipway.cloud.instance would have left there.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(os.path.dirname(HERE))
for _path in (TESTS, os.path.join(TESTS, "support")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from support.collection import ansible_command  # noqa: E402  pylint: disable=wrong-import-position

KEY_VAR = "SLIPWAY_INV_AWS_KEY"
SECRET_VAR = "SLIPWAY_INV_AWS_SECRET"
CREDENTIALS = {KEY_VAR: "AKIASLIPWAYINVENTORY", SECRET_VAR: "slipway-inventory-test-secret"}
#: regions of one moto server: moto keeps each apart, so they are three clouds
REGIONS = {"moto-1": "us-east-1", "moto-2": "us-west-2", "moto-3": "eu-west-1"}
IMAGE_ID = "ami-03cf127a"          # one of the AMIs moto ships in every region
INSTANCE_TYPE = "t3.small"


def moto_clouds_yaml(url, regions=None, down=None, http_timeout=60):
    """Catalog clouds for moto (one per region) and, if ``down``, a cloud whose endpoint refuses."""
    lines = ["clouds:"]
    for name, region in sorted((regions or REGIONS).items()):
        lines += cloud_lines(name, region, url, http_timeout)
    if down:
        lines += cloud_lines(down, "us-east-1", "http://127.0.0.1:9", http_timeout)
    return "\n".join(lines) + "\n"


def cloud_lines(name, region, url, http_timeout=60):
    return [
        "  %s:" % name,
        "    provider: ec2",
        "    region: %s" % region,
        "    endpoint: %s" % url,
        "    credentials: {key: %s, secret: %s}" % (KEY_VAR, SECRET_VAR),
        # a refused endpoint must fail fast: few quick retries
        "    options: {ssh_probe: false, retry_attempts: 2, retry_base_delay: 0.05, retry_max_delay: 0.1,"
        " retry_deadline: 5, http_timeout: %s}" % http_timeout,
        "    flavors:",
        "      t3.small: {cpu: 2, ram_gb: 2}",
        "      t3.micro: {cpu: 2, ram_gb: 1}",
    ]


def images_yaml(clouds):
    """debian-12 and debian-12-web on the moto clouds (login user admin, as Debian's AMIs)."""
    lines = ["images:", "  inv-debian:", "    login_user: admin", "    size: {cpu: 1, ram_gb: 1}", "    clouds:"]
    for name in clouds:
        lines.append("      %s: {image_id: %s}" % (name, IMAGE_ID))
    lines += ["  inv-debian-web:", "    parent: inv-debian", "    ports: [80]"]
    return "\n".join(lines) + "\n"


def write_catalog(directory, url, regions=None, down=None, http_timeout=60):
    regions = regions or REGIONS
    os.makedirs(directory, exist_ok=True)
    clouds = sorted(regions) + ([down] if down else [])
    with open(os.path.join(directory, "moto-clouds.yml"), "w") as handle:
        handle.write(moto_clouds_yaml(url, regions, down, http_timeout))
    with open(os.path.join(directory, "moto-images.yml"), "w") as handle:
        handle.write(images_yaml(clouds))
    return directory


def ec2_client(url, region):
    import boto3

    return boto3.client("ec2", region_name=region, endpoint_url=url,
                        aws_access_key_id=CREDENTIALS[KEY_VAR], aws_secret_access_key=CREDENTIALS[SECRET_VAR])


def seed(url, region, count, prefix, image="inv-debian", deployment=None, login_user=None,
         batch=100, workers=4, stop=False):
    """Create ``count`` managed machines named ``prefix-<n>`` in ``region``; return their ids."""
    client = ec2_client(url, region)
    tags = [{"Key": "slipway:managed", "Value": "true"}, {"Key": "slipway:image", "Value": image}]
    if deployment:
        tags.append({"Key": "slipway:deployment", "Value": deployment})
    if login_user:
        tags.append({"Key": "slipway:login_user", "Value": login_user})
    ids = []
    while len(ids) < count:
        n = min(batch, count - len(ids))
        answer = client.run_instances(ImageId=IMAGE_ID, MinCount=n, MaxCount=n, InstanceType=INSTANCE_TYPE,
                                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        ids += [item["InstanceId"] for item in answer["Instances"]]

    def name(index):
        client.create_tags(Resources=[ids[index]], Tags=[{"Key": "slipway:name", "Value": "%s-%d" % (prefix, index)}])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(name, range(len(ids))))
    if stop:
        client.stop_instances(InstanceIds=ids)
    return ids


def seed_unmanaged(url, region, count=1):
    """Machines without the slipway:managed tag: the inventory must not list them."""
    client = ec2_client(url, region)
    client.run_instances(ImageId=IMAGE_ID, MinCount=count, MaxCount=count, InstanceType=INSTANCE_TYPE,
                         TagSpecifications=[{"ResourceType": "instance",
                                             "Tags": [{"Key": "slipway:name", "Value": "stranger"}]}])


def write_inventory(path, **options):
    """A *.slipway.yml file with ``plugin: slipway.cloud.instances`` and ``options``."""
    import yaml

    data = {"plugin": "slipway.cloud.instances"}
    data.update(options)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)
    return path


# -- running the real tools -----------------------------------------------------------

class Inventory:
    """Runs the real ansible-inventory / ansible on inventory files in a temp dir."""

    def __init__(self, workdir, env):
        self.workdir = workdir
        self.env = env

    def path(self, name):
        return os.path.join(self.workdir, name)

    def write(self, name, **options):
        return write_inventory(self.path(name), **options)

    def run(self, tool, *args, env=None, check=True):
        environ = dict(self.env)
        environ.update(env or {})
        proc = subprocess.run(ansible_command(tool, *args), env=environ, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=300, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("%s %s failed (%s):\n%s\n%s"
                                 % (tool, args, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def list(self, source, *args, env=None, check=True):
        """(parsed --list output, stderr) of one `ansible-inventory -i source --list` run."""
        proc = self.run("ansible-inventory", "-i", source, "--list", *args, env=env, check=check)
        return json.loads(proc.stdout) if proc.returncode == 0 else None, proc.stderr

    def graph(self, source, env=None):
        return self.run("ansible-inventory", "-i", source, "--graph", env=env).stdout


# -- reading ansible-inventory --list output -------------------------------------------

def plain(value):
    """ansible-inventory writes untrusted strings as {"__ansible_unsafe": text}: unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hostvars(data):
    return plain(data["_meta"]["hostvars"])


def group_hosts(data, group):
    return sorted(data.get(group, {}).get("hosts", []))
