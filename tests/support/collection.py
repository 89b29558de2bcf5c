# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run real `ansible`, `ansible-playbook`, `ansible-doc` against this checkout.

Ansible finds a collection only under .../ansible_collections/<namespace>/<name>.
When the checkout already sits at such a path (make test's copy), it is used as is;
otherwise the tree is copied once per process into a temporary
ansible_collections/slipway/cloud (removed at exit).

    from support.collection import ansible_env, ansible_command
    subprocess.run(ansible_command("ansible", "localhost", "-m", "slipway.cloud.image_info"),
                   env=ansible_env(), ...)
"""

import atexit
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "tests/output", "output", "__pycache__",
                                 "*.pyc", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache",
                                 "*.tar.gz", ".cache")
_state = {}


def collections_path():
    """A directory holding ansible_collections/slipway/cloud with this checkout's files."""
    if "path" in _state:
        return _state["path"]
    parts = ROOT.split(os.sep)
    if parts[-3:-2] == ["ansible_collections"] and parts[-2:] == ["slipway", "cloud"]:
        path = os.sep.join(parts[:-3]) or os.sep
    else:
        path = tempfile.mkdtemp(prefix="slipway-collection-")
        atexit.register(shutil.rmtree, path, True)
        shutil.copytree(ROOT, os.path.join(path, "ansible_collections", "slipway", "cloud"),
                        ignore=_IGNORE, symlinks=True)
    _state["path"] = path
    return path


def collection_root():
    """The ansible_collections/slipway/cloud directory Ansible will load."""
    return os.path.join(collections_path(), "ansible_collections", "slipway", "cloud")


def ansible_env(**extra):
    """os.environ for a child ansible process: this collection first, quiet, no colour."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
    })
    env.pop("SLIPWAY_CATALOG", None)
    env["SLIPWAY_CATALOG_CACHE"] = _parse_cache()
    env.update({key: str(value) for key, value in extra.items()})
    return env


def _parse_cache():
    """A private catalog parse cache for this test process (removed at exit), not ~/.cache."""
    if "cache" not in _state:
        _state["cache"] = tempfile.mkdtemp(prefix="slipway-parse-cache-")
        atexit.register(shutil.rmtree, _state["cache"], True)
    return _state["cache"]


def ansible_command(tool, *args):
    """[path of `tool` beside this Python (the venv's), *args]."""
    candidate = os.path.join(os.path.dirname(sys.executable), tool)
    return [candidate if os.path.exists(candidate) else tool] + list(args)
