# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local cloud figures (medians), each beside a peer measured in the same run.

1. create-to-SSH of one machine (goal < 2 s). Peer: the same machine's boot alone
   (nspawn started -> SSH banner), so the ratio is what the provider adds.
2. 8 machines created in one call, all SSH-ready (goal < 6 s in all). Peer: 8 x the
   one-machine median (what one-by-one creation would take).
3. The base image build (goal < 2 min). Peer: a bare `debootstrap --variant=minbase` of
   the same suite from the same mirror (what any Debian rootfs costs).
4. The set-up playbook's second run (goal < 5 s). Peer: `ansible-playbook` of a
   one-task no-op play on localhost (Ansible's own start-up).

Runs in a temporary state root and a free subnet of 198.18.100-249.0/24, never touching the
shared local clouds; the machine figures use the cached base image.

    python benchmarks/bench_local.py [--runs 5] [--image-runs 1] [--skip-image]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
# conftest makes the tree importable as ansible_collections.slipway.cloud
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from support.collection import ansible_command, ansible_env, collection_root  # noqa: E402
from support.local_cloud import (  # noqa: E402
    IsolatedCloud, TEST_SSH_GROUP, free_subnet, host_can_run_local_machines,
)

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import host, image  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import (  # noqa: E402
    resolve_images, resolve_root,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import Placement  # noqa: E402


def median(values):
    return statistics.median(values) if values else float("nan")


def make_key(directory):
    path = os.path.join(directory, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(path + ".pub") as handle:
        return path, handle.read().strip()


def machines_bench(iso, runs):
    provider = iso.provider()
    placement = Placement(cloud=iso.cloud, image="debian-12", image_id="debian-12", image_lookup=None,
                          login_user="root", flavor="Micro", cpu=1, ram_gb=0.5, security_groups=(TEST_SSH_GROUP,))
    single, boot, parallel = [], [], []
    for run in range(runs):
        started = time.time()
        machines = provider.create_machines(placement, ["bench-%d" % run], iso.public_key, {})
        (machine,) = provider.wait_machines(machines, "ssh", 120)
        single.append(time.time() - started)
        boot.append(machine.timings["ssh_ready_at"] - machine.timings["running_at"])
        provider.destroy_machines(machines)
    for run in range(max(1, runs // 2)):
        started = time.time()
        machines = provider.create_machines(placement, ["par-%d-%d" % (run, i) for i in range(8)], iso.public_key, {})
        provider.wait_machines(machines, "ssh", 300)
        parallel.append(time.time() - started)
        provider.destroy_machines(machines)
    return single, boot, parallel


def image_bench(runs):
    built, bare = [], []
    spec = image.image_spec()
    mirror = [uri for uri, release in spec["mirrors"] if release == spec["suite"]][0]
    for _run in range(runs):
        scratch = tempfile.mkdtemp(prefix="slipway-bench-image-")
        try:
            started = time.time()
            image.ensure_image(scratch, spec, force=True)
            built.append(time.time() - started)
            started = time.time()
            host.run(["debootstrap", "--variant=minbase", spec["suite"], os.path.join(scratch, "bare"), mirror],
                     timeout=1800)
            bare.append(time.time() - started)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return built, bare


def playbook_bench(root, images, runs):
    definitions = json.dumps([{"name": "local-bench", "subnet": free_subnet(200, 250)}])
    command = ansible_command("ansible-playbook", os.path.join(collection_root(), "playbooks", "local_cloud.yml"),
                              "-e", "local_cloud_root=%s local_cloud_images=%s" % (root, images),
                              "-e", '{"local_cloud_definitions": %s}' % definitions)
    os.makedirs(root, exist_ok=True)
    noop = os.path.join(root, "noop.yml")
    with open(noop, "w") as handle:
        handle.write("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
                     "    - ansible.builtin.debug:\n        msg: noop\n")
    env = ansible_env()

    def timed(argv):
        started = time.time()
        result = subprocess.run(argv, env=env, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        if result.returncode != 0:
            raise SystemExit("playbook failed:\n" + result.stdout[-3000:])
        return time.time() - started, result.stdout

    timed(command)        # the first run sets up
    second, peer = [], []
    try:
        for _run in range(runs):
            seconds, output = timed(command)
            if "changed=0" not in output:
                raise SystemExit("the second run changed something:\n" + output[-3000:])
            second.append(seconds)
            peer.append(timed(ansible_command("ansible-playbook", noop))[0])
    finally:
        subprocess.run(command + ["-e", "local_cloud_state=absent"], env=env, check=False, stdout=subprocess.DEVNULL)
    return second, peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image-runs", type=int, default=1)
    parser.add_argument("--skip-image", action="store_true", help="skip the base image build (a minute or more)")
    args = parser.parse_args()
    reason = host_can_run_local_machines()
    if reason:
        print("bench_local: skipped: %s" % reason)
        return 0
    images = resolve_images(resolve_root(None))
    scratch = tempfile.mkdtemp(prefix="slipway-bench-local-")
    figures = {}
    try:
        key_path, public_key = make_key(scratch)
        iso = IsolatedCloud(os.path.join(scratch, "root"), images, key_path, public_key)
        iso.set_up()        # builds the cached image first if there is none
        try:
            single, boot, parallel = machines_bench(iso, args.runs)
        finally:
            iso.teardown()
        figures["create_to_ssh_one"] = {"median_s": median(single), "runs": single,
                                        "peer_boot_alone_s": median(boot)}
        figures["create_to_ssh_eight_parallel"] = {"median_s": median(parallel), "runs": parallel,
                                                   "peer_eight_times_one_s": 8 * median(single)}
        second, peer = playbook_bench(os.path.join(scratch, "playbook-root"), images, max(1, args.runs // 2 + 1))
        figures["setup_playbook_second_run"] = {"median_s": median(second), "runs": second,
                                                "peer_noop_playbook_s": median(peer)}
        if not args.skip_image and args.image_runs > 0:
            built, bare = image_bench(args.image_runs)
            figures["base_image_build"] = {"median_s": median(built), "runs": built,
                                           "peer_bare_debootstrap_s": median(bare)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = [
        ("create-to-SSH, one machine", "create_to_ssh_one", 2, "peer_boot_alone_s", "its boot alone"),
        ("8 machines in parallel, all SSH-ready", "create_to_ssh_eight_parallel", 6, "peer_eight_times_one_s",
         "8 x one machine"),
        ("base image build", "base_image_build", 120, "peer_bare_debootstrap_s", "bare debootstrap minbase"),
        ("set-up playbook, second run", "setup_playbook_second_run", 5, "peer_noop_playbook_s",
         "a no-op ansible-playbook"),
    ]
    print("local cloud (host: %d cpu, %.1f GiB; medians)"
          % (len(os.sched_getaffinity(0)), host.host_memory_bytes() / 1024 ** 3))
    for label, key, goal, peer_key, peer_label in rows:
        if key not in figures:
            print("  %-40s skipped" % label)
            continue
        value, peer = figures[key]["median_s"], figures[key][peer_key]
        print("  %-40s %7.2f s  goal < %3d s %-4s  %.2f x %s (%.2f s)"
              % (label, value, goal, "ok" if value < goal else "MISS", value / peer, peer_label, peer))
    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "local.json"), "w") as handle:
        json.dump(figures, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
