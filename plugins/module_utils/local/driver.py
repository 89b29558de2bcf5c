# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libcloud NodeDriver for the local clouds, registered as ``slipway_local``.

    from libcloud.compute.providers import get_driver
    import ansible_collections.slipway.cloud.plugins.module_utils.local.driver  # registers it
    driver = get_driver("slipway_local")("local-a", ex_subnet="198.18.1.0/24",
                                         ex_flavors=[("Micro", 1, 0.5)])

Nodes, sizes, images and locations follow libcloud's classes (NodeSize.ram in MB;
the cpu count in ``extra["vcpus"]``); security groups use ``ex_*`` methods in the
OpenStack driver's spirit. Errors are slipway ProviderErrors with a clear message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.module_utils.local import hostsetup
from ansible_collections.slipway.cloud.plugins.module_utils.local import image as base_image
from ansible_collections.slipway.cloud.plugins.module_utils.local.firewall import rule_from_dict
from ansible_collections.slipway.cloud.plugins.module_utils.local.machines import Machines
from ansible_collections.slipway.cloud.plugins.module_utils.local.state import (
    StateRoot, resolve_images, resolve_root,
)
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

try:
    from libcloud.common.base import ConnectionKey
    from libcloud.compute.base import Node, NodeDriver, NodeImage, NodeLocation, NodeSize
    from libcloud.compute.providers import get_driver, set_driver
    from libcloud.compute.types import NodeState
    HAS_LIBCLOUD = True
except ImportError:  # the provider reports this with a clear message
    HAS_LIBCLOUD = False
    ConnectionKey = NodeDriver = object

DRIVER_NAME = "slipway_local"

_STATES = {
    "running": "RUNNING", "pending": "PENDING", "stopped": "STOPPED", "terminated": "TERMINATED",
    "unknown": "UNKNOWN",
}


class LocalConnection(ConnectionKey):
    """No remote API: the driver works on this host directly."""

    def connect(self, host=None, port=None, base_url=None, **kwargs):
        return None


class LocalSecurityGroup:
    def __init__(self, name, description, rules, driver=None):
        self.id = name
        self.name = name
        self.description = description
        self.rules = list(rules)
        self.driver = driver

    def __repr__(self):
        return "<LocalSecurityGroup %s: %d rules>" % (self.name, len(self.rules))


class LocalNodeDriver(NodeDriver):
    """Real machines on this host: systemd-nspawn, one bridge and /24 per cloud."""

    connectionCls = LocalConnection
    name = "slipway.cloud local machines"
    website = "https://github.com/slipway-cloud/slipway.cloud"
    type = DRIVER_NAME
    features = {"create_node": ["ssh_key"]}

    def __init__(self, key, secret=None, secure=False, host=None, port=None, ex_subnet=None, ex_bridge=None,
                 ex_root=None, ex_images=None, ex_flavors=(), ex_environ=None, **kwargs):
        """``key`` is the cloud's name; ex_flavors is [(name, cpu, ram_gb), ...]."""
        super(LocalNodeDriver, self).__init__(key, secret=secret, secure=secure, host=host, port=port)
        self.cloud_name = key
        root = resolve_root(ex_root, ex_environ)
        self.state = StateRoot(root, resolve_images(root, ex_images, ex_environ))
        self.definition = hostsetup.cloud_definition(key, ex_subnet, ex_bridge, self.state)
        self.flavors = [(str(n), float(c), float(r)) for n, c, r in ex_flavors]
        self._machines = None

    @property
    def machines(self):
        # Built on first use: reading cgroup mounts is not needed for sizes/images.
        if self._machines is None:
            self._machines = Machines(self.state)
        return self._machines

    # -- catalog-like listings ---------------------------------------------------------
    def list_locations(self):
        return [NodeLocation(id=self.cloud_name, name=self.cloud_name, country="local", driver=self)]

    def list_sizes(self, location=None):
        sizes = []
        for name, cpu, ram_gb in self.flavors:
            sizes.append(NodeSize(id=name, name=name, ram=int(round(ram_gb * 1024)), disk=0, bandwidth=None,
                                  price=0.0, driver=self, extra={"vcpus": cpu, "cpu": cpu, "ram_gb": ram_gb}))
        return sizes

    def list_images(self, location=None, ex_owner=None):
        current = base_image.current_image(self.state.images)
        if not current:
            return []
        return [NodeImage(id=base_image.IMAGE_NAME, name="Debian 12 (bookworm), systemd-nspawn", driver=self,
                          extra={"path": current["path"], "built_at": current["built_at"],
                                 "spec_id": current.get("spec_id")})]

    def _size(self, size):
        name = size.id if isinstance(size, NodeSize) else str(size)
        for flavor in self.flavors:
            if flavor[0] == name:
                return flavor
        raise ProviderError("unknown flavor %r on local cloud %s; valid: %s"
                            % (name, self.cloud_name, ", ".join(f[0] for f in self.flavors) or "none"),
                            cloud=self.cloud_name, flavor=name, valid=[f[0] for f in self.flavors])

    # -- nodes --------------------------------------------------------------------------
    def _node(self, record):
        status = self.machines.status(record)
        keys = ("cloud", "flavor", "cpu", "ram_gb", "cpus", "login_user", "tags", "security_groups", "host_keys",
                "timings", "image", "hostname", "bridge")
        extra = {key: record.get(key) for key in keys}
        extra["status"] = status
        return Node(id=record["id"], name=record["name"], state=getattr(NodeState, _STATES[status]),
                    public_ips=[], private_ips=[record["address"]] if record.get("address") else [],
                    driver=self, extra=extra)

    def list_nodes(self, ex_node_ids=None):
        records = self.machines.list(self.cloud_name)
        if ex_node_ids is not None:
            records = [r for r in records if r["id"] in ex_node_ids]
        return [self._node(r) for r in records]

    def ex_create_nodes(self, names, size, image=base_image.IMAGE_NAME, auth=None, ex_login_user="root",
                        ex_tags=None, ex_security_groups=(), ex_cloud_firewall=True):
        """Create several machines in one call (in parallel); returns their Nodes.

        ``ex_cloud_firewall=False`` leaves every port of the machines open on the host side,
        as on a cloud without security groups (a firewall inside the machine guards it).
        """
        name, cpu, ram_gb = self._size(size)
        image_id = image.id if isinstance(image, NodeImage) else str(image)
        if auth is None or not getattr(auth, "pubkey", None):
            raise ProviderError("local machines need an SSH public key (auth=NodeAuthSSHKey(...))",
                                cloud=self.cloud_name)
        records = self.machines.create(self.definition, list(names), name, cpu, ram_gb, auth.pubkey,
                                       login_user=ex_login_user, tags=ex_tags, security_groups=ex_security_groups,
                                       cloud_firewall=ex_cloud_firewall, image_name=image_id, flavors=[_Flavor(*f) for f in self.flavors])
        return [self._node(r) for r in records]

    def create_node(self, name, size, image, location=None, auth=None, ex_login_user="root", ex_tags=None,
                    ex_security_groups=()):
        return self.ex_create_nodes([name], size, image, auth, ex_login_user, ex_tags, ex_security_groups)[0]

    def _record(self, node):
        return self.machines.find(node.id if isinstance(node, Node) else str(node))

    def destroy_node(self, node):
        self.machines.destroy(self._record(node))
        return True

    def reboot_node(self, node):
        return bool(self.machines.reboot(self._record(node)))

    def start_node(self, node):
        self.machines.start(self._record(node))
        return True

    def stop_node(self, node, ex_timeout=30.0):
        self.machines.stop(self._record(node), ex_timeout)
        return True

    def ex_wait_nodes(self, nodes, until="ssh", timeout=300.0):
        """Bounded wait until each node runs (``running``) or answers SSH (``ssh``)."""
        records = self.machines.wait([self._record(n) for n in nodes], until, timeout)
        return [self._node(r) for r in records]

    # -- security groups ------------------------------------------------------------------
    def _group(self, data):
        return LocalSecurityGroup(data["name"], data.get("description", ""),
                                  [rule_from_dict(r) for r in data.get("rules", ())], self)

    def ex_list_security_groups(self):
        return [self._group(d) for _name, d in sorted(self.state.groups(self.cloud_name).items())]

    def ex_get_security_group(self, name):
        data = self.state.groups(self.cloud_name).get(name)
        return self._group(data) if data else None

    def ex_create_security_group(self, name, description="", ex_rules=()):
        return self.ex_set_security_group(name, description, ex_rules, create_only=True)

    def ex_set_security_group(self, name, description, rules, create_only=False):
        """Create or replace the group with exactly ``rules`` (model.Rule); applies nft at once."""
        if not name or not isinstance(name, str) or len(name) > 255:
            raise ProviderError("security group name %r is not valid (1-255 characters)" % (name,), group=name)
        state = self.state
        with state.lock():
            hostsetup.require_cloud(state, self.definition)
            existing = state.groups(self.cloud_name).get(name)
            if create_only and existing:
                raise ProviderError("security group %s already exists on local cloud %s" % (name, self.cloud_name),
                                    group=name)
            data = {"name": name, "description": description or "", "rules": [r.to_dict() for r in rules]}
            state.save(state.group_file(self.cloud_name, name), data)
            hostsetup.apply_firewall(state)
        return self._group(data)

    def ex_delete_security_group(self, group):
        name = group.name if isinstance(group, LocalSecurityGroup) else str(group)
        state = self.state
        with state.lock():
            users = [r["name"] for r in state.machines(self.cloud_name) if name in r.get("security_groups", ())]
            if users:
                raise ProviderError("security group %s is used by machines %s of local cloud %s; destroy them first"
                                    % (name, ", ".join(sorted(users)), self.cloud_name), group=name, machines=users)
            path = state.group_file(self.cloud_name, name)
            existed = state.load(path) is not None
            state.remove_tree(path)
            hostsetup.apply_firewall(state)
        return existed

    def ex_create_security_group_rule(self, group, rule):
        current = self.ex_get_security_group(group.name if isinstance(group, LocalSecurityGroup) else group)
        if current is None:
            raise ProviderError("no security group %s on local cloud %s" % (group, self.cloud_name), group=group)
        if rule not in current.rules:
            self.ex_set_security_group(current.name, current.description, current.rules + [rule])
        return True

    def ex_delete_security_group_rule(self, group, rule):
        current = self.ex_get_security_group(group.name if isinstance(group, LocalSecurityGroup) else group)
        if current is None or rule not in current.rules:
            return False
        self.ex_set_security_group(current.name, current.description, [r for r in current.rules if r != rule])
        return True


class _Flavor:
    def __init__(self, name, cpu, ram_gb):
        self.name, self.cpu, self.ram_gb = name, cpu, ram_gb


def register():
    """Make get_driver("slipway_local") return LocalNodeDriver (idempotent)."""
    if not HAS_LIBCLOUD:
        return False
    try:
        get_driver(DRIVER_NAME)
    except AttributeError:
        set_driver(DRIVER_NAME, __name__, "LocalNodeDriver")
    return True


register()
