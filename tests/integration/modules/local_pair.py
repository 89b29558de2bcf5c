# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two local clouds of their own (temporary state root, their own /24s) for the module tests and benchmarks.

The base image cache is shared with the host's local clouds (built once); everything else
(bridges, nft table, machines, cgroups) lives and dies with the pair.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import random
import re
import shutil
import string
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


#: the /24s of 198.18.0.0/15 the pairs pick from (the shipped clouds and other tests use others)
CANDIDATE_SUBNETS = ["198.18.%d.0/24" % third for third in range(200, 240)]


def subnets_in_use():
    """The 198.18.x.0/24 networks already on a host interface."""
    output = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    used = set()
    for address in re.findall(r"inet (198\.1[89]\.\d+\.\d+/\d+)", output):
        used.add(str(ipaddress.ip_interface(address).network))
    return used


class LocalPair:
    """Two local clouds; without subnets given, two free /24s are picked (concurrent runs do not collide)."""

    def __init__(self, prefix, subnet_a=None, subnet_b=None, image="debian-12-it"):
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import resolve_images, resolve_root

        self.names = (prefix + "-a", prefix + "-b")
        self.fixed = subnet_a is not None and subnet_b is not None
        self.subnets = {self.names[0]: subnet_a, self.names[1]: subnet_b}
        self.image = image
        self.images = resolve_images(resolve_root(None))
        self.root = tempfile.mkdtemp(prefix="slipway-%s-" % prefix)
        self.state = None

    def _pick_subnets(self, skip):
        free = [s for s in CANDIDATE_SUBNETS if s not in subnets_in_use() and s not in skip]
        if len(free) < 2:
            raise RuntimeError("no two free /24s left among %s" % ", ".join(CANDIDATE_SUBNETS))
        start = random.randrange(0, len(free) - 1)
        self.subnets = {self.names[0]: free[start], self.names[1]: free[start + 1]}

    def layer(self, directory):
        """The catalog layer (a file in ``directory``) defining the pair and its image."""
        with open(os.path.join(HERE, "catalog", "local.yml"), encoding="utf-8") as handle:
            text = string.Template(handle.read()).substitute(
                cloud_a=self.names[0], cloud_b=self.names[1], subnet_a=self.subnets[self.names[0]],
                subnet_b=self.subnets[self.names[1]], root=self.root, images=self.images, image=self.image)
        path = os.path.join(directory, "local-%s.yml" % self.names[0])
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def set_up(self):
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import StateRoot

        from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

        self.state = StateRoot(self.root, self.images)
        tried = set()
        for attempt in range(5):
            if not self.fixed:
                self._pick_subnets(tried)
            try:
                definitions = [hostsetup.cloud_definition(name, self.subnets[name], None, self.state)
                               for name in self.names]
                hostsetup.ensure_host(self.state, definitions)
                return self
            except ProviderError as exc:
                # Another run took a subnet between our look and our set-up: undo, pick again.
                tried.update(self.subnets.values())
                self._undo()
                if self.fixed or "already on host interface" not in exc.msg or attempt == 4:
                    self.teardown()
                    raise
            except BaseException:
                self.teardown()          # a half set-up pair leaves nothing behind either
                raise
        return self

    def _undo(self):
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup

        hostsetup.teardown_host(self.state)

    def teardown(self):
        from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup

        try:
            if self.state is not None:
                hostsetup.teardown_host(self.state)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def why_not_local():
    """None, or why this host cannot run local machines."""
    from support.local_cloud import host_can_run_local_machines

    return host_can_run_local_machines()
