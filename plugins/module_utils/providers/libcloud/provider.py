# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Any libcloud compute driver behind the Provider interface (family "libcloud", and any family name that
has no provider of its own: it is taken as a libcloud driver name).

Only libcloud's common NodeDriver API is used (list/create/destroy/start/stop nodes,
list sizes), so whatever a driver implements of it works; what a driver lacks
becomes one clear error, never a silent no-op. Machines are found again by their
metadata/tags (``ex_metadata`` at create), so a driver that cannot tag is refused
at create time. Security groups are not managed here: such clouds say
``security_groups: false`` in the catalog and the firewall role applies the rules.

Catalog cloud for this family::

    provider: libcloud          # or a libcloud driver name (digitalocean, linode, ...)
    options: {driver: digitalocean, driver_args: {...}}   # driver not needed when provider names it
    credentials: {key: ENV_NAME, secret: ENV_NAME, <other driver argument>: ENV_NAME}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect

from ansible_collections.slipway.cloud.plugins.module_utils.masking import mask
from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    LOGIN_USER_TAG,
    MANAGED_TAG,
    NAME_TAG,
    REQUEST_TAG,
    Machine,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.libcloud import compat
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import Provider, normalise_state
from ansible_collections.slipway.cloud.plugins.module_utils.providers.calls import (
    API_OPTIONS,
    Caller,
    retry_options,
    split_endpoint,
)

_TAG_KEYS_IN_EXTRA = ("tags", "metadata", "labels")
_FLAVOR_KEYS_IN_EXTRA = ("instance_type", "flavorId", "size", "size_slug", "machineType", "plan")
_IMAGE_KEYS_IN_EXTRA = ("image_id", "imageId", "image", "image_slug")


class LibcloudProvider(Provider):
    family = "libcloud"
    capabilities = frozenset(("stop_start",))
    OPTIONS = dict(API_OPTIONS, driver=str, driver_args=dict)

    def __init__(self, cloud, environ=None):
        super().__init__(cloud, environ)
        compat.require_libcloud()
        from libcloud.compute.providers import DRIVERS, get_driver

        if cloud.provider in ("libcloud",):
            name = cloud.option("driver")
        else:
            name = cloud.option("driver") or cloud.provider
        if not name:
            raise ProviderError("cloud %s: provider libcloud needs options.driver, a libcloud compute driver "
                                "name (openstack, digitalocean, linode, ...)" % cloud.name,
                                cloud=cloud.name, key="options.driver")
        if name not in DRIVERS:
            raise ProviderError("cloud %s: libcloud has no compute driver %r; known: %s"
                                % (cloud.name, name, ", ".join(sorted(str(k) for k in DRIVERS))),
                                cloud=cloud.name, key="options.driver")
        self.driver_name = name

        arguments = dict(self.credentials)
        positional = [arguments.pop("key")] if "key" in arguments else []
        if "secret" in arguments:
            positional.append(arguments.pop("secret"))
        kwargs = dict(cloud.option("driver_args") or {})
        kwargs.update(arguments)
        if cloud.region:
            kwargs.setdefault("region", cloud.region)
        self.endpoint = "%s driver of libcloud" % name
        if cloud.endpoint:
            secure, host, port = split_endpoint(cloud.endpoint)
            kwargs.update(host=host, port=port, secure=secure)
            self.endpoint = cloud.endpoint
        kwargs.setdefault("timeout", float(cloud.option("http_timeout", 30)))
        try:
            self.driver = get_driver(name)(*positional, **kwargs)
        except (TypeError, ValueError) as exc:
            # the arguments' names are safe to show, their values are not
            raise ProviderError(
                mask("cloud %s: libcloud driver %s refused its arguments (%s): %s"
                     % (cloud.name, name, ", ".join(["key", "secret"][:len(positional)] + sorted(kwargs)), exc),
                     self.credentials.values()),
                cloud=cloud.name, driver=name)
        self.caller = Caller(cloud, self.endpoint, list(self.credentials.values()), retry_options(cloud),
                             credential_variables=self.credential_variables,
                             credential_source=self.credential_source)
        self._sizes = None
        self._nodes = {}

    # -- helpers -------------------------------------------------------------------
    def _unsupported(self, what):
        return ProviderError("cloud %s: the libcloud %s driver cannot %s" % (self.cloud.name, self.driver_name, what),
                             cloud=self.cloud.name, driver=self.driver_name)

    def _call(self, what, fn):
        def guarded():
            try:
                return fn()
            except NotImplementedError:
                raise self._unsupported(what)

        return self.caller.call(what, guarded)

    def list_sizes(self):
        """[Flavor] with the vCPU count taken from the driver's own ``extra`` key."""
        if self._sizes is None:
            sizes = self._call("list sizes", self.driver.list_sizes)
            self._sizes = {str(s.id): s for s in sizes}
        flavors = [compat.size_to_flavor(s, self.driver_name) for s in self._sizes.values()]
        return sorted(flavors, key=lambda f: (f.cpu or 0, f.ram_gb or 0, f.name))

    def _size(self, flavor):
        if self._sizes is None:
            self.list_sizes()
        for size in self._sizes.values():
            if flavor in (str(size.id), size.name):
                return size
        raise ProviderError("cloud %s: no size %r on the %s driver; known: %s"
                            % (self.cloud.name, flavor, self.driver_name,
                               ", ".join(sorted(str(s.name or s.id) for s in self._sizes.values()))),
                            cloud=self.cloud.name, flavor=flavor)

    @staticmethod
    def _node_tags(node):
        extra = node.extra or {}
        for key in _TAG_KEYS_IN_EXTRA:
            value = extra.get(key)
            if isinstance(value, dict):
                return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return {}

    def _machine(self, node):
        tags = self._node_tags(node)
        extra = node.extra or {}
        flavor = next((str(extra[k]) for k in _FLAVOR_KEYS_IN_EXTRA if isinstance(extra.get(k), (str, int))), None)
        if flavor is None and getattr(node, "size", None) is not None:
            flavor = str(node.size.id)
        cpu = ram_gb = None
        if flavor and self._sizes and flavor in self._sizes:
            size_flavor = compat.size_to_flavor(self._sizes[flavor], self.driver_name)
            cpu, ram_gb = size_flavor.cpu, size_flavor.ram_gb
        image_id = next((str(extra[k]) for k in _IMAGE_KEYS_IN_EXTRA if isinstance(extra.get(k), (str, int))), None)
        if image_id is None and getattr(node, "image", None) is not None:
            image_id = str(node.image.id)
        timings = {}
        created = getattr(node, "created_at", None)
        if created is not None and hasattr(created, "timestamp"):
            timings["launched_at"] = created.timestamp()
        return Machine(
            cloud=self.cloud.name,
            name=tags.get(NAME_TAG) or node.name or str(node.id),
            id=str(node.id),
            state=normalise_state(node.state),
            image=tags.get(IMAGE_TAG),
            image_id=image_id,
            flavor=flavor,
            cpu=cpu,
            ram_gb=ram_gb,
            login_user=tags.get(LOGIN_USER_TAG),
            public_ip=(node.public_ips or [None])[0],
            private_ip=(node.private_ips or [None])[0],
            deployment=tags.get(DEPLOYMENT_TAG),
            tags=tags,
            host_keys=[],
            timings=timings,
        )

    def _managed_nodes(self):
        nodes = self._call("list machines", self.driver.list_nodes)
        managed = [n for n in nodes if MANAGED_TAG in self._node_tags(n)
                   and normalise_state(n.state) != "terminated"]
        self._nodes.update({str(n.id): n for n in managed})
        return managed

    # -- machines --------------------------------------------------------------------
    def list_machines(self):
        if self._sizes is None:
            try:
                self.list_sizes()
            except ProviderError:
                self._sizes = {}          # cpu/ram are informative; the listing must not fail on them
        return sorted((self._machine(n) for n in self._managed_nodes()), key=lambda m: (m.name, m.id))

    def launch(self, request):
        placement = request.placement
        if placement.security_groups and self.cloud.security_groups:
            raise ProviderError(
                "cloud %s: the generic libcloud adapter does not manage security groups; set "
                "security_groups: false for this cloud in the catalog (the firewall role then applies "
                "the rules inside the machine)" % self.cloud.name, cloud=self.cloud.name)
        if "ex_metadata" not in inspect.signature(self.driver.create_node).parameters:
            raise ProviderError("cloud %s: the libcloud %s driver cannot tag machines at creation, and "
                                "slipway.cloud finds its machines again by their tags" % (self.cloud.name, self.driver_name),
                                cloud=self.cloud.name, driver=self.driver_name)
        from libcloud.compute.base import NodeAuthSSHKey, NodeImage

        size = self._size(placement.flavor)
        image = NodeImage(id=placement.image_id, name=None, driver=self.driver)
        kwargs = {}
        if request.public_key:
            if "ssh_key" not in self.driver.features.get("create_node", []):
                raise self._unsupported("install an SSH public key at creation")
            kwargs["auth"] = NodeAuthSSHKey(request.public_key.with_comment())
        machines = []
        request.stamp()
        for name in request.names:
            node = self._create_one(name, size, image, request.tags_for(name), kwargs)
            machine = self._machine(node)
            machine.name = name
            machines.append(machine)
        return machines

    def _create_one(self, name, size, image, node_tags, kwargs):
        token = node_tags[REQUEST_TAG]

        def created_before():
            # a lost answer may hide a created node: look for its request tag before re-creating
            return next((n for n in self.driver.list_nodes() if self._node_tags(n).get(REQUEST_TAG) == token), None)

        def create():
            try:
                return self.driver.create_node(name=name, size=size, image=image, ex_metadata=node_tags, **kwargs)
            except NotImplementedError:
                raise self._unsupported("create machine %s" % name)

        node = self.caller.call("create machine %s" % name, create, look_first=created_before)
        self._nodes[str(node.id)] = node
        return node

    def _node(self, machine):
        node = self._nodes.get(machine.id)
        if node is None:
            from libcloud.compute.base import Node

            node = Node(id=machine.id, name=machine.name, state=None, public_ips=[], private_ips=[],
                        driver=self.driver)
        return node

    def _each(self, verb, method, machines):
        machines = list(machines)
        for machine in machines:
            node = self._node(machine)
            self._call("%s machine %s" % (verb, machine.name), lambda node=node: getattr(self.driver, method)(node))
        return machines

    def destroy_machines(self, machines):
        machines = self._each("destroy", "destroy_node", machines)
        for machine in machines:
            machine.state = "terminated"
            self._nodes.pop(machine.id, None)
        return machines

    def stop_machines(self, machines):
        return self._each("stop", "stop_node", machines)

    def start_machines(self, machines):
        return self._each("start", "start_node", machines)

    def refresh_machines(self, machines):
        seen = {str(n.id): n for n in self._managed_nodes()}
        for machine in machines:
            node = seen.get(machine.id)
            if node is not None:
                machine.state = normalise_state(node.state)
                machine.public_ip = (node.public_ips or [None])[0]
                machine.private_ip = (node.private_ips or [None])[0]
        # A node that leaves the listing is gone at once: libcloud drivers list what the API lists.
        for machine in machines:
            if machine.id not in seen:
                machine.state = "terminated"
        return set(seen)

    # -- security groups: not managed by this adapter ------------------------------
    def _no_groups(self):
        return ProviderError(
            "cloud %s: security groups are not managed through the generic libcloud adapter (%s driver); "
            "the firewall role applies the rules inside the machine" % (self.cloud.name, self.driver_name),
            cloud=self.cloud.name, supported=False)

    def group_index(self):
        raise self._no_groups()

    def close(self):
        inner = getattr(getattr(self, "driver", None), "connection", None)
        session = getattr(getattr(inner, "connection", None), "session", None)
        if session is not None:
            session.close()
