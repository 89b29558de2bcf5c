# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provider for family ``local``: real machines on this host (module_utils/local_cloud/).

The primitives read and write the local cloud's records directly (local/machines.py for machines,
local/groups.py for security groups); the algorithms are the base's. Cloud options: ``subnet`` (a /24
of 198.18.0.0/15, required), ``bridge`` (interface name), ``root`` (state root, else
$SLIPWAY_LOCAL_ROOT, else /var/lib/slipway/local), ``images`` (base image cache, else
$SLIPWAY_LOCAL_IMAGES, else <root>/images; both must belong to this user or root and be writable by
nobody else), ``machine_net_admin`` (true: machines keep CAP_NET_ADMIN over their own network namespace,
for a firewall inside them; false, the default: their root cannot change addresses, routes or nftables;
local/isolation.py). $SLIPWAY_LOCAL_LOCK_TIMEOUT bounds the wait for the host lock (300 s). No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import groups, hostsetup
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.machines import Machines
from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import StateRoot, resolve_images, resolve_root
from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG, IMAGE_TAG, Machine, ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import Provider, SecurityGroup
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import canonical


class LocalProvider(Provider):
    """Local clouds: systemd-nspawn machines on a host bridge, nftables security groups."""

    family = "local"
    capabilities = frozenset(("security_groups", "stop_start", "reboot", "host_keys"))
    OPTIONS = {"subnet": str, "bridge": str, "root": str, "images": str, "machine_net_admin": bool}
    # Machines boot in a fraction of a second and are probed on this host: poll often, briefly.
    POLL_INTERVALS = (0.05, 0.05)
    SSH_PROBE_TIMEOUT = 0.5
    MISSES_BEFORE_GONE = 1             # a record gone is a machine destroyed: no listing lag here
    SURVIVOR_RULE = False              # the host lock makes "is the name free?" and the create one step

    def __init__(self, cloud, environ=None):
        super(LocalProvider, self).__init__(cloud, environ)
        root = resolve_root(cloud.option("root"), self.environ)
        self.state = StateRoot(root, resolve_images(root, cloud.option("images"), self.environ))
        # Records and images are trusted only from a root nobody else may write (issue 18, finding 8).
        self.state.check_trusted()
        self.definition = hostsetup.cloud_definition(cloud.name, cloud.option("subnet"), cloud.option("bridge"),
                                                     self.state)
        self._machines = None

    @property
    def machines(self):
        # Built on first use: reading cgroup mounts is not needed for listings of groups.
        if self._machines is None:
            self._machines = Machines(self.state)
        return self._machines

    # -- machines -----------------------------------------------------------------
    def _machine(self, record):
        tags = dict(record.get("tags") or {})
        return Machine(
            cloud=self.cloud.name, name=record["name"], id=record["id"], state=self.machines.status(record),
            image=tags.get(IMAGE_TAG) or record.get("image"), image_id=record.get("image"),
            flavor=record.get("flavor"), cpu=record.get("cpu"), ram_gb=record.get("ram_gb"),
            login_user=record.get("login_user"), public_ip=None, private_ip=record.get("address"),
            deployment=tags.get(DEPLOYMENT_TAG), tags=tags, host_keys=list(record.get("host_keys") or ()),
            timings=dict(record.get("timings") or {}))

    def _records(self, machines):
        """The records of ``machines`` (Machines, or their ids) that still exist."""
        records = {r["id"]: r for r in self.machines.list(self.cloud.name)}
        ids = [m.id if isinstance(m, Machine) else str(m) for m in machines]
        return [records[i] for i in ids if i in records]

    def list_machines(self):
        return [self._machine(r) for r in self.machines.list(self.cloud.name)]

    def flavor(self, name):
        """The catalog flavor ``name`` of this cloud, or one clear error listing the valid ones."""
        flavor = self.cloud.flavor(name)
        if flavor is None:
            valid = [f.name for f in self.cloud.flavors]
            raise ProviderError("unknown flavor %r on local cloud %s; valid: %s"
                                % (name, self.cloud.name, ", ".join(valid) or "none"),
                                cloud=self.cloud.name, flavor=name, valid=valid)
        return flavor

    def launch(self, request):
        placement = request.placement
        if request.public_key is None:
            raise ProviderError("local machines need an SSH public key (ssh_public_key or ssh_public_key_file)",
                                cloud=self.cloud.name, option="ssh_public_key")
        flavor = self.flavor(placement.flavor)
        request.stamp()
        records = self.machines.create(
            self.definition, request.names, flavor.name, float(flavor.cpu), float(flavor.ram_gb),
            request.public_key.line, login_user=placement.login_user or "root", tags=request.tags,
            security_groups=list(placement.security_groups), image_name=placement.image_id,
            flavors=self.cloud.flavors,
            # A cloud declared without security groups has no host-side firewall either.
            cloud_firewall=self.cloud.security_groups,
            net_admin=bool(self.cloud.option("machine_net_admin", False)))
        return [self._machine(r) for r in records]

    def _each(self, action, machines):
        for record in self._records(machines):
            action(record)

    def destroy_machines(self, machines):
        self._each(self.machines.destroy, machines)

    def start_machines(self, machines):
        self._each(self.machines.start, machines)

    def stop_machines(self, machines):
        self._each(self.machines.stop, machines)

    def reboot_machines(self, machines):
        self._each(self.machines.reboot, machines)

    def refresh_machines(self, machines):
        known = set()
        for machine in machines:
            record = self.state.machine(machine.id)
            if record is None:
                continue
            known.add(machine.id)
            machine.state = self.machines.status(record)
            machine.private_ip = record.get("address")
            machine.host_keys = list(record.get("host_keys") or machine.host_keys)
            if machine.state in ("stopped", "unknown"):
                # Its keeper is gone: the machine died while booting, and will not come up by waiting.
                machine.fault = "local machine is %s: %s" % (machine.state, self.machines.console_tail(record))
        return known

    def machines_ready(self, machines):
        for machine in machines:
            self.machines.record_timings(machine.id, machine.timings)

    def wait_hint(self, machines, until):
        if until != "ssh" or not machines:
            return ""
        record = self.state.machine(machines[0].id)
        return " (is TCP 22 open to the host in their security groups? console: %s)" % (
            self.machines.console_tail(record) if record else "(machine gone)")

    # -- security groups ---------------------------------------------------------------
    def group_index(self):
        return {name: SecurityGroup(name, name, canonical(rules), {}, description)
                for name, (description, rules) in groups.read_groups(self.state, self.cloud.name).items()}

    def create_group(self, name, description):
        groups.write_group(self.state, self.definition, name, description, [])
        return name

    def add_rules(self, group, rules, index):
        groups.change_rules(self.state, self.definition, group.name, add=rules)

    def remove_rules(self, group, rules, index):
        groups.change_rules(self.state, self.definition, group.name, remove=rules)

    def delete_group(self, group):
        groups.delete_group(self.state, self.cloud.name, group.name)
