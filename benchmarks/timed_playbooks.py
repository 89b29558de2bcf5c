# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the playbook benchmarks share: whole `ansible-playbook` processes on localhost, timed, and the
median of rounds. Not a benchmark itself (make bench runs bench_*.py)."""

from __future__ import absolute_import, division, print_function

import os
import statistics
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from support.collection import ansible_command, ansible_env  # noqa: E402


def median(values):
    return statistics.median(values) if values else float("nan")


class Runner:
    """Runs one play of ``tasks`` on localhost with the catalog ``layers`` and ``environ``; returns
    (seconds, stdout) and raises with the output's tail when the play fails."""

    def __init__(self, workdir, layers, environ, timeout=3600):
        self.workdir = workdir
        self.layers = layers
        self.environ = environ
        self.timeout = timeout

    def playbook(self, tasks, name):
        path = os.path.join(self.workdir, name + ".yml")
        play = [{"hosts": "localhost", "gather_facts": False,
                 "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]
        with open(path, "w") as handle:
            yaml.safe_dump(play, handle, sort_keys=False)
        env = ansible_env(SLIPWAY_CATALOG=os.pathsep.join(self.layers), **self.environ)
        started = time.perf_counter()
        process = subprocess.run(ansible_command("ansible-playbook", "-i", "localhost,", "-c", "local", path),
                                 env=env, capture_output=True, text=True, check=False, timeout=self.timeout)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError("%s failed (rc %d):\n%s\n%s"
                               % (name, process.returncode, process.stdout[-4000:], process.stderr[-2000:]))
        return seconds, process.stdout


def print_steps(figures, steps=("create", "rerun", "destroy"), goal=0.5):
    """One line per step: the medians of slipway and of its peer, their ratio, and whether the goal holds."""
    print("  %-10s %10s %10s %8s %8s" % ("step", "slipway s", "peer s", "ratio", "goal"))
    for step in steps:
        ours, peer = median(figures["slipway " + step]), median(figures["peer " + step])
        ratio = ours / peer
        print("  %-10s %10.2f %10.2f %7.2fx %8s%s" % (step, ours, peer, ratio, "<=%.1fx" % goal,
                                                      "" if ratio <= goal else "  (missed)"))
