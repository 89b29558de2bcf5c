# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Exoscale family: Exoscale's v2 API (JSON over HTTPS, one endpoint per zone).

libcloud's Exoscale driver speaks the CloudStack-style v1 API that Exoscale switched off in May
2024, so this family talks to v2 itself (api.py: signing, the client, labels). Only
Exoscale's primitives are here; the algorithms are the base's (base.py).

* the endpoint is ``https://api-<zone>.exoscale.com/v2`` for the cloud's ``region`` (a zone such as
  ``ch-gva-2``), or the catalog's ``endpoint``;
* writes answer with an *operation* that is polled, bounded, until it succeeds;
* the API has no "create N" call: a fleet is N create-instance calls in parallel
  (``options.parallel_requests``), each carrying the ``slipway:request`` label so that a retried create
  looks for its machine before asking again (no duplicates after a lost answer).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    LOGIN_USER_TAG,
    MANAGED_TAG,
    NAME_TAG,
    REQUEST_TAG,
    CatalogError,
    Flavor,
    Machine,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import (
    Provider,
    SecurityGroup,
    normalise_state,
    parse_timestamp,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.calls import (
    API_OPTIONS,
    Caller,
    map_calls,
    retry_options,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.api import (
    ENDPOINT_TEMPLATE,
    ExoscaleApiError,
    ExoscaleClient,
    api_path,
    decode_labels,
    encode_labels,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.settings import credential_source
from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import (
    MARK_DESCRIPTION,
    mark_name,
    marks_of,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.waiting import poll_until
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import canonical, parse_rules, ports_from_one
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import as_public_key

DEFAULT_DISK_GB = 10                     # create-instance requires disk-size; 10 GiB is the API's minimum
_DISK_RANGE = (10, 51200)
_ZONE = re.compile(r"^[a-z]{2}-[a-z]{2,5}-\d+\Z")


class ExoscaleProvider(Provider):
    family = "exoscale"
    capabilities = frozenset(("security_groups", "stop_start", "image_lookup"))
    CREATE_MARKS = True                # the survivor rule's marks (put_create_mark below)
    OPTIONS = dict(API_OPTIONS, **{
        "disk_size": int,                       # GiB, 10-51200 (a flavor's disk_gb wins)
        "instance_family": str,                 # standard (default), memory, cpu, ...
        "parallel_requests": int,               # concurrent per-machine calls, default 8
        "operation_timeout": (int, float),      # seconds an operation may stay pending
        "poll_interval": (int, float),          # first poll delay of operations and waits
    })
    DEFAULT_CREDENTIALS = (("key", "EXOSCALE_API_KEY"), ("secret", "EXOSCALE_API_SECRET"))
    LOOKUP_KEYS = ("name", "owner", "visibility", "family")
    LOOKUP_EXAMPLE = "{name: 'Linux Debian 12 (Bookworm) 64-bit'}"
    OWNER_WORD = "maintained by"

    def __init__(self, cloud, environ=None):
        super(ExoscaleProvider, self).__init__(cloud, environ)
        cloud = self.cloud
        key = self.credential(("key", "api_key"))
        secret = self.credential(("secret", "api_secret"))
        zone = cloud.region
        if zone is not None and not _ZONE.match(str(zone)):
            raise ProviderError("cloud %s: region %r is not an Exoscale zone name like ch-gva-2 or de-fra-1"
                                % (cloud.name, zone), cloud=cloud.name, key="region")
        if cloud.endpoint:
            endpoint = str(cloud.endpoint)
        elif zone:
            endpoint = ENDPOINT_TEMPLATE % zone
        else:
            raise ProviderError("cloud %s: an Exoscale cloud needs its zone as region (e.g. region: ch-gva-2) "
                                "or an endpoint" % cloud.name, cloud=cloud.name, key="region")
        self.zone = zone
        self.endpoint = endpoint
        try:
            self.client = ExoscaleClient(endpoint, key, secret, float(cloud.option("http_timeout", 30)))
        except ValueError as exc:
            raise ProviderError("cloud %s: %s" % (cloud.name, exc), cloud=cloud.name, key="endpoint")
        variables = dict(cloud.credentials)
        used = [variables.get(name) for name in ("key", "api_key", "secret", "api_secret") if name in variables]
        self.caller = Caller(cloud, "the Exoscale API at %s" % endpoint, [secret], retry_options(cloud),
                             credential_variables=used, credential_source=credential_source(used, self.environ))
        self.parallel = max(1, int(cloud.option("parallel_requests", 8)))
        self.operation_timeout = float(cloud.option("operation_timeout", 600))
        self.poll_delay = float(cloud.option("poll_interval", 1.0))
        self.POLL_INTERVALS = (self.poll_delay, max(5.0, self.poll_delay))
        self._types = None

    # -- calls -----------------------------------------------------------------------
    def _request(self, method, path, query=None, body=None):
        return self.client.request(method, path, query, body)

    def _request_checked(self, what, method, path, query=None, body=None, look_first=None):
        """One API call with retries; any failure becomes one ProviderError."""
        return self.caller.call(what, lambda: self._request(method, path, query, body), look_first=look_first)

    def _get(self, what, path, query=None):
        return self._request_checked(what, "GET", path, query)

    def _wait_operation(self, operation, what):
        """Poll an operation until it leaves "pending" (bounded); returns it or raises ProviderError."""
        current = [operation or {}]

        def settled():
            if current[0].get("state", "success") != "pending":
                return True
            op_id = current[0].get("id")
            current[0] = self._get("%s (poll operation %s)" % (what, op_id), api_path("/operation/%s", op_id)) or {}
            return current[0].get("state", "success") != "pending"

        if not poll_until(settled, self.operation_timeout, self.poll_delay, max(self.poll_delay * 5, 5.0),
                          sleep=self.caller.pause):
            raise ProviderError("cloud %s: %s: operation %s still pending after %s s"
                                % (self.cloud.name, what, current[0].get("id"), self.operation_timeout),
                                cloud=self.cloud.name, action=what, operation=current[0].get("id"))
        if current[0].get("state") in ("failure", "timeout"):
            detail = current[0].get("message") or current[0].get("reason") or current[0].get("state")
            raise ProviderError("cloud %s: %s: operation %s ended in %s: %s"
                                % (self.cloud.name, what, current[0].get("id"), current[0].get("state"), detail),
                                cloud=self.cloud.name, action=what, operation=current[0].get("id"),
                                reason=current[0].get("reason"))
        return current[0]

    def _change(self, what, method, path, body=None, look_first=None, gone_ok=False, exists_ok=False):
        """A write and its operation, waited for; with ``gone_ok`` a 404, with ``exists_ok`` a 409 (another
        run made the same thing at the same time) means it is done already."""
        try:
            operation = self._request_checked(what, method, path, body=body, look_first=look_first)
        except ProviderError as exc:
            if (gone_ok and exc.details.get("http_status") == 404) or \
                    (exists_ok and exc.details.get("http_status") == 409):
                return None
            raise
        return self._wait_operation(operation, what)

    @staticmethod
    def _reference_id(operation):
        return ((operation or {}).get("reference") or {}).get("id")

    # -- sizes ----------------------------------------------------------------------------
    def _instance_types(self):
        """{id: {"name": "standard.medium", "cpu": 2, "ram_gb": 4.0, "zones": [...]}} (one call, cached)."""
        if self._types is None:
            answer = self._get("list instance types", "/instance-type") or {}
            types = {}
            for item in answer.get("instance-types") or []:
                memory = item.get("memory")
                types[item.get("id")] = {
                    "name": "%s.%s" % (item.get("family"), item.get("size")),
                    "cpu": item.get("cpus"),
                    "ram_gb": round(memory / float(1 << 30), 3) if memory else None,
                    "zones": item.get("zones"),
                }
            self._types = types
        return self._types

    def list_sizes(self):
        """[Flavor] of the zone, named family.size, with the API's own cpu and memory."""
        flavors = [Flavor(name=t["name"], cpu=t["cpu"], ram_gb=t["ram_gb"])
                   for t in self._instance_types().values() if self._in_zone(t.get("zones"))]
        return sorted(flavors, key=lambda f: (f.cpu or 0, f.ram_gb or 0, f.name))

    def _in_zone(self, zones):
        return not zones or not self.zone or self.zone in zones

    def type_name(self, flavor):
        """Catalog flavor -> instance type: "Extra-large" -> "standard.extra-large"; "memory.huge" stays."""
        text = str(flavor).strip().lower().replace(" ", "-")
        if "." in text:
            return text
        return "%s.%s" % (str(self.cloud.option("instance_family", "standard")).lower(), text)

    def size_name(self, flavor):
        return self.type_name(flavor)

    def _type_id(self, flavor):
        wanted = self.type_name(flavor)
        types = self._instance_types()
        for type_id, info in types.items():
            if info["name"] == wanted and self._in_zone(info.get("zones")):
                return type_id
        available = sorted(t["name"] for t in types.values() if self._in_zone(t.get("zones")))
        raise ProviderError("cloud %s: flavor %r is Exoscale instance type %s, which zone %s does not offer; "
                            "available: %s" % (self.cloud.name, flavor, wanted, self.zone or "(endpoint)",
                                               ", ".join(available)),
                            cloud=self.cloud.name, flavor=flavor, instance_type=wanted)

    def _flavor_of(self, type_id):
        """(flavor name as the catalog spells it, cpu, ram_gb) of an instance type id."""
        info = self._instance_types().get(type_id)
        if info is None:
            return None, None, None
        name = info["name"]
        for flavor in self.cloud.flavors:
            if self.type_name(flavor.name) == name:
                name = flavor.name
                break
        return name, info["cpu"], info["ram_gb"]

    # -- machines --------------------------------------------------------------------------
    def _machine(self, item):
        tags = decode_labels(item.get("labels"))
        flavor, cpu, ram_gb = self._flavor_of((item.get("instance-type") or {}).get("id"))
        timings = {}
        created = parse_timestamp(item.get("created-at"))
        if created:
            timings["launched_at"] = created
        private_ip = None
        for subnet in ((item.get("vpc") or {}).get("subnets") or []):
            private_ip = private_ip or subnet.get("ipv4")
        state = str(item.get("state") or "").lower()
        return Machine(
            cloud=self.cloud.name,
            name=tags.get(NAME_TAG) or item.get("name") or item.get("id"),
            id=item.get("id"),
            state=normalise_state(state),
            image=tags.get(IMAGE_TAG),
            image_id=(item.get("template") or {}).get("id"),
            flavor=flavor,
            cpu=cpu,
            ram_gb=ram_gb,
            login_user=tags.get(LOGIN_USER_TAG),
            public_ip=item.get("public-ip"),
            private_ip=private_ip,
            deployment=tags.get(DEPLOYMENT_TAG),
            tags=tags,
            host_keys=[],          # the v2 API does not publish host keys
            timings=timings,
            fault="Exoscale reports the instance in state error" if state == "error" else None,
        )

    def _list_instances(self, what="list machines"):
        answer = self._get(what, "/instance") or {}
        return answer.get("instances") or []

    def list_machines(self):
        items = [i for i in self._list_instances("list managed machines")
                 if MANAGED_TAG in decode_labels(i.get("labels"))]
        return sorted((self._machine(item) for item in items), key=lambda m: (m.name, m.id))

    def refresh_machines(self, machines):
        by_id = {m.id: m for m in machines}
        known = set()
        for item in self._list_instances("check machine states"):
            machine = by_id.get(item.get("id"))
            if machine is None:
                continue
            known.add(machine.id)
            fresh = self._machine(item)
            machine.state, machine.fault = fresh.state, fresh.fault
            machine.public_ip, machine.private_ip = fresh.public_ip, fresh.private_ip
        return known

    # A create mark is an anti-affinity group (survivors.mark_name) holding no machine: free, named, and
    # made without key material (SSH keys of one public key twice are refused on some clouds).
    def put_create_mark(self, deployment, mark_id):
        name = mark_name(deployment, mark_id)
        # Waited for: the mark must be listed before the create is asked. A 409: made by a lost answer.
        operation = self._change("mark a create in flight (anti-affinity group %s)" % name, "POST",
                                 "/anti-affinity-group", body={"name": name, "description": MARK_DESCRIPTION},
                                 exists_ok=True)
        return self._reference_id(operation) or self.create_marks(deployment).get(mark_id)

    def create_marks(self, deployment):
        listing = self._get("look for creates in flight", "/anti-affinity-group") or {}
        by_name = {g.get("name"): g.get("id") for g in listing.get("anti-affinity-groups") or []}
        return {mark_id: by_name[name] for mark_id, name in marks_of(deployment, list(by_name)).items()}

    def delete_create_mark(self, handle):
        # Not waited for: a mark that lingers a moment only makes another run wait that moment.
        try:
            self._request_checked("remove create mark %s" % handle, "DELETE",
                                  api_path("/anti-affinity-group/%s", handle))
        except ProviderError as exc:
            if exc.details.get("http_status") != 404:
                raise

    def ensure_ssh_key(self, public_key):
        """Register ``public_key`` (a PublicKey, or its text) once under its pair name; return the name."""
        public_key = as_public_key(public_key)
        name = public_key.pair_name
        try:
            self._get("look up SSH key %s" % name, api_path("/ssh-key/%s", name))
            return name
        except ProviderError as exc:
            if exc.details.get("http_status") != 404:
                raise

        def register_key():
            try:
                return self._request("POST", "/ssh-key", body={"name": name, "public-key": public_key.line})
            except ExoscaleApiError as exc:
                if exc.status == 409 or (exc.status == 400 and "exist" in exc.message.lower()):
                    return None         # registered by a lost answer or a parallel run: the same key
                raise

        what = "register SSH key %s" % name
        self._wait_operation(self.caller.call(what, register_key), what)
        return name

    def _disk_size(self, placement):
        flavor = self.cloud.flavor(placement.flavor) if placement.flavor else None
        size = (flavor.disk_gb if flavor is not None and flavor.disk_gb else None) or \
            self.cloud.option("disk_size", DEFAULT_DISK_GB)
        try:
            size = int(size)
        except (TypeError, ValueError):
            size = -1
        if not _DISK_RANGE[0] <= size <= _DISK_RANGE[1]:
            raise ProviderError("cloud %s: disk size %r GiB is out of Exoscale's range %d-%d (flavor disk or "
                                "options.disk_size)" % ((self.cloud.name, size) + _DISK_RANGE),
                                cloud=self.cloud.name, key="options.disk_size")
        return size

    def launch(self, request):
        placement, names = request.placement, request.names
        type_id = self._type_id(placement.flavor)
        disk = self._disk_size(placement)
        encode_labels(request.tags_for(max(names, key=len)), self.cloud.name)   # fail before creating
        key_name = self.ensure_ssh_key(request.public_key) if request.public_key else None
        group_ids = self.group_ids(list(placement.security_groups))

        def create_one(name):
            body = {"name": name, "instance-type": {"id": type_id}, "template": {"id": placement.image_id},
                    "disk-size": disk, "public-ip-assignment": "inet4",
                    "labels": encode_labels(request.tags_for(name), self.cloud.name)}
            if group_ids:
                body["security-groups"] = [{"id": group_id} for group_id in group_ids]
            if key_name:
                body["ssh-keys"] = [{"name": key_name}]

            def created_before():
                # The previous try may have created it and lost the answer.
                for item in (self._request("GET", "/instance") or {}).get("instances") or []:
                    found = decode_labels(item.get("labels"))
                    if found.get(REQUEST_TAG) == request.token and found.get(NAME_TAG) == name:
                        return {"state": "success", "reference": {"id": item["id"]}}
                return None

            operation = self._change("create machine %s" % name, "POST", "/instance", body=body,
                                     look_first=created_before)
            instance_id = self._reference_id(operation)
            if not instance_id:
                raise ProviderError("cloud %s: create machine %s: the operation names no instance"
                                    % (self.cloud.name, name), cloud=self.cloud.name)
            return instance_id

        request.stamp()
        ids, errors = map_calls(create_one, names, self.parallel)
        if errors:
            created = [names[i] for i in sorted(ids)]
            first = errors[min(errors)]
            raise ProviderError(
                "%s; %d of %d machine(s) failed%s" % (
                    getattr(first, "msg", first), len(errors), len(names),
                    "; created %s, which carry the deployment's labels so that state=absent removes them"
                    % ", ".join(created) if created else ""),
                cloud=self.cloud.name, failed=[names[i] for i in sorted(errors)], created=created)
        by_id = {item.get("id"): item for item in self._list_instances("list the new machines")}
        machines = []
        for index, name in enumerate(names):
            item = by_id.get(ids[index])
            # Not listed yet: what we know.
            machine = self._machine(item) if item is not None else Machine(cloud=self.cloud.name, name=name,
                                                                           id=ids[index], state="pending")
            machine.name = name
            if machine.flavor is None:
                machine.flavor, machine.cpu, machine.ram_gb = self._flavor_of(type_id)
            machines.append(machine)
        return machines

    def _per_machine(self, verb, machines, method, suffix, body=None, gone_ok=False, new_state=None):
        machines = [m for m in machines if m is not None]

        def one(machine):
            self._change("%s machine %s" % (verb, machine.name), method, api_path("/instance/%s", machine.id) + suffix,
                         body=body, gone_ok=gone_ok)

        dummy, errors = map_calls(one, machines, self.parallel)
        if errors:
            first = errors[min(errors)]
            raise ProviderError("%s (%d of %d machine(s) failed to %s)" % (
                getattr(first, "msg", first), len(errors), len(machines), verb),
                cloud=self.cloud.name, failed=[machines[i].name for i in sorted(errors)])
        for machine in machines:
            if new_state:
                machine.state = new_state
        return machines

    def destroy_machines(self, machines):
        return self._per_machine("destroy", list(machines), "DELETE", "", gone_ok=True, new_state="terminated")

    def stop_machines(self, machines):
        return self._per_machine("stop", list(machines), "PUT", ":stop", new_state="stopped")

    def start_machines(self, machines):
        # start-instance requires a JSON body (rescue-profile is optional): an empty object.
        return self._per_machine("start", list(machines), "PUT", ":start", body={}, new_state="pending")

    # -- security groups ----------------------------------------------------------------------
    @staticmethod
    def _rule_from_api(rule):
        """One ingress rule of the API as a slipway Rule, or None when slipway cannot express it."""
        proto = rule.get("protocol")
        group = rule.get("security-group") or {}
        source = "group:" + group["name"] if group.get("name") else rule.get("network")
        if not source:
            return None
        data = {"source": source}
        if proto in ("tcp", "udp"):
            data.update(proto=proto, ports="%s-%s" % (rule.get("start-port"), rule.get("end-port")))
        elif proto in ("icmp", "icmpv6"):
            icmp = rule.get("icmp") or {}
            data.update(proto="icmp", icmp_type=icmp.get("type", -1), icmp_code=icmp.get("code", -1))
            if data["icmp_type"] in (None, -1) and data["icmp_code"] not in (None, -1):
                data["icmp_code"] = -1
        elif proto == "all":
            data["proto"] = "any"
        else:
            return None              # ah, esp, gre, ipip: left alone, never purged
        try:
            parsed = parse_rules([data])
        except CatalogError:
            return None
        return exo_canonical(parsed[0]) if parsed else None

    def _group(self, item):
        if "rules" not in item:      # the listing normally carries each group's rules
            item = self._get("read security group %s" % item.get("name"),
                             api_path("/security-group/%s", item.get("id"))) or item
        rules, handles = [], {}
        for entry in item.get("rules") or []:
            if entry.get("flow-direction", "ingress") != "ingress":
                continue
            rule = self._rule_from_api(entry)
            if rule is not None:
                rules.append(rule)
                handles.setdefault(rule, []).append(entry.get("id"))
        return SecurityGroup(item.get("name"), item.get("id"), canonical(rules), handles,
                             item.get("description") or "")

    def group_index(self):
        answer = self._get("list security groups", "/security-group") or {}
        return {g.get("name"): self._group(g) for g in answer.get("security-groups") or []}

    def storable_rule(self, rule, where):
        return exo_canonical(rule, where)

    def _rule_body(self, rule):
        body = {"flow-direction": "ingress"}
        is_v6 = not rule.source.startswith("group:") and ":" in rule.source
        if rule.source.startswith("group:"):
            # security-group-resource's id is readOnly in the API document: refer by name.
            body["security-group"] = {"name": rule.source[len("group:"):]}
        else:
            body["network"] = rule.source
        if rule.proto in ("tcp", "udp"):
            body.update({"protocol": rule.proto, "start-port": rule.port_from, "end-port": rule.port_to})
        elif rule.proto == "icmp":
            body["protocol"] = "icmpv6" if is_v6 else "icmp"
            body["icmp"] = {"type": -1 if rule.port_from is None else rule.port_from,
                            "code": -1 if rule.port_to is None else rule.port_to}
        else:
            body["protocol"] = "all"
        return body

    def add_rules(self, group, rules, index):
        for rule in rules:
            def added_before(rule=rule):     # a lost answer may have added it
                item = self._request("GET", api_path("/security-group/%s", group.id)) or {}
                return {"state": "success"} if rule in self._group(dict(item, rules=item.get("rules") or [])).rules \
                    else None

            self._change("add rule %s %s from %s to security group %s" % (
                rule.proto, "" if rule.port_from is None else rule.port_from, rule.source, group.name),
                "POST", api_path("/security-group/%s/rules", group.id), body=self._rule_body(rule),
                look_first=added_before, exists_ok=True)

    def remove_rules(self, group, rules, index):
        for rule in rules:
            for rule_id in group.handles.get(rule, []):
                self._change("remove a rule of security group %s" % group.name, "DELETE",
                             api_path("/security-group/%s/rules/%s", group.id, rule_id), gone_ok=True)

    def create_group(self, name, description):
        def made_before():
            for group in (self._request("GET", "/security-group") or {}).get("security-groups") or []:
                if group.get("name") == name:
                    return {"state": "success", "reference": {"id": group["id"]}}
            return None

        body = {"name": name}
        if description:
            body["description"] = str(description)[:255]
        operation = self._change("create security group %s" % name, "POST", "/security-group", body=body,
                                 look_first=made_before, exists_ok=True)
        return self._reference_id(operation) or self.group_index()[name].id

    def delete_group(self, group):
        self._change("delete security group %s" % group.name, "DELETE", api_path("/security-group/%s", group.id),
                     gone_ok=True)

    # -- images ----------------------------------------------------------------------------------
    def search_images(self, lookup):
        visibility = lookup.get("visibility", "public")
        if visibility not in ("public", "private"):
            raise ProviderError("cloud %s: image lookup visibility must be public or private, got %r"
                                % (self.cloud.name, visibility), cloud=self.cloud.name, key="image_lookup.visibility")
        query = {"visibility": visibility}
        if lookup.get("family"):
            query["family"] = lookup["family"]
        answer = self._get("look up templates named %s" % lookup["name"], "/template", query) or {}
        return [{"id": item.get("id"), "name": item.get("name"), "owner": item.get("maintainer"),
                 "creation_date": item.get("created-at"), "version": item.get("version"),
                 "build": item.get("build"), "login_user": item.get("default-user")}
                for item in answer.get("templates") or []
                if (not lookup.get("owner") or item.get("maintainer") == lookup["owner"])
                and self._in_zone(item.get("zones"))]

    def lookup_scope(self, lookup):
        return "%s template in zone %s" % (lookup.get("visibility", "public"), self.zone or "(endpoint)")

    def close(self):
        """Nothing is kept open: urllib opens one connection per request."""


def exo_canonical(rule, where=None):
    """A Rule as Exoscale can store it: tcp/udp ports start at 1."""
    return ports_from_one(rule, "Exoscale", where)
