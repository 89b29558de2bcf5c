# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's state root: where every machine, cloud and group is recorded.

Layout (default root /var/lib/slipway/local, or $SLIPWAY_LOCAL_ROOT)::

    lock                      flock: one writer at a time for allocations and nft
    host.json                 daemons the set-up started (lxcfs, apt proxy)
    clouds/<cloud>.json       a set-up local cloud: subnet, bridge, gateway
    groups/<cloud>/<g>.json   a security group and its rules
    machines/<id>/record.json a machine and every host resource it owns
    apt-proxy/                the apt-cacher-ng instance (config, cache, logs)
    images/                   cached base images ($SLIPWAY_LOCAL_IMAGES may share one cache)

Host-wide names (nft table, cgroup parent) carry a hash of the root when it is not
the default, so a test root never touches the real set-up. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading

from ansible_collections.slipway.cloud.plugins.module_utils.local.host import read_text, write_text
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

DEFAULT_ROOT = "/var/lib/slipway/local"
ROOT_ENV = "SLIPWAY_LOCAL_ROOT"
IMAGES_ENV = "SLIPWAY_LOCAL_IMAGES"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Per thread: state roots whose lock this thread holds, and how deep.
_HELD = threading.local()


def resolve_root(option=None, environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(option or environ.get(ROOT_ENV) or DEFAULT_ROOT)


def resolve_images(root, option=None, environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(option or environ.get(IMAGES_ENV) or os.path.join(root, "images"))


class StateRoot:
    """Paths, lock and JSON records under one state root."""

    def __init__(self, root, images=None):
        self.root = os.path.abspath(root)
        self.images = os.path.abspath(images or os.path.join(self.root, "images"))
        if self.root == DEFAULT_ROOT:
            suffix = ""
        else:
            suffix = hashlib.sha1(self.root.encode("utf-8")).hexdigest()[:8]
        self.suffix = suffix
        self.nft_table = "slipway_local" + ("_" + suffix if suffix else "")
        self.cgroup_parent = "slipway" + ("-" + suffix if suffix else "")
        self.netns_prefix = "slw-"

    # -- paths ---------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def bridge_for(self, cloud_name, option=None):
        return option or default_bridge_name(cloud_name, self.suffix)

    def cloud_file(self, cloud):
        return self.path("clouds", safe_name(cloud) + ".json")

    def group_dir(self, cloud):
        return self.path("groups", safe_name(cloud))

    def group_file(self, cloud, group):
        return os.path.join(self.group_dir(cloud), hashlib.sha1(group.encode("utf-8")).hexdigest()[:16] + ".json")

    def machine_dir(self, machine_id):
        return self.path("machines", machine_id)

    def machine_file(self, machine_id):
        return os.path.join(self.machine_dir(machine_id), "record.json")

    # -- lock ----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self):
        """Exclusive lock for allocation, nft updates and teardown: parallel processes serialise here.

        Re-entrant within one thread (a teardown holds it while destroying machines, which take it too).
        """
        held = getattr(_HELD, "roots", None)
        if held is None:
            held = _HELD.roots = {}
        if held.get(self.root):
            held[self.root] += 1
            try:
                yield
            finally:
                held[self.root] -= 1
            return
        os.makedirs(self.root, exist_ok=True)
        with open(self.path("lock"), "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            held[self.root] = 1
            try:
                yield
            finally:
                held[self.root] = 0
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- records -------------------------------------------------------------
    def load(self, path, default=None):
        text = read_text(path)
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError:
            return default

    def save(self, path, data):
        write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode=0o600)

    def host(self):
        return self.load(self.path("host.json"), {}) or {}

    def save_host(self, data):
        self.save(self.path("host.json"), data)

    def _named_records(self, directory):
        """{record["name"]: record} of the JSON records in ``directory``, by file name."""
        found = {}
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                if name.endswith(".json"):
                    data = self.load(os.path.join(directory, name))
                    if data:
                        found[data["name"]] = data
        return found

    def clouds(self):
        return self._named_records(self.path("clouds"))

    def cloud(self, name):
        return self.load(self.cloud_file(name))

    def machines(self, cloud=None):
        directory = self.path("machines")
        found = []
        if os.path.isdir(directory):
            for machine_id in sorted(os.listdir(directory)):
                record = self.load(self.machine_file(machine_id))
                if record and (cloud is None or record.get("cloud") == cloud):
                    found.append(record)
        return found

    def machine(self, machine_id):
        return self.load(self.machine_file(machine_id))

    def save_machine(self, record):
        """Update a machine's record; never brings back one whose directory destroy removed."""
        if not os.path.isdir(self.machine_dir(record["id"])):
            raise ProviderError("local machine %s (%s) no longer exists" % (record.get("name"), record["id"]),
                                id=record["id"])
        self.save(self.machine_file(record["id"]), record)

    def groups(self, cloud):
        return self._named_records(self.group_dir(cloud))

    def remove_tree(self, path):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)


def safe_name(name):
    """A file-name-safe spelling of a cloud name; distinct names stay distinct."""
    cleaned = _SAFE.sub("_", name)
    if cleaned != name:
        cleaned += "-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return cleaned


def default_bridge_name(cloud_name, root_suffix=""):
    """Linux interface names have at most 15 characters: "slw-" + the name, or a hash.

    A non-default state root hashes its suffix in, so its bridges never clash with
    the default root's bridges of the same cloud name.
    """
    candidate = "slw-" + re.sub(r"[^a-z0-9-]", "", cloud_name.lower())
    if not root_suffix and len(candidate) <= 15 and candidate != "slw-":
        return candidate
    return "slw" + hashlib.sha1((root_suffix + "/" + cloud_name).encode("utf-8")).hexdigest()[:12]
