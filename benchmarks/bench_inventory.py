# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.cloud.instances against its floor and against amazon.aws.aws_ec2, in one run.

1,000 managed machines on moto (tests/support/moto_server.py: moto behind the namespace
fix), spread over three EC2-family clouds of a test catalog (three regions of one server),
plus the local clouds' machines when the local cloud can make them here
(BENCH_LOCAL_MACHINES=N, default 2; 0 skips them). Measured, each several times (median):

* floor, Ansible's start: ``ansible-inventory -i localhost, --list``
* floor, raw listing: the same DescribeInstances calls the provider makes, signed and sent
  with no client library and nothing parsed; the three clouds one after the other and all at once
* floor, Ansible's own ``--list`` of the same hosts: a bench-only plugin that adds exactly the
  hosts, groups and variables of our listing from a JSON file (what any source costs), and of
  as many bare hosts (names only: Ansible's fixed cost per host)
* slipway.cloud.instances cold (``cache: false``) and cached (jsonfile cache, primed once)
* the peer: amazon.aws.aws_ec2 on the same three regions, plain, and with keyed_groups/compose
  giving the same groups and ansible_host as ours

and prints the ratios against the goals: cold <= 1.3 x (start + raw listing), cached <= start
+ 0.3 s, cold <= 0.5 x the peer, each beside the best that any inventory source could reach in the
same run (one that costs nothing beyond the API server's answer and Ansible's own --list of these
hosts). Every run's host count is checked; a wrong count fails the bench.

    python benchmarks/bench_inventory.py [--machines 1000] [--repeat 5] [--peer-repeat 3]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "inventory"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

# tests/conftest.py makes this checkout importable as ansible_collections.slipway.cloud
import conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
import inventory_fleet as fleet  # noqa: E402  pylint: disable=wrong-import-position
from moto_server import MotoServer  # noqa: E402  pylint: disable=wrong-import-position
from support.collection import ansible_command, ansible_env  # noqa: E402  pylint: disable=wrong-import-position

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def timed(command, env, expect_hosts=None, cwd=None):
    """(wall seconds, CPU seconds, parsed --list output) of one ansible-inventory run.

    CPU is the child's user+system time: unlike wall time it hardly moves when other work
    shares the machine, so it is printed beside the wall time the goals are about.

    ``expect_hosts``: the exact host count, or ``(n, "at least")`` where other users' machines on the
    shared local clouds may come and go during the run.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600, check=False)
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit("FAILED: %s\n%s\n%s" % (" ".join(command), proc.stdout[-2000:], proc.stderr[-4000:]))
    data = json.loads(proc.stdout)
    # a host without variables is not in _meta.hostvars, only in its groups (ungrouped at least)
    hosts = len(set(data.get("_meta", {}).get("hostvars", {})).union(
        *(body.get("hosts", []) for name, body in data.items() if name != "_meta")))
    wanted, at_least = expect_hosts if isinstance(expect_hosts, tuple) else (expect_hosts, False)
    if wanted is not None and (hosts < wanted if at_least else hosts != wanted):
        raise SystemExit("FAILED: %s listed %d hosts, expected %s%d\n%s"
                         % (" ".join(command), hosts, "at least " if at_least else "", wanted,
                            proc.stderr[-4000:]))
    return elapsed, cpu, data


class Series:
    """The runs of one measured command; the figures are medians."""

    def __init__(self, label, run):
        self.label = label
        self.run = run              # () -> (wall, cpu or None)
        self.wall = []
        self.cpu = []

    def once(self):
        wall, cpu = self.run()
        self.wall.append(wall)
        if cpu is not None:
            self.cpu.append(cpu)

    @property
    def median(self):
        return statistics.median(self.wall)

    def line(self):
        cpu = "%6.2f s" % statistics.median(self.cpu) if self.cpu else "       -"
        runs = " ".join("%.2f" % t for t in self.wall)
        return "  %-44s %6.2f s  %s   (runs: %s)" % (self.label, self.median, cpu, runs)


def ansible_series(label, command, env, expect_hosts=None):
    def run():
        wall, cpu, _data = timed(command, env, expect_hosts)
        return wall, cpu
    return Series(label, run)


# -- the raw listing floor -----------------------------------------------------------------

def signed_describe(url, region):
    """The provider's one DescribeInstances call, SigV4-signed, sent with urllib; body unparsed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    params = [("Action", "DescribeInstances"), ("Version", "2016-11-15"),
              ("Filter.1.Name", "instance-state-name")]
    params += [("Filter.1.Value.%d" % i, state) for i, state in enumerate(LIVE_STATES, 1)]
    params += [("Filter.2.Name", "tag-key"), ("Filter.2.Value.1", "slipway:managed")]
    query = "&".join("%s=%s" % (k, urllib.request.quote(v, safe="")) for k, v in params)
    request = AWSRequest(method="GET", url="%s/?%s" % (url, query))
    SigV4Auth(Credentials(fleet.CREDENTIALS[fleet.KEY_VAR], fleet.CREDENTIALS[fleet.SECRET_VAR]),
              "ec2", region).add_auth(request)
    prepared = urllib.request.Request(request.url, headers=dict(request.headers.items()))
    with urllib.request.urlopen(prepared, timeout=120) as answer:
        return answer.read()


def raw_listing(url, regions, parallel):
    start = time.monotonic()
    bodies = {}
    if parallel:
        threads = [threading.Thread(target=lambda r=r: bodies.__setitem__(r, signed_describe(url, r)))
                   for r in regions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for region in regions:
            bodies[region] = signed_describe(url, region)
    elapsed = time.monotonic() - start
    return elapsed, sum(body.count(b"<instanceId>") for body in bodies.values())


def raw_series(label, url, regions, parallel, expect):
    def run():
        elapsed, count = raw_listing(url, regions, parallel)
        if count != expect:
            raise SystemExit("FAILED: raw listing saw %d instances, expected %d" % (count, expect))
        return elapsed, None
    return Series(label, run)


# -- Ansible's own cost of the same hosts ------------------------------------------------------

STATIC_PLUGIN = '''
# A bench-only inventory plugin: the hosts, groups and variables of a finished listing, from a JSON
# file, added with the same calls slipway.cloud.instances makes. Its run time is what
# `ansible-inventory --list` costs for these hosts whatever the source: the floor of any plugin.
import json

from ansible.plugins.inventory import BaseInventoryPlugin


class InventoryModule(BaseInventoryPlugin):
    NAME = "bench_static"

    def verify_file(self, path):
        return path.endswith(".static.yml")

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        with open(path[:-len(".static.yml")] + ".json") as handle:
            records = json.load(handle)
        for record in records:
            host = inventory.add_host(record["host"])
            target = inventory.get_host(host)
            for key, value in record["vars"].items():
                target.set_variable(key, value)
            for group in record["groups"]:
                inventory.add_group(group)
                inventory.add_child(group, host)
'''


def static_source(workdir, listing, bare=False):
    """(inventory source, plugin dir) serving exactly the hosts of ``listing`` (a --list output).

    ``bare``: the same host names only, without variables or groups (Ansible's fixed cost per host).
    """
    plugins = os.path.join(workdir, "static_plugins")
    os.makedirs(plugins, exist_ok=True)
    with open(os.path.join(plugins, "bench_static.py"), "w") as handle:
        handle.write(STATIC_PLUGIN)
    hostvars = fleet.plain(listing["_meta"]["hostvars"])
    groups = {}
    for name, body in listing.items():
        if name in ("_meta", "all", "ungrouped"):
            continue
        for host in body.get("hosts", []):
            groups.setdefault(host, []).append(name)
    records = [{"host": host, "vars": {k: v for k, v in hostvars[host].items()
                                       if k not in ("inventory_file", "inventory_dir") and not bare},
                "groups": [] if bare else groups.get(host, [])} for host in hostvars]
    name = "bare" if bare else "same"
    with open(os.path.join(workdir, name + ".json"), "w") as handle:
        json.dump(records, handle)
    source = os.path.join(workdir, name + ".static.yml")
    with open(source, "w") as handle:
        handle.write("plugin: bench_static\n")
    return source, plugins


# -- local machines (optional) -----------------------------------------------------------

def _nothing():
    return None


def start_local_machines(count, workdir):
    """(cloud names, cleanup) after making ``count`` machines on the local clouds, if this host can.

    Uses the local cloud's test support (tests/support/local_cloud.py) as its fixtures do: the
    clouds are set up if they were not (and torn down again at the end), the machines destroyed.
    """
    if count <= 0:
        return [], _nothing
    try:
        from support import local_cloud
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import (
            StateRoot, resolve_images, resolve_root,
        )
    except ImportError as exc:
        print("  local machines: skipped (%s)" % exc)
        return [], _nothing
    reason = local_cloud.host_can_run_local_machines()
    if reason:
        print("  local machines: skipped (%s)" % reason)
        return [], _nothing
    clouds = local_cloud.catalog_local_clouds()
    root = resolve_root(None)
    state = StateRoot(root, resolve_images(root))
    definitions = [hostsetup.cloud_definition(name, cloud.option("subnet"), cloud.option("bridge"), state)
                   for name, cloud in sorted(clouds.items())]
    set_up_here = [d["name"] for d in definitions if d["name"] not in set(state.clouds())]
    key_path = os.path.join(workdir, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key_path], check=True)
    with open(key_path + ".pub") as handle:
        public_key = handle.read().strip()
    session = local_cloud.LocalCloudSession(state, clouds, key_path, public_key, set_up_here)

    def cleanup():
        session.destroy_made()
        if set_up_here:
            hostsetup.teardown_host(state, set_up_here)

    try:
        hostsetup.ensure_host(state, definitions)
        names = sorted(clouds)
        for name in names:
            local_cloud.ensure_test_group(session.provider(name))
        for index in range(count):
            cloud = names[index % len(names)]
            tags = {"slipway:image": "debian-12", "slipway:deployment": "bench-local"}
            session.create(cloud, ["bench-local-%d" % index], tags=tags)
    except Exception as exc:  # pylint: disable=broad-except
        print("  local machines: skipped (%s: %s)" % (type(exc).__name__, exc))
        cleanup()
        return [], _nothing
    return sorted(clouds), cleanup


def local_host_count(cloud_names):
    """Machines on the local clouds now (other users' too: they are listed as well)."""
    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import default_catalog_layers
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

    catalog = load_catalog(default_catalog_layers({}))
    return sum(len(get_provider(catalog.clouds[name]).list_machines()) for name in cloud_names)


# -- main ----------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--machines", type=int, default=int(os.environ.get("BENCH_MACHINES", 1000)))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 5)))
    parser.add_argument("--peer-repeat", type=int, default=int(os.environ.get("BENCH_PEER_REPEAT", 3)))
    parser.add_argument("--local", type=int, default=int(os.environ.get("BENCH_LOCAL_MACHINES", 2)))
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="slipway-bench-inventory-")
    regions = [fleet.REGIONS[name] for name in sorted(fleet.REGIONS)]
    local_cleanup = _nothing
    server = MotoServer(mode="process")
    try:
        server.start()
        print("slipway.cloud.instances benchmark: %d machines on moto (%s), %d cpu"
              % (args.machines, ", ".join(regions), os.cpu_count() or 0), flush=True)
        start = time.monotonic()
        share, extra = divmod(args.machines, len(regions))
        for index, name in enumerate(sorted(fleet.REGIONS)):
            fleet.seed(server.url, fleet.REGIONS[name], share + (1 if index < extra else 0), name,
                       image="inv-debian" if index % 2 == 0 else "inv-debian-web",
                       deployment="bench-%d" % index, login_user="admin" if index == 0 else None)
        print("  seeded in %.1f s" % (time.monotonic() - start), flush=True)

        layers = [fleet.write_catalog(os.path.join(workdir, "catalog"), server.url)]
        clouds = sorted(fleet.REGIONS)
        local_clouds, local_cleanup = start_local_machines(args.local, workdir)
        if local_clouds:
            layers.insert(0, os.path.join(ROOT, "catalog"))       # the shipped catalog defines local-a/b
            clouds += local_clouds
        local_count = local_host_count(local_clouds) if local_clouds else 0
        total = args.machines + local_count
        expect = (args.machines + args.local, "at least") if local_clouds else total
        if local_clouds:
            print("  local machines: %d on %s" % (local_count, ", ".join(local_clouds)), flush=True)

        env = ansible_env(**fleet.CREDENTIALS)
        env.update(ANSIBLE_PYTHON_INTERPRETER=sys.executable, AWS_ACCESS_KEY_ID=fleet.CREDENTIALS[fleet.KEY_VAR],
                   AWS_SECRET_ACCESS_KEY=fleet.CREDENTIALS[fleet.SECRET_VAR])
        for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(key, None)

        cold = fleet.write_inventory(os.path.join(workdir, "cold.slipway.yml"), catalog=layers, clouds=clouds)
        cache_dir = os.path.join(workdir, "cache")
        cached = fleet.write_inventory(os.path.join(workdir, "cached.slipway.yml"), catalog=layers, clouds=clouds,
                                       cache=True,
                                       cache_plugin="ansible.builtin.jsonfile", cache_connection=cache_dir,
                                       cache_timeout=3600)
        peer_common = {
            "plugin": "amazon.aws.aws_ec2", "regions": regions, "endpoint_url": server.url,
            "filters": {"tag-key": "slipway:managed", "instance-state-name": LIVE_STATES},
            "hostnames": ["tag:slipway:name", "instance-id"],
        }
        peer_plain = os.path.join(workdir, "plain.aws_ec2.yml")
        peer_same = os.path.join(workdir, "same.aws_ec2.yml")
        with open(peer_plain, "w") as handle:
            json.dump(peer_common, handle)
        with open(peer_same, "w") as handle:
            json.dump(dict(peer_common, keyed_groups=[
                {"key": "placement.region", "prefix": "cloud"},
                {"key": "tags['slipway:image']", "prefix": "image"},
                {"key": "tags['slipway:deployment']", "prefix": "deployment"},
            ], compose={"ansible_host": "public_ip_address | default(private_ip_address, true)"}), handle)

        inventory = ansible_command("ansible-inventory")
        listing = timed(inventory + ["-i", cold, "--list"], env, expect)[2]
        static, static_plugins = static_source(workdir, listing)
        bare = static_source(workdir, listing, bare=True)[0]
        static_env = dict(env, ANSIBLE_INVENTORY_PLUGINS=static_plugins)
        timed(inventory + ["-i", cached, "--list", "--flush-cache"], env, expect)     # primes the cache

        start = ansible_series("floor: Ansible's start (-i localhost,)", inventory + ["-i", "localhost,", "--list"], env)
        raw_seq = raw_series("floor: raw listing, clouds one after another", server.url, regions, False, args.machines)
        raw_par = raw_series("floor: raw listing, clouds at once", server.url, regions, True, args.machines)
        same_hosts = ansible_series("floor: Ansible's --list of the same hosts", inventory + ["-i", static, "--list"],
                                    static_env, len(listing["_meta"]["hostvars"]))
        bare_hosts = ansible_series("floor: Ansible's --list of as many bare hosts", inventory + ["-i", bare, "--list"],
                                    static_env, len(listing["_meta"]["hostvars"]))
        cold_runs = ansible_series("slipway.cloud.instances, cold", inventory + ["-i", cold, "--list"], env, expect)
        cached_runs = ansible_series("slipway.cloud.instances, cached", inventory + ["-i", cached, "--list"], env,
                                     expect)
        peer = ansible_series("peer: amazon.aws.aws_ec2 (plain)", inventory + ["-i", peer_plain, "--list"], env,
                              args.machines)
        peer_same = ansible_series("peer: amazon.aws.aws_ec2 (same groups/vars)",
                                   inventory + ["-i", peer_same, "--list"], env, args.machines)
        # Rounds, each running every command once: a burst of other work on the machine then
        # hits all of them alike instead of one series.
        rounds = max(args.repeat, args.peer_repeat)
        for index in range(rounds):
            series = [start, raw_seq, raw_par, bare_hosts, same_hosts, cold_runs, cached_runs]
            if index < args.peer_repeat:
                series += [peer, peer_same]
            for one in series:
                if index < args.repeat or one in (peer, peer_same):
                    one.once()
            print("  round %d of %d done" % (index + 1, rounds), flush=True)

        print("\n%d machines; median of the runs, wall time (CPU time of the ansible-inventory process):"
              % total)
        for one in (start, raw_seq, raw_par, bare_hosts, same_hosts, cold_runs, cached_runs, peer, peer_same):
            print(one.line())

        raw = min(raw_seq.median, raw_par.median)
        floor = start.median + raw
        ours_cold, ours_cached = cold_runs.median, cached_runs.median
        # The best any inventory source could do in this run: it still waits for the API server (raw) and
        # still pays what Ansible itself spends on --list of these hosts (the same-hosts floor).
        best_cold, best_cached = raw + same_hosts.median, same_hosts.median
        goals = [
            ("cold / floor (start + raw listing)", ours_cold / floor, best_cold / floor, 1.3),
            ("cached - Ansible's start", ours_cached - start.median, best_cached - start.median, 0.3),
            ("cold / peer (plain aws_ec2)", ours_cold / peer.median, best_cold / peer.median, 0.5),
            ("cold / peer (same groups/vars)", ours_cold / peer_same.median, best_cold / peer_same.median, 0.5),
            ("cached - Ansible's --list of the same hosts", ours_cached - same_hosts.median, None, None),
            # a cold run without the API server's time and Ansible's own cost of these hosts: the plugin's share
            ("cold - best (the plugin's own share)", ours_cold - best_cold, None, None),
            ("cached / peer (plain aws_ec2)", ours_cached / peer.median, None, None),
        ]
        print("\nfloor = %.2f s (start %.2f s + raw listing %.2f s, the faster of one-after-another and at once)"
              % (floor, start.median, raw))
        print("best = what a source costing nothing beyond the API server and Ansible's own --list would get")
        print("  %-44s %7s  %7s  %-8s" % ("", "ours", "best", "goal"))
        for label, value, best, goal in goals:
            unit = " s" if " - " in label else "x"
            if goal is None:
                print("  %-44s %6.2f%s" % (label, value, unit))
                continue
            if value <= goal:
                verdict = "met"
            else:
                verdict = "MISSED" + (" (beyond any source in this run)" if best > goal else "")
            print("  %-44s %6.2f%s  %6.2f%s  <= %.2f%s %s" % (label, value, unit, best, unit, goal, unit.strip(),
                                                              verdict))
        return 0
    finally:
        local_cleanup()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
