# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider for family ``local``: real machines on this host, through libcloud.

The machines are made by the ``slipway_local`` libcloud NodeDriver
(module_utils/local/driver.py); this adapter turns its Nodes into Machines and
speaks the Provider interface. Cloud options: ``subnet`` (a /24 of
198.18.0.0/15, required), ``bridge`` (interface name), ``root`` (state root,
else $SLIPWAY_LOCAL_ROOT, else /var/lib/slipway/local), ``images`` (base image
cache, else $SLIPWAY_LOCAL_IMAGES, else <root>/images). No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG, IMAGE_TAG, Machine, ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import Provider, register
from ansible_collections.slipway.cloud.plugins.module_utils.providers.libcloud_compat import require_libcloud
from ansible_collections.slipway.cloud.plugins.module_utils.rules import canonical

DEFAULT_WAIT = 300.0


class LocalProvider(Provider):
    """Local clouds: systemd-nspawn machines on a host bridge, nftables security groups."""

    family = "local"
    capabilities = frozenset(("security_groups", "stop_start", "reboot", "host_keys"))

    def __init__(self, cloud, environ=None):
        super(LocalProvider, self).__init__(cloud, environ)
        require_libcloud()
        from libcloud.compute.providers import get_driver
        from ansible_collections.slipway.cloud.plugins.module_utils.local import driver as local_driver

        local_driver.register()
        environ = os.environ if environ is None else environ
        self.driver = get_driver(local_driver.DRIVER_NAME)(
            cloud.name,
            ex_subnet=cloud.option("subnet"), ex_bridge=cloud.option("bridge"),
            ex_root=cloud.option("root"), ex_images=cloud.option("images"),
            ex_flavors=[(f.name, f.cpu, f.ram_gb) for f in cloud.flavors], ex_environ=environ)

    # -- conversion -------------------------------------------------------------
    def _machine(self, node):
        extra = node.extra
        tags = dict(extra.get("tags") or {})
        return Machine(
            cloud=self.cloud.name, name=node.name, id=node.id, state=extra["status"],
            image=tags.get(IMAGE_TAG) or extra.get("image"), image_id=extra.get("image"),
            flavor=extra.get("flavor"), cpu=extra.get("cpu"), ram_gb=extra.get("ram_gb"),
            login_user=extra.get("login_user"), public_ip=None,
            private_ip=node.private_ips[0] if node.private_ips else None,
            deployment=tags.get(DEPLOYMENT_TAG), tags=tags, host_keys=list(extra.get("host_keys") or ()),
            timings=dict(extra.get("timings") or {}))

    def _nodes(self, machines):
        wanted = [m.id if isinstance(m, Machine) else str(m) for m in machines]
        nodes = {n.id: n for n in self.driver.list_nodes()}
        return [nodes[i] for i in wanted if i in nodes]

    # -- machines -----------------------------------------------------------------
    def list_machines(self):
        return [self._machine(n) for n in self.driver.list_nodes()]

    def create_machines(self, placement, names, ssh_public_key, tags):
        from libcloud.compute.base import NodeAuthSSHKey

        if not placement.flavor:
            raise ProviderError("local cloud %s sizes machines by its flavor table; the placement has no flavor"
                                % self.cloud.name, cloud=self.cloud.name)
        nodes = self.driver.ex_create_nodes(
            list(names), placement.flavor, placement.image_id or "debian-12", NodeAuthSSHKey(ssh_public_key),
            ex_login_user=placement.login_user or "root", ex_tags=dict(tags or {}),
            ex_security_groups=list(placement.security_groups),
            # A cloud declared without security groups has no host-side firewall either.
            ex_cloud_firewall=self.cloud.security_groups)
        return [self._machine(n) for n in nodes]

    def destroy_machines(self, machines):
        for node in self._nodes(machines):
            self.driver.destroy_node(node)

    def start_machines(self, machines):
        for node in self._nodes(machines):
            self.driver.start_node(node)

    def stop_machines(self, machines):
        for node in self._nodes(machines):
            self.driver.stop_node(node)

    def reboot_machines(self, machines):
        for node in self._nodes(machines):
            self.driver.reboot_node(node)

    def wait_machines(self, machines, until, timeout):
        nodes = self._nodes(machines)
        missing = sorted(set(m.id if isinstance(m, Machine) else str(m) for m in machines) - set(n.id for n in nodes))
        if missing:
            raise ProviderError("local cloud %s has no machines %s" % (self.cloud.name, ", ".join(missing)),
                                cloud=self.cloud.name, ids=missing)
        return [self._machine(n) for n in self.driver.ex_wait_nodes(nodes, until, timeout or DEFAULT_WAIT)]

    # -- security groups ---------------------------------------------------------------
    def list_security_groups(self):
        return {g.name: list(canonical(g.rules)) for g in self.driver.ex_list_security_groups()}

    def ensure_security_group(self, name, description, rules, purge_rules=True, check_mode=False):
        current = self.driver.ex_get_security_group(name)
        before = list(canonical(current.rules)) if current else None
        wanted = canonical(tuple(rules or ()) + (() if purge_rules or current is None else tuple(current.rules)))
        changed = current is None or tuple(before) != wanted or \
            (description is not None and current.description != description)
        if changed and not check_mode:
            self.driver.ex_set_security_group(name, description if description is not None else
                                              (current.description if current else ""), list(wanted))
        return {"changed": changed, "before": before, "after": list(wanted)}

    def delete_security_group(self, name, check_mode=False):
        current = self.driver.ex_get_security_group(name)
        if current is None:
            return {"changed": False, "before": None, "after": None}
        if not check_mode:
            self.driver.ex_delete_security_group(name)
        return {"changed": True, "before": list(canonical(current.rules)), "after": None}


register("local", LocalProvider)
