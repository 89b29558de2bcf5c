# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's state root: where every machine, cloud and group is recorded.

Layout (default root /var/lib/slipway/local, or $SLIPWAY_LOCAL_ROOT)::

    lock                      flock: one writer at a time for allocations and nft (0600, bounded wait)
    host.json                 daemons the set-up started (lxcfs, apt proxy)
    clouds/<cloud>.json       a set-up local cloud: subnet, bridge, gateway
    groups/<cloud>/<g>.json   a security group and its rules
    machines/<id>/record.json a machine and every host resource it owns
    apt-proxy/                the apt-cacher-ng instance (config, cache, logs)
    images/                   cached base images ($SLIPWAY_LOCAL_IMAGES may share one cache)

Host-wide names (nft table, cgroup parent) carry a hash of the root when it is not
the default, so a test root never touches the real set-up. The root is trusted only when
this user or root owns it and nobody else may write it (local/trust.py); nothing is removed
outside it, nor the root itself. No Ansible imports.
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

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostlock, trust
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.host import read_text, write_text
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

DEFAULT_ROOT = "/var/lib/slipway/local"
ROOT_ENV = "SLIPWAY_LOCAL_ROOT"
IMAGES_ENV = "SLIPWAY_LOCAL_IMAGES"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: the catalog's cloud-name rule, anchored: what a local cloud's records and paths are named after
CLOUD_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
# Per thread: state roots whose lock this thread holds, and how deep.
_HELD = threading.local()


def resolve_root(option=None, environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(option or environ.get(ROOT_ENV) or DEFAULT_ROOT)


def resolve_images(root, option=None, environ=None):
    environ = os.environ if environ is None else environ
    return os.path.abspath(option or environ.get(IMAGES_ENV) or os.path.join(root, "images"))


def check_cloud_name(name, key="name"):
    """``name`` if it is a valid local cloud name (the catalog's rule, never '.' or '..'), else one clear error.

    Local clouds' records, group directories and bridges are named after it, so it is checked before any path
    is built. (To become a call of the shared ids check of module_utils/names.py.)
    """
    if not isinstance(name, str) or name in (".", "..") or not CLOUD_NAME_RE.match(name):
        raise ProviderError("local cloud name %s is not valid (%s): use 1-63 letters, digits, '.', '_' or '-', "
                            "starting with a letter or digit" % (excerpt(name), key), key=key, valid=CLOUD_NAME_RE.pattern)
    return name


class StateRoot:
    """Paths, lock and JSON records under one state root."""

    def __init__(self, root, images=None, lock_timeout=None):
        self.root = os.path.abspath(root)
        self.lock_timeout = hostlock.resolve_timeout(lock_timeout)
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
        return self.path("clouds", safe_name(check_cloud_name(cloud)) + ".json")

    def group_dir(self, cloud):
        return self.path("groups", safe_name(check_cloud_name(cloud)))

    # -- trust ---------------------------------------------------------------
    def check_trusted(self):
        """Refuse a state root or image cache another user owns or others may write (finding 8 of issue 18)."""
        trust.check_trusted_dir(self.root, "state root", "root")
        trust.check_trusted_dir(self.images, "image cache", "images")

    def ensure_dirs(self):
        """Make (or tighten) the root 0700 and the image cache 0755, after the trust check. True if changed."""
        changed = trust.ensure_dir(self.root, trust.ROOT_MODE, "state root", "root")
        return trust.ensure_dir(self.images, trust.IMAGES_MODE, "image cache", "images") or changed

    def inside(self, path):
        """True when ``path`` lies strictly inside the root (after symlinks), never the root itself."""
        root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        return real != root and os.path.commonpath([root, real]) == root

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
        self.check_trusted()
        if not os.path.isdir(self.root):
            os.makedirs(self.root, mode=trust.ROOT_MODE, exist_ok=True)
        fd = hostlock.open_lock_file(self.path("lock"))
        try:
            hostlock.acquire(fd, self.path("lock"), self.lock_timeout)
            held[self.root] = 1
            try:
                yield
            finally:
                held[self.root] = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

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
                    if isinstance(data, dict) and isinstance(data.get("name"), str):
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

    def remove_inside(self, path):
        """Remove a file or tree strictly inside the root (or the image cache itself); anything else is refused.

        What teardown removes goes through here: never the root, never a path outside it.
        """
        images = os.path.realpath(self.images)
        purgeable = (os.path.realpath(path) == images and images != "/"
                     and os.path.commonpath([images, os.path.realpath(self.root)]) != images)
        if not self.inside(path) and not purgeable:
            raise ProviderError("refusing to remove %s: it is not inside the local cloud's state root %s"
                                % (path, self.root), path=path)
        self.remove_tree(path)

    def remove_tree(self, path):
        """Remove a file or tree (a symlink itself, never what it points to)."""
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
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
