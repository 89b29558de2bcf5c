# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Empty databases of the services, migrated once and copied into every new cloud.

Migrating the schemas is most of a cloud's start: ten ``*-manage`` processes that each import a
whole service. Their result does not depend on the session (no ports, no passwords: keystone's
bootstrap and the seed run on every start, and the one session-specific value, the databases'
paths in Nova's cell mappings, is rewritten after the copy), so the first start of a venv and
template set keeps a copy under the tooling cache, ``openstack-schemas-<hash>``, and later starts
copy those files: every cloud still begins with databases nothing has used.

The hash covers the services' venv (constraints and interpreter), the templates and the schema
script; two sessions building at once both build, and the first to publish wins.
"""

import hashlib
import os
import shutil
import tempfile
import time

from .config import HERE, TEMPLATES
from .install import cache_dir

PREFIX = "openstack-schemas-"
STAMP = ".slipway-complete"
#: bump when the set-up steps change in a way the hashed files do not show
RECIPE = "1"
KEEP = 4


def schema_key(venv_path):
    digest = hashlib.sha256(("%s\n%s\n" % (RECIPE, os.path.basename(venv_path))).encode())
    sources = [os.path.join(TEMPLATES, name) for name in sorted(os.listdir(TEMPLATES))]
    sources.append(os.path.join(HERE, "service_side", "neutron_schema.py"))
    for path in sources:
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()[:16]


class SchemaCache:
    """The migrated databases for one key: ``restore()`` them, or ``store()`` each and ``publish()``."""

    def __init__(self, venv_path, root=None):
        self.root = root or cache_dir()
        self.path = os.path.join(self.root, PREFIX + schema_key(venv_path))
        self.hit = os.path.exists(os.path.join(self.path, STAMP))
        self._staging = None

    def restore(self, names, data_dir):
        """Copy the databases ``names`` (file names without .db) into ``data_dir``; False on a miss."""
        if not self.hit:
            return False
        for name in names:
            shutil.copyfile(os.path.join(self.path, name + ".db"), os.path.join(data_dir, name + ".db"))
        return True

    def store(self, names, data_dir):
        """Keep a copy of freshly migrated databases (before any service has opened them)."""
        if self.hit:
            return
        if self._staging is None:
            os.makedirs(self.root, exist_ok=True)
            self._staging = tempfile.mkdtemp(prefix=PREFIX + "building-", dir=self.root)
        for name in names:
            shutil.copyfile(os.path.join(data_dir, name + ".db"), os.path.join(self._staging, name + ".db"))

    def publish(self):
        """Make the stored copies the cache (unless another session was first); prune old keys."""
        if self._staging is None:
            return
        with open(os.path.join(self._staging, STAMP), "w") as handle:
            handle.write("migrated %s\n" % time.strftime("%Y-%m-%d %H:%M:%S"))
        try:
            os.rename(self._staging, self.path)
        except OSError:
            shutil.rmtree(self._staging, ignore_errors=True)        # another session published first
        self._staging = None
        self._prune()

    def discard(self):
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def _prune(self):
        """Keep the KEEP most recently published keys (other checkouts may use theirs)."""
        published = []
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            stamp = os.path.join(path, STAMP)
            if name.startswith(PREFIX + "building-") and time.time() - os.path.getmtime(path) > 3600:
                shutil.rmtree(path, ignore_errors=True)              # left by a session killed mid-build
            elif name.startswith(PREFIX) and os.path.exists(stamp):
                published.append((os.path.getmtime(stamp), path))
        for _mtime, path in sorted(published, reverse=True)[KEEP:]:
            if path != self.path:
                shutil.rmtree(path, ignore_errors=True)
