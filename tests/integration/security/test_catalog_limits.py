# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, findings 5 and 8 through a real `ansible localhost -m slipway.cloud.image_info`: an alias bomb in a
layer and a layer directory others can write each fail the task with one clear error.

Every run is bounded (1 GiB of address space per process, 300 s), so a regression fails the test instead of
eating the machine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import resource
import subprocess
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
from support.collection import ansible_command, ansible_env  # noqa: E402  pylint: disable=wrong-import-position

MEMORY_LIMIT = 1024 ** 3
CLOUD = "clouds:\n  c:\n    provider: local\n    flavors: {S: {cpu: 1, ram_gb: 1}}\n"
IMAGE = "images:\n  i:\n    login_user: u\n    size: {flavor: S}\n    clouds:\n      c: {image_id: x}\n"


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def image_info(layer):
    """`ansible localhost -m slipway.cloud.image_info` on catalog ``layer``, bounded: (returncode, output)."""
    args = json.dumps({"image": "i", "cloud": "c", "catalog": [str(layer)]})
    proc = subprocess.run(ansible_command("ansible", "localhost", "-m", "slipway.cloud.image_info", "-a", args),
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, preexec_fn=_limit_memory, check=False)
    return proc.returncode, proc.stdout


def layer_dir(tmp_path, text):
    directory = tmp_path / "layer"
    directory.mkdir(mode=0o755)
    os.chmod(str(directory), 0o755)
    (directory / "a.yml").write_text(text)
    os.chmod(str(directory / "a.yml"), 0o644)
    return directory


def test_an_alias_bomb_fails_the_task_with_the_limit(tmp_path):
    """issue 18, finding 5: a 1 KB "billion laughs" under a cloud's options is one clear error naming the file."""
    lines = [CLOUD.rstrip("\n"), "    options:", '      l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append("      l%d: &l%d [%s]" % (level, level, ", ".join(["*l%d" % (level - 1)] * 7)))
    directory = layer_dir(tmp_path, IMAGE + "\n".join(lines) + "\n")
    code, output = image_info(directory)
    assert code != 0, output
    assert "%s:" % (directory / "a.yml") in output and "aliases would expand this file by more than 100000 nodes" \
        in output, output
    assert "MemoryError" not in output and "unexpected error" not in output


def test_a_layer_directory_others_can_write_fails_the_task(tmp_path):
    """issue 18, finding 8: a world-writable layer directory is refused, naming it and why."""
    directory = layer_dir(tmp_path, CLOUD + IMAGE)
    code, output = image_info(directory)
    assert code == 0, output
    os.chmod(str(directory), 0o777)
    code, output = image_info(directory)
    assert code != 0, output
    assert "catalog layer %s is writable by its group and others (mode 0777)" % directory in output, output
