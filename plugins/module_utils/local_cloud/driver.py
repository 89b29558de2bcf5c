# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local clouds for libcloud users: a NodeDriver registered as ``slipway_local``.

    from libcloud.compute.providers import get_driver
    import ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.driver  # registers it
    driver = get_driver("slipway_local")("local-a", ex_subnet="198.18.1.0/24",
                                         ex_flavors=[("Micro", 1, 0.5)])

It stands beside slipway's own provider, not under it: every call goes to a LocalProvider
(providers/local.py), whose Machines become libcloud Nodes here (NodeSize.ram in MB, the cpu count in
``extra["vcpus"]``); security groups use ``ex_*`` methods in the OpenStack driver's spirit. Errors are
slipway ProviderErrors with a clear message. slipway.cloud itself never uses this driver.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import image as base_image
from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Flavor, Placement, ProviderError

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
        from ansible_collections.slipway.cloud.plugins.module_utils.providers.local.provider import LocalProvider

        super(LocalNodeDriver, self).__init__(key, secret=secret, secure=secure, host=host, port=port)
        options = tuple((k, v) for k, v in (("subnet", ex_subnet), ("bridge", ex_bridge), ("root", ex_root),
                                            ("images", ex_images)) if v is not None)
        flavors = tuple(Flavor(str(n), float(c), float(r)) for n, c, r in ex_flavors)
        self.cloud = Cloud(name=key, provider="local", options=options, flavors=flavors)
        self.provider = LocalProvider(self.cloud, ex_environ)

    # -- catalog-like listings ---------------------------------------------------------
    def list_locations(self):
        return [NodeLocation(id=self.cloud.name, name=self.cloud.name, country="local", driver=self)]

    def list_sizes(self, location=None):
        return [NodeSize(id=f.name, name=f.name, ram=int(round(f.ram_gb * 1024)), disk=0, bandwidth=None,
                         price=0.0, driver=self, extra={"vcpus": f.cpu, "cpu": f.cpu, "ram_gb": f.ram_gb})
                for f in self.cloud.flavors]

    def list_images(self, location=None, ex_owner=None):
        current = base_image.current_image(self.provider.state.images)
        if not current:
            return []
        return [NodeImage(id=base_image.IMAGE_NAME, name="Debian 12 (bookworm), systemd-nspawn", driver=self,
                          extra={"path": current["path"], "built_at": current["built_at"],
                                 "spec_id": current.get("spec_id")})]

    # -- nodes --------------------------------------------------------------------------
    def _node(self, machine):
        extra = {"status": machine.state, "flavor": machine.flavor, "cpu": machine.cpu, "ram_gb": machine.ram_gb,
                 "login_user": machine.login_user, "tags": machine.tags, "host_keys": machine.host_keys,
                 "timings": machine.timings, "image": machine.image_id}
        return Node(id=machine.id, name=machine.name, state=getattr(NodeState, machine.state.upper(), NodeState.UNKNOWN),
                    public_ips=[], private_ips=[machine.private_ip] if machine.private_ip else [], driver=self,
                    extra=extra)

    def _machines(self, nodes):
        wanted = {n.id if isinstance(n, Node) else str(n) for n in nodes}
        machines = [m for m in self.provider.list_machines() if m.id in wanted]
        missing = sorted(wanted - {m.id for m in machines})
        if missing:
            raise ProviderError("local cloud %s has no machines %s" % (self.cloud.name, ", ".join(missing)),
                                cloud=self.cloud.name, ids=missing)
        return machines

    def list_nodes(self, ex_node_ids=None):
        machines = self.provider.list_machines()
        return [self._node(m) for m in machines if ex_node_ids is None or m.id in ex_node_ids]

    def ex_create_nodes(self, names, size, image=base_image.IMAGE_NAME, auth=None, ex_login_user="root",
                        ex_tags=None, ex_security_groups=()):
        """Create several machines in one call (in parallel); returns their Nodes."""
        flavor = self.provider.flavor(size.id if isinstance(size, NodeSize) else str(size))
        placement = Placement(cloud=self.cloud, image=base_image.IMAGE_NAME,
                              image_id=image.id if isinstance(image, NodeImage) else str(image), image_lookup=None,
                              login_user=ex_login_user, flavor=flavor.name, cpu=flavor.cpu, ram_gb=flavor.ram_gb,
                              security_groups=tuple(ex_security_groups))
        machines = self.provider.create_machines(placement, list(names), getattr(auth, "pubkey", None),
                                                 dict(ex_tags or {}))
        return [self._node(m) for m in machines]

    def create_node(self, name, size, image, location=None, auth=None, ex_login_user="root", ex_tags=None,
                    ex_security_groups=()):
        return self.ex_create_nodes([name], size, image, auth, ex_login_user, ex_tags, ex_security_groups)[0]

    def destroy_node(self, node):
        self.provider.destroy_machines(self._machines([node]))
        return True

    def reboot_node(self, node):
        self.provider.reboot_machines(self._machines([node]))
        return True

    def start_node(self, node):
        self.provider.start_machines(self._machines([node]))
        return True

    def stop_node(self, node):
        self.provider.stop_machines(self._machines([node]))
        return True

    def ex_wait_nodes(self, nodes, until="ssh", timeout=300.0):
        """Bounded wait until each node runs (``running``) or answers SSH (``ssh``)."""
        return [self._node(m) for m in self.provider.wait_machines(self._machines(nodes), until, timeout)]

    # -- security groups ------------------------------------------------------------------
    def ex_list_security_groups(self):
        return [LocalSecurityGroup(g.name, g.description, g.rules, self)
                for name, g in sorted(self.provider.group_index().items())]

    def ex_get_security_group(self, name):
        group = self.provider.group_index().get(name)
        return LocalSecurityGroup(group.name, group.description, group.rules, self) if group else None

    def ex_set_security_group(self, name, description, rules):
        """Create or replace the group with exactly ``rules`` (model.Rule); applies nft at once."""
        self.provider.ensure_security_group(name, description, list(rules), purge_rules=True)
        return self.ex_get_security_group(name)

    def ex_delete_security_group(self, group):
        name = group.name if isinstance(group, LocalSecurityGroup) else str(group)
        return self.provider.delete_security_group(name)["changed"]


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
