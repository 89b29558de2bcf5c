# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog figures, each beside a peer measured in the same run.

1. A generated catalog of 10,000 images (parent chains 5 deep) on 10 clouds:
   load (parse + validate + index) and resolve every image on every cloud, in seconds
   (goal: resolving under 1 s on a 2-core machine). Peer: PyYAML's own C loader reading
   the same files, with no validation, line numbers or resolution.
2. One `slipway.cloud.image_info` call's wall time beside `ansible.builtin.ping`'s,
   both as `ansible localhost -m ...` (goal: under 1.2x).

    python benchmarks/bench_catalog.py [--images 10000] [--clouds 10] [--runs 5]
"""

from __future__ import absolute_import, division, print_function

import argparse
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
# conftest makes the checkout importable as ansible_collections.slipway.cloud
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from support.collection import ansible_command, ansible_env  # noqa: E402  pylint: disable=wrong-import-position

import yaml  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import layer_files  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.validation import validate_document  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.yaml_reader import read_yaml  # noqa: E402

FLAVORS = [(1, 0.5), (1, 1), (2, 2), (2, 4), (4, 8), (4, 16), (8, 32)]
DEPTH = 5
FILES = 10


def generate(directory, images, clouds):
    """Write a catalog: clouds.yml plus FILES image files; image i derives from i-1 within each chain of 5."""
    names = ["cloud-%02d" % n for n in range(clouds)]
    lines = ["clouds:"]
    for index, name in enumerate(names):
        lines.append("  %s:\n    provider: local\n    flavors:" % name)
        for f, (cpu, ram) in enumerate(FLAVORS):
            lines.append("      f%d: {cpu: %s, ram_gb: %s, price: %s}" % (f, cpu, ram, 0.01 * (f + 1) + index))
    lines.append("security_groups:\n  ssh:\n    rules:\n      - {proto: tcp, ports: 22, source: 0.0.0.0/0}\n"
                 "    image_ports: true")
    with open(os.path.join(directory, "00-clouds.yml"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    per_file = (images + FILES - 1) // FILES
    for part in range(FILES):
        lines = ["images:"]
        for i in range(part * per_file, min(images, (part + 1) * per_file)):
            level = i % DEPTH
            lines.append("  img-%05d:" % i)
            if level == 0:
                lines.append("    description: root image %d\n    os: debian\n    login_user: debian\n"
                             "    size: {cpu: 1, ram_gb: 1}\n    security_groups: [ssh]\n    clouds:" % i)
                for name in names:
                    lines.append("      %s: {image_id: img-%05d-%s}" % (name, i, name))
            else:
                lines.append("    parent: img-%05d" % (i - 1))
                if level == 1:
                    lines.append("    ports: [80]")
                elif level == 2:
                    lines.append("    clouds:\n      %s: {size: {cpu: 2, ram_gb: 4}, login_user: admin}"
                                 % names[i % clouds])
                elif level == 3:
                    lines.append("    size: {cpu: 2, ram_gb: 2}")
                else:
                    lines.append("    description: leaf %d" % i)
        with open(os.path.join(directory, "images-%02d.yml" % part), "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return names


def timed(fn):
    """(wall seconds, cpu seconds of this process, value): CPU time is what other load on the machine distorts least."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def bench_catalog(images, clouds):
    directory = tempfile.mkdtemp(prefix="slipway-bench-")
    cache = os.path.join(directory, "cache")
    layer = os.path.join(directory, "layer")
    os.mkdir(layer)
    try:
        names = generate(layer, images, clouds)
        files = layer_files(layer)
        size = sum(os.path.getsize(f) for f in files)

        def peer():
            for path in files:
                with open(path, "rb") as handle:
                    yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

        def parse_only():
            return [read_yaml(path) for path in files]

        def validate_only(docs):
            for path, doc in zip(files, docs):
                validate_document(doc, path)

        def resolve_all(catalog):
            count = 0
            for image in catalog.images:
                for cloud in names:
                    catalog.resolve(image, cloud)
                    count += 1
            return count

        rows = []
        peer_w, peer_c, unused = timed(peer)
        parse_w, parse_c, docs = timed(parse_only)
        valid_w, valid_c, unused = timed(lambda: validate_only(docs))
        cold_w, cold_c, unused = timed(lambda: load_catalog([layer], cache=cache))
        warm_w, warm_c, catalog = timed(lambda: load_catalog([layer], cache=cache))
        loop_w, loop_c, count = timed(lambda: resolve_all(catalog))
        again_w, again_c, unused = timed(lambda: resolve_all(catalog))
        fresh = load_catalog([layer], cache=cache)
        res_w, res_c, placements = timed(fresh.resolve_all)
        assert len(placements) == count
        sample = catalog.resolve("img-00002", names[2])
        assert sample.flavor == "f3" and sample.login_user == "admin", sample   # the generated overrides apply

        print("catalog: %d images (parent chains %d deep) on %d clouds, %d files, %.1f MB of YAML, libyaml %s"
              % (images, DEPTH, clouds, len(files), size / 1e6, "yes" if yaml.__with_libyaml__ else "no"))
        print("  %-58s %8s %8s" % ("", "wall s", "cpu s"))
        rows = [
            ("resolve every image on every cloud: Catalog.resolve_all()", res_w, res_c),
            ("  the same by %d resolve() calls in a loop" % count, loop_w, loop_c),
            ("  the loop again (placements cached)", again_w, again_c),
            ("load, parse cache warm (the usual case)", warm_w, warm_c),
            ("load, cold (parse + validate + index + write cache)", cold_w, cold_c),
            ("  parse with line numbers alone", parse_w, parse_c),
            ("  schema validation alone", valid_w, valid_c),
            ("peer: PyYAML's C loader alone, same files", peer_w, peer_c),
        ]
        for label, wall, cpu in rows:
            print("  %-58s %8.3f %8.3f" % (label, wall, cpu))
        print("  resolve all %d placements: %.3f s cpu, %.1f us each (goal: < 1 s)" % (count, res_c, res_c / count * 1e6))
        print("  warm load + resolve all: %.3f s cpu;  cold load / peer: %.2fx;  warm load / peer: %.2fx"
              % (warm_c + res_c, cold_c / peer_c, warm_c / peer_c))
        print("  machine load average during the run: %.2f (2 cores; other work inflates wall time)" % os.getloadavg()[0])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def bench_module(runs):
    env = ansible_env()
    commands = {
        "ansible.builtin.ping": ansible_command("ansible", "localhost", "-m", "ansible.builtin.ping"),
        "slipway.cloud.image_info": ansible_command("ansible", "localhost", "-m", "slipway.cloud.image_info",
                                                    "-a", "image=debian-12"),
    }
    times = {name: [] for name in commands}
    for name, command in commands.items():     # warm-up: caches, .pyc files
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    for unused in range(runs):                      # interleaved so drift hits both alike
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    ping, info = (statistics.median(times[n]) for n in commands)
    print("module: `ansible localhost -m ...`, median of %d interleaved runs" % runs)
    print("  ansible.builtin.ping:      %.3f s" % ping)
    print("  slipway.cloud.image_info:  %.3f s  (all 6 clouds of the shipped catalog)" % info)
    print("  image_info / ping: %.2fx  (goal < 1.2x)" % (info / ping))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--clouds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-module", action="store_true")
    args = parser.parse_args()
    bench_catalog(args.images, args.clouds)
    if not args.skip_module:
        bench_module(args.runs)


if __name__ == "__main__":
    main()
