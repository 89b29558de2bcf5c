# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenStack family: Nova, Neutron and Glance through openstacksdk (sdk.py: the connection,
the version check, what its answers mean). Only OpenStack's primitives are here; the algorithms are the
base's (base.py).

* servers carry the ``slipway:*`` tags as metadata: one listing finds every managed server;
* a fleet is one create call per name, ``options.parallel_requests`` at a time (Nova's multi-create names
  the servers itself and takes one set of metadata for all); each carries the ``slipway:request`` tag and
  a retried create looks for its server first, so a lost answer never makes a duplicate;
* the network is ``options.network``, else the project's only one (Nova needs one from microversion 2.37);
  ``options.floating_ip_network`` gives each server a floating IP once it is ACTIVE, released on destroy;
* destroying waits until Nova has deleted the servers (their ports go with them), then removes the key
  pairs slipway imported that no server uses any more.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    LOGIN_USER_TAG,
    MANAGED_TAG,
    NAME_TAG,
    REQUEST_TAG,
    Flavor,
    Machine,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack import groups as openstack_groups
from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack import sdk
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import (
    Provider,
    normalise_state,
    parse_timestamp,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.calls import (
    API_OPTIONS,
    Caller,
    map_calls,
    retry_options,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import (
    MARK_PREFIX,
    MARK_PUBLIC_KEY,
    mark_name,
    marks_of,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.waiting import poll_until
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import as_public_key

#: Nova server statuses -> the base's states (ERROR is a fault, see _machine)
_NOVA_STATES = {"ACTIVE": "running", "BUILD": "pending", "REBUILD": "pending", "REBOOT": "pending",
                "HARD_REBOOT": "pending", "PASSWORD": "running", "RESIZE": "running", "VERIFY_RESIZE": "running",
                "REVERT_RESIZE": "running", "MIGRATING": "running", "SHUTOFF": "stopped", "SUSPENDED": "stopped",
                "PAUSED": "stopped", "SHELVED": "stopped", "SHELVED_OFFLOADED": "stopped", "RESCUE": "running",
                "DELETED": "terminated", "SOFT_DELETED": "terminated"}
#: a floating IP slipway allocated says so, and for which server (found again after a lost answer, released on destroy)
FLOATING_IP_MARK = "slipway.cloud: floating IP of server "
KEY_PAIR_PREFIX = "slipway-"


def server_addresses(addresses):
    """(public, private) of Nova's ``addresses``: public is a floating IP, else a globally routable fixed
    address; private the first fixed one (IPv4 before IPv6)."""
    fixed, floating = [], []
    for entries in (addresses or {}).values():
        for entry in entries or []:
            (floating if entry.get("OS-EXT-IPS:type") == "floating" else fixed).append(entry)
    fixed.sort(key=lambda e: e.get("version", 4))
    floating.sort(key=lambda e: e.get("version", 4))
    routable = [e for e in fixed if _is_global(e.get("addr"))]
    public = (floating or routable or [{}])[0].get("addr")
    return public, (fixed or [{}])[0].get("addr")


def _is_global(address):
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


class OpenStackProvider(Provider):
    family = "openstack"
    capabilities = frozenset(("security_groups", "stop_start", "image_lookup"))
    CREATE_MARKS = True                # the survivor rule's marks (put_create_mark below)
    OPTIONS = dict(API_OPTIONS, **{
        "cloud": str,                          # a clouds.yaml entry (else OS_CLOUD, else the OS_* variables)
        "network": str,                        # name or id (default: the project's only network)
        "floating_ip_network": str,            # an external network: each server gets a floating IP from it
        "interface": str,                      # public (default), internal or admin endpoints
        "availability_zone": str,
        "parallel_requests": int,              # concurrent per-server calls, default 8
        "operation_timeout": (int, float),     # seconds a delete or a stop may take, default 300
    })
    DEFAULT_CREDENTIALS = sdk.STANDARD_VARIABLES
    CREDENTIALS_OPTIONAL = True
    LOOKUP_KEYS = ("name", "owner", "visibility")
    LOOKUP_EXAMPLE = "{name: 'Debian 12*', visibility: public}"
    OWNER_WORD = "owned by project"
    POLL_INTERVALS = (1.0, 5.0)

    def __init__(self, cloud, environ=None):
        super(OpenStackProvider, self).__init__(cloud, environ)
        cloud = self.cloud
        unknown = sorted(set(dict(cloud.credentials)) - set(sdk.AUTH_ARGUMENTS + sdk.SETTING_ARGUMENTS))
        if unknown:
            raise ProviderError("cloud %s: unknown OpenStack credential argument(s) %s; valid: %s"
                                % (cloud.name, ", ".join(unknown), ", ".join(sdk.AUTH_ARGUMENTS + sdk.SETTING_ARGUMENTS)),
                                cloud=cloud.name, key="credentials." + unknown[0])
        interface = cloud.option("interface")
        if interface is not None and interface not in ("public", "internal", "admin"):
            raise ProviderError("cloud %s: options.interface must be public, internal or admin, got %r"
                                % (cloud.name, interface), cloud=cloud.name, key="options.interface")
        timeout = float(cloud.option("http_timeout", 30))
        connected = sdk.connect(cloud, self.environ, self.credentials, dict(cloud.credentials), timeout)
        self.conn = connected.connection
        # .credentials is what the engine masks everywhere: the secrets only (password, application credential
        # secret, token), wherever they came from; user, project, region and URL stay readable in messages.
        self.credentials = {"secret %d" % index: secret for index, secret in enumerate(connected.secrets)}
        self.endpoint = "OpenStack at %s" % (connected.auth_url or "(clouds.yaml)")
        self.caller = Caller(cloud, self.endpoint, list(self.credentials.values()), retry_options(cloud),
                             credential_source=connected.source)
        self.parallel = max(1, int(cloud.option("parallel_requests", 8)))
        self.operation_timeout = float(cloud.option("operation_timeout", 300))
        self.groups = openstack_groups.NeutronGroups(self)
        self._flavors = None
        self._networks = None
        self._project_id = None

    # -- calls ------------------------------------------------------------------------------
    def call(self, what, fn, look_first=None, tolerated=()):
        """``fn()`` through the one retry budget; an answer with a status in ``tolerated`` is None."""
        if tolerated:
            fn = sdk.tolerate(fn, *tolerated)
        return self.caller.call(what, fn, sdk.is_retryable, look_first)

    def listing(self, what, service, method, **query):
        """Every item of ``conn.<service>.<method>(**query)``, a paginated listing, as a list. The service is
        looked up inside the call: openstacksdk authenticates and discovers endpoints on first use, and its
        generators call lazily."""
        return self.call(what, lambda: list(getattr(getattr(self.conn, service), method)(**query)))

    @property
    def project_id(self):
        if self._project_id is None:
            self._project_id = self.call("authenticate", lambda: self.conn.current_project_id)
        return self._project_id

    # -- sizes and networks ------------------------------------------------------------------
    def _flavor_index(self):
        if self._flavors is None:
            self._flavors = {f.name: f for f in self.listing("list flavors", "compute", "flavors", details=True)}
        return self._flavors

    def list_sizes(self):
        """[Flavor] of the cloud: Nova's vcpus, ram (as GB) and disk."""
        flavors = [Flavor(name=f.name, cpu=f.vcpus, ram_gb=round(f.ram / 1024.0, 3) if f.ram else None,
                          disk_gb=f.disk or None) for f in self._flavor_index().values()]
        return sorted(flavors, key=lambda f: (f.cpu or 0, f.ram_gb or 0, f.name))

    def _flavor_id(self, name):
        """Nova's id of flavor ``name``, checked against the catalog's figures for it."""
        found = self._flavor_index().get(name)
        if found is None:
            raise ProviderError("cloud %s: flavor %r is not on the cloud; its flavors: %s (size_info with live: true "
                                "compares them with the catalog)" % (self.cloud.name, name,
                                                                     ", ".join(sorted(self._flavor_index()))),
                                cloud=self.cloud.name, flavor=name, valid=sorted(self._flavor_index()))
        wanted = self.cloud.flavor(name)
        if wanted is not None:
            real = {"cpu": found.vcpus, "ram_gb": round((found.ram or 0) / 1024.0, 3), "disk_gb": found.disk}
            differ = [key for key in ("cpu", "ram_gb", "disk_gb") if getattr(wanted, key) is not None
                      and real[key] != getattr(wanted, key)]
            if differ:
                raise ProviderError(
                    "cloud %s: flavor %s has %s on the cloud, the catalog says %s; fix the catalog's flavor table "
                    "(size_info with live: true shows every difference)" % (
                        self.cloud.name, name, ", ".join("%s %s" % (k, real[k]) for k in differ),
                        ", ".join("%s %s" % (k, getattr(wanted, k)) for k in differ)),
                    cloud=self.cloud.name, flavor=name, cloud_flavor=real)
        return found.id

    def _network_index(self):
        if self._networks is None:
            self._networks = self.listing("list networks", "network", "networks")
        return self._networks

    def _find_network(self, wanted, option, external):
        matches = [n for n in self._network_index() if wanted in (n.id, n.name)]
        if len(matches) == 1 and bool(matches[0].is_router_external) == external:
            return matches[0].id
        kind = "external " if external else ""
        names = sorted(n.name or n.id for n in self._network_index() if bool(n.is_router_external) == external)
        problem = "is not %s the project sees" % ("an external network" if external else "a network") if not matches \
            else "names %d networks; give the id" % len(matches) if len(matches) > 1 \
            else "is %san external network" % ("not " if external else "")
        raise ProviderError("cloud %s: options.%s %r %s; %snetworks: %s"
                            % (self.cloud.name, option, wanted, problem, kind, ", ".join(names) or "none"),
                            cloud=self.cloud.name, key="options." + option, valid=names)

    def network_id(self):
        """Where servers go: options.network, else the project's only (non-external) network."""
        if self.cloud.option("network"):
            return self._find_network(self.cloud.option("network"), "network", external=False)
        internal = [n for n in self._network_index() if not n.is_router_external]
        if len(internal) == 1:
            return internal[0].id
        raise ProviderError("cloud %s: %s; set options.network to the name or id of one (networks: %s)"
                            % (self.cloud.name, "the project has no network" if not internal else
                               "the project has %d networks" % len(internal),
                               ", ".join(sorted(n.name or n.id for n in internal)) or "none"),
                            cloud=self.cloud.name, key="options.network", valid=sorted(n.name for n in internal))

    # -- machines -------------------------------------------------------------------------------
    def _machine(self, server):
        tags = {str(k): str(v) for k, v in (server.metadata or {}).items()}
        flavor = server.flavor if server.flavor is not None else {}
        status = str(server.status or "").upper()
        state = "terminated" if server.task_state == "deleting" else _NOVA_STATES.get(status) or normalise_state(status)
        public, private = server_addresses(server.addresses)
        timings = {}
        created = parse_timestamp(server.created_at)
        if created:
            timings["launched_at"] = created
        ram = flavor.get("ram")
        return Machine(
            cloud=self.cloud.name, name=tags.get(NAME_TAG) or server.name or server.id, id=server.id, state=state,
            image=tags.get(IMAGE_TAG), image_id=(server.image or {}).get("id"),
            flavor=flavor.get("original_name") or flavor.get("name"), cpu=flavor.get("vcpus"),
            ram_gb=round(ram / 1024.0, 3) if ram else None, login_user=tags.get(LOGIN_USER_TAG),
            public_ip=public, private_ip=private, deployment=tags.get(DEPLOYMENT_TAG), tags=tags,
            host_keys=[], timings=timings, fault=sdk.fault_message(server) if status == "ERROR" else None)

    def _servers(self, what="list servers"):
        return self.listing(what, "compute", "servers", details=True)

    def list_machines(self):
        machines = [self._machine(s) for s in self._servers("list managed machines") if MANAGED_TAG in (s.metadata or {})]
        if self.cloud.option("floating_ip_network"):
            # Nova lists a floating IP a moment after Neutron attached it: Neutron's own word first.
            floating = self._floating_addresses()
            for machine in machines:
                machine.public_ip = machine.public_ip or floating.get(machine.id)
        return sorted(machines, key=lambda m: (m.name, m.id))

    def _floating_ips(self):
        """[(server id, floating IP)] of the floating IPs slipway allocated (their description names the server)."""
        return [(ip.description[len(FLOATING_IP_MARK):], ip)
                for ip in self.listing("list floating IPs", "network", "ips", project_id=self.project_id)
                if (ip.description or "").startswith(FLOATING_IP_MARK)]

    def _floating_addresses(self):
        return {server_id: ip.floating_ip_address for server_id, ip in self._floating_ips()}

    def refresh_machines(self, machines):
        by_id = {m.id: m for m in machines}
        known = set()
        for server in self._servers("check machine states"):
            machine = by_id.get(server.id)
            if machine is None:
                continue
            known.add(machine.id)
            fresh = self._machine(server)
            machine.state, machine.fault = fresh.state, fresh.fault
            machine.public_ip, machine.private_ip = fresh.public_ip or machine.public_ip, fresh.private_ip
        if self.cloud.option("floating_ip_network"):
            # Neutron can give a server a floating IP once its port is up: the first time the wait sees it ACTIVE.
            self._attach_floating_ips([m for m in machines if m.state == "running" and not m.public_ip])
        return known

    def ensure_key_pair(self, public_key):
        """Import ``public_key`` once under its slipway-<fingerprint> name; returns the name."""
        key = as_public_key(public_key)
        if self.call("look up key pair %s" % key.pair_name, lambda: self.conn.compute.find_keypair(key.pair_name)):
            return key.pair_name
        # 409: imported by a lost answer or a run at once: the same key (the name is its fingerprint)
        self.call("import key pair %s" % key.pair_name, lambda: self.conn.compute.create_keypair(
            name=key.pair_name, public_key=key.line), tolerated=(409,))
        return key.pair_name

    # A create mark is a key pair (survivors.mark_name): made, listed and removed in one call each, with
    # no quota a project is short of.
    def put_create_mark(self, deployment, mark_id):
        name = mark_name(deployment, mark_id)
        self.call("mark a create in flight (key pair %s)" % name, lambda: self.conn.compute.create_keypair(
            name=name, public_key=MARK_PUBLIC_KEY), tolerated=(409,))       # 409: made by a lost answer
        return name

    def create_marks(self, deployment):
        return marks_of(deployment, [k.name for k in self.listing("look for creates in flight", "compute", "keypairs")])

    def delete_create_mark(self, handle):
        self.call("remove create mark %s" % handle, lambda: self.conn.compute.delete_keypair(handle), tolerated=(404,))

    def launch(self, request):
        placement = request.placement
        flavor_id = self._flavor_id(placement.flavor)
        body = {"image_id": placement.image_id, "flavor_id": flavor_id, "networks": [{"uuid": self.network_id()}]}
        group_ids = self.group_ids(list(placement.security_groups))
        if group_ids:
            body["security_groups"] = [{"name": group_id} for group_id in group_ids]
        if self.cloud.option("availability_zone"):
            body["availability_zone"] = self.cloud.option("availability_zone")
        if request.public_key:
            body["key_name"] = self.ensure_key_pair(request.public_key)
        request.stamp()

        def create_one(name):
            def created_before():
                # The previous try may have created it and lost the answer.
                for server in self.conn.compute.servers(name="^%s$" % name):
                    if (server.metadata or {}).get(REQUEST_TAG) == request.token:
                        return server
                return None

            def create():
                try:
                    return self.conn.compute.create_server(name=name, metadata=request.tags_for(name), **body)
                except Exception as exc:  # pylint: disable=broad-except
                    if not (sdk.status_of(exc) == 400 and "key_name" in str(exc) and request.public_key):
                        raise
                # Another run's destroy removed the key pair as unused a moment ago: import it again.
                self.ensure_key_pair(request.public_key)
                return self.conn.compute.create_server(name=name, metadata=request.tags_for(name), **body)

            return self.call("create machine %s" % name, create, look_first=created_before)

        made, errors = map_calls(create_one, request.names, self.parallel)
        if errors:
            first = errors[min(errors)]
            created = [request.names[i] for i in sorted(made)]
            raise ProviderError("%s; %d of %d machine(s) failed%s" % (
                getattr(first, "msg", first), len(errors), len(request.names),
                "; created %s, which carry the deployment's tags so that state=absent removes them"
                % ", ".join(created) if created else ""),
                cloud=self.cloud.name, failed=[request.names[i] for i in sorted(errors)], created=created)
        machines = []
        for index, name in enumerate(request.names):
            machine = Machine(cloud=self.cloud.name, name=name, id=made[index].id, state="pending",
                              image_id=placement.image_id, flavor=placement.flavor, cpu=placement.cpu,
                              ram_gb=placement.ram_gb, tags=request.tags_for(name))
            machines.append(machine)
        return machines

    def _attach_floating_ips(self, machines):
        if not machines:
            return
        network = self._find_network(self.cloud.option("floating_ip_network"), "floating_ip_network", external=True)

        def attach(machine):
            mark = FLOATING_IP_MARK + machine.id

            def allocated_before():
                return next(iter(self.conn.network.ips(description=mark)), None)

            ip = self.call("look for the floating IP of machine %s" % machine.name, allocated_before)
            if ip is None:
                ports = self.listing("find the port of machine %s" % machine.name, "network", "ports",
                                     device_id=machine.id)
                if not ports:
                    return          # not plugged yet: the next look of the wait tries again
                ip = self.call("allocate a floating IP for machine %s" % machine.name, lambda: self.conn.network.create_ip(
                    floating_network_id=network, port_id=ports[0].id, description=mark), look_first=allocated_before)
            machine.public_ip = ip.floating_ip_address

        dummy, errors = map_calls(attach, machines, self.parallel)
        if errors:
            raise errors[min(errors)]

    def _floating_ips_to_release(self, server_ids):
        """The floating IPs slipway allocated for ``server_ids``, and those of servers gone since. Listed
        before the servers: an address allocated for a server that exists then is in that server listing."""
        ips = self._floating_ips()
        live = {s.id for s in self._servers("list servers before removing machines")}
        return [ip for server_id, ip in ips if server_id in server_ids or server_id not in live]

    def destroy_machines(self, machines):
        machines = [m for m in machines if m is not None]
        if not machines:
            return machines
        ids = {m.id for m in machines}
        self._release_floating_ips(self._floating_ips_to_release(ids))
        dummy, errors = map_calls(lambda m: self.call("destroy machine %s" % m.name, lambda: self.conn.compute.delete_server(
            m.id), tolerated=(404,)), machines, self.parallel)
        if errors:
            first = errors[min(errors)]
            raise ProviderError("%s (%d of %d machine(s) failed to be removed)" % (
                getattr(first, "msg", first), len(errors), len(machines)), cloud=self.cloud.name,
                failed=[machines[i].name for i in sorted(errors)])
        remaining = {}

        def gone():
            remaining.clear()
            for server in self._servers("check that the machines are gone"):
                if server.id in ids and str(server.status).upper() not in ("DELETED", "SOFT_DELETED"):
                    remaining[server.id] = server
            return not remaining

        if not poll_until(gone, self.operation_timeout, 0.5, 5.0, sleep=self.caller.pause):
            raise ProviderError("cloud %s: machine(s) %s still not deleted after %s s (options.operation_timeout)" % (
                self.cloud.name, ", ".join(m.name for m in machines if m.id in remaining), self.operation_timeout),
                cloud=self.cloud.name, machines=[m.name for m in machines if m.id in remaining])
        for machine in machines:
            machine.state = "terminated"
        # A floating IP whose allocation was still in flight (a run killed half-way, an answer lost) lands
        # after the first listing: once the servers are gone, one more look releases those too.
        if self.cloud.option("floating_ip_network"):
            self._release_floating_ips([ip for server_id, ip in self._floating_ips() if server_id in ids])
        self._remove_unused_key_pairs(ids)
        return machines

    def _release_floating_ips(self, ips):
        map_calls(lambda ip: self.call("release floating IP %s" % ip.floating_ip_address,
                                       lambda: self.conn.network.delete_ip(ip.id), tolerated=(404,)), ips, self.parallel)

    def _remove_unused_key_pairs(self, deleted):
        """Key pairs slipway imported that no server of the project uses any more (a run that needs one
        again imports it again). The key pairs are listed before the servers, so that a key imported for a
        server that exists then is seen in use."""
        keys = [k.name for k in self.listing("list key pairs", "compute", "keypairs")
                if k.name.startswith(KEY_PAIR_PREFIX) and not k.name.startswith(MARK_PREFIX)]
        if not keys:
            return
        used = {s.key_name for s in self._servers("list the servers' key pairs") if s.id not in deleted}
        for name in keys:
            if name not in used:
                self.call("remove unused key pair %s" % name, lambda name=name: self.conn.compute.delete_keypair(name),
                          tolerated=(404,))

    def _power(self, verb, machines, action, target):
        """Start or stop ``machines``: the action where the server is not already there, until Nova
        took it (a 409 while another task runs is retried); a stop waits until the server is SHUTOFF."""
        def one(machine):
            def settled():
                server = self.call("check machine %s" % machine.name, lambda: self.conn.compute.get_server(machine.id))
                if str(server.status).upper() == target:
                    return True
                if str(server.status).upper() == "ERROR":
                    raise ProviderError("cloud %s: cannot %s machine %s: %s" % (
                        self.cloud.name, verb, machine.name, sdk.fault_message(server)), cloud=self.cloud.name,
                        machine=machine.name)
                if server.task_state is None and str(server.status).upper() in ("ACTIVE", "SHUTOFF"):
                    self.call("%s machine %s" % (verb, machine.name),
                              lambda: getattr(self.conn.compute, action)(machine.id), tolerated=(409,))
                return target == "ACTIVE" and server.task_state == "powering-on"

            if not poll_until(settled, self.operation_timeout, 0.5, 5.0, sleep=self.caller.pause):
                raise ProviderError("cloud %s: machine %s is not %s after %s s (options.operation_timeout)"
                                    % (self.cloud.name, machine.name, target, self.operation_timeout),
                                    cloud=self.cloud.name, machine=machine.name)

        dummy, errors = map_calls(one, machines, self.parallel)
        if errors:
            raise errors[min(errors)]
        return machines

    def stop_machines(self, machines):
        machines = self._power("stop", list(machines), "stop_server", "SHUTOFF")
        for machine in machines:
            machine.state = "stopped"
        return machines

    def start_machines(self, machines):
        machines = self._power("start", list(machines), "start_server", "ACTIVE")
        for machine in machines:
            machine.state = "pending"
        return machines

    def wait_hint(self, machines, until):
        if any(m.state == "pending" for m in machines):
            return "; Nova still builds them: check the compute service and the project's quotas"
        return ""

    # -- images ------------------------------------------------------------------------------------
    def search_images(self, lookup):
        query = {"status": "active"}
        visibility = lookup.get("visibility")
        if visibility is not None:
            if visibility not in ("public", "private", "shared", "community", "all"):
                raise ProviderError("cloud %s: image lookup visibility must be public, private, shared, community or "
                                    "all, got %r" % (self.cloud.name, visibility), cloud=self.cloud.name,
                                    key="image_lookup.visibility")
            query["visibility"] = visibility
        if lookup.get("owner"):
            query["owner"] = lookup["owner"]
        if not any(char in lookup["name"] for char in "*?["):
            query["name"] = lookup["name"]
        images = self.listing("look up images named %s" % lookup["name"], "image", "images", **query)
        return [{"id": i.id, "name": i.name, "owner": i.owner, "visibility": i.visibility,
                 "creation_date": i.created_at} for i in images]

    def lookup_scope(self, lookup):
        return "active image%s" % (" (visibility %s)" % lookup["visibility"] if lookup.get("visibility") else "")

    # -- security groups (Neutron; groups.py) ----------------------------------------------
    def group_index(self):
        return self.groups.index()

    def storable_rule(self, rule, where):
        return openstack_groups.neutron_canonical(rule, where)

    def create_group(self, name, description):
        return self.groups.create(name, description)

    def add_rules(self, group, rules, index):
        self.groups.add_rules(group, rules, index)

    def remove_rules(self, group, rules, index):
        self.groups.remove_rules(group, rules)

    def delete_group(self, group):
        self.groups.delete(group)

    def close(self):
        conn, self.conn = getattr(self, "conn", None), None
        if conn is not None:
            conn.close()
