# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 family: AWS and anything speaking its query API (moto in the tests).

The query API over the standard library (ec2_query.py: SigV4, kept-alive HTTP, XML), with what
a fleet needs and libcloud's per-node methods lack: one RunInstances for N machines
(MinCount=MaxCount=N), one DescribeInstances for the listing, one Terminate/Stop/StartInstances
for a batch, one Authorize/Revoke call per group change.

Retries: every call goes through ``Caller`` (full-jitter backoff, bounded). A
create is made safe to retry twice over: EC2's ClientToken, and (because moto
ignores ClientToken) a ``slipway:request`` tag that is looked for before any
retry re-sends RunInstances, so a lost answer never becomes a duplicate fleet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import dataclasses
import datetime
import fnmatch
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

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
from ansible_collections.slipway.cloud.plugins.module_utils.providers import libcloud_compat as compat
from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2_query import REGION_PATTERN, Ec2QueryClient
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import (
    Provider,
    register,
    resolve_credentials,
    ssh_key_name,
)
from ansible_collections.slipway.cloud.plugins.module_utils.retry import error_code, is_transient
from ansible_collections.slipway.cloud.plugins.module_utils.rules import canonical, diff_rules, parse_rules


DEFAULT_REGION = "us-east-1"
DEFAULT_CREDENTIALS = (("key", "AWS_ACCESS_KEY_ID"), ("secret", "AWS_SECRET_ACCESS_KEY"))
_KEY_ARGS = ("key", "access_key", "access_key_id", "aws_access_key_id")
_SECRET_ARGS = ("secret", "secret_key", "secret_access_key", "aws_secret_access_key")
_TOKEN_ARGS = ("token", "session_token", "security_token", "aws_session_token")
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_BATCH = 200                              # instance ids per Describe/Terminate call
_MAX_TAGS = 50                            # EC2's limit per resource
_LOOKUP_KEYS = ("name", "owner", "architecture")
#: catalog options of an ec2 cloud, beside libcloud_compat.COMMON_OPTIONS
EC2_OPTIONS = {
    "subnet_id": str,           # machines go there (default: the region's default VPC subnet)
    "vpc_id": str,              # security groups live there (default: the subnet's VPC)
    "availability_zone": str,   # pick the default subnet of this zone
    "parallel_requests": int,   # concurrent per-machine calls (naming a fleet), default 4
}
_PROTO_TO_EC2 = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "any": "-1"}


def _not_yet_visible(exc):
    """Transient, or EC2's eventual consistency: an instance id unknown right after RunInstances."""
    return is_transient(exc) or error_code(exc) == "InvalidInstanceID.NotFound"


def _text(element, path, default=None):
    value = element.findtext(path) if element is not None else None
    return value if value is not None else default


def _tags(element):
    return {_text(item, "key"): _text(item, "value", "") for item in element.findall("tagSet/item")}


def _epoch(timestamp):
    """EC2's ISO time ("2024-05-01T12:00:00.000Z") as epoch seconds, or None."""
    if not timestamp:
        return None
    text = timestamp.strip().replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        try:
            return datetime.datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            return None


class Ec2Provider(Provider):
    family = "ec2"
    capabilities = frozenset(("security_groups", "stop_start", "image_lookup"))

    def __init__(self, cloud, environ=None):
        environ = os.environ if environ is None else environ
        if not cloud.credentials:
            cloud = dataclasses.replace(cloud, credentials=DEFAULT_CREDENTIALS)
        self.cloud = cloud
        self.credentials = resolve_credentials(cloud, environ)
        key = self._credential(_KEY_ARGS)
        secret = self._credential(_SECRET_ARGS)
        token = self._credential(_TOKEN_ARGS, required=False)

        compat.check_options(cloud, EC2_OPTIONS)
        region = str(cloud.region or DEFAULT_REGION)
        if not REGION_PATTERN.match(region):
            raise ProviderError("cloud %s: region %r is not an EC2 region name like us-east-1, eu-central-2 or "
                                "us-gov-west-1" % (cloud.name, region), cloud=cloud.name, key="region")
        self.region = region
        if cloud.endpoint:
            compat.split_endpoint(cloud.endpoint)      # one clear error for anything but http(s)://host[:port]
        ca_bundle = environ.get("AWS_CA_BUNDLE") or None
        try:
            self.client = Ec2QueryClient(region, key, secret, token=token or None, endpoint=cloud.endpoint,
                                         timeout=float(cloud.option("http_timeout", 30)), ca_bundle=ca_bundle)
        except OSError as exc:      # a missing file, or ssl.SSLError (an OSError) for one that is not PEM
            raise ProviderError("cloud %s: environment variable AWS_CA_BUNDLE names %r, which is not a readable PEM "
                                "file of certificate authorities (%s); fix or unset it to trust the system's"
                                % (cloud.name, ca_bundle, exc), cloud=cloud.name, key="AWS_CA_BUNDLE")
        self.endpoint = cloud.endpoint or "EC2 in %s" % region
        self.parallel = max(1, int(cloud.option("parallel_requests", 4)))
        retry_options = {name: cloud.option("retry_" + name) for name in compat.DEFAULT_RETRY}
        self.caller = compat.Caller(cloud, self.endpoint, [key, secret, token], retry_options)
        self._network_cache = None
        self._type_cache = {}
        self._image_cache = {}

    def _credential(self, names, required=True):
        for name in names:
            if self.credentials.get(name):
                return self.credentials[name]
        if required:
            raise ProviderError(
                "cloud %s: the catalog names no environment variable for the EC2 %r credential "
                "(credentials: {%s: ENV_VAR_NAME})" % (self.cloud.name, names[0], names[0]),
                cloud=self.cloud.name, key="credentials." + names[0])
        return None

    # -- the query API -------------------------------------------------------------
    def _request(self, params):
        return self.client.call(params)

    def _call(self, what, params, transient=is_transient):
        return self.caller.call(what, lambda: self._request(params), transient)

    def _pages(self, what, params, item_path):
        """Every item of a paginated Describe* call (normally one page, one call)."""
        items = []
        params = dict(params)
        for dummy in range(1000):
            root = self._call(what, params)
            items.extend(root.findall(item_path))
            token = _text(root, "nextToken")
            if not token:
                return items
            params["NextToken"] = token
        raise ProviderError("cloud %s: %s returned more than 1000 pages" % (self.cloud.name, what),
                            cloud=self.cloud.name)

    @staticmethod
    def _filters(filters):
        params = {}
        for index, (name, values) in enumerate(sorted(filters.items()), 1):
            params["Filter.%d.Name" % index] = name
            for value_index, value in enumerate(values if isinstance(values, (list, tuple)) else [values], 1):
                params["Filter.%d.Value.%d" % (index, value_index)] = value
        return params

    @staticmethod
    def _ids(key, ids):
        return {"%s.%d" % (key, index): value for index, value in enumerate(ids, 1)}

    # -- network -------------------------------------------------------------------
    def _network(self):
        """(vpc_id, subnet_id) machines go to: options.subnet_id, else the region's default VPC."""
        if self._network_cache:
            return self._network_cache
        subnet_id = self.cloud.option("subnet_id")
        if subnet_id:
            params = dict(Action="DescribeSubnets", **self._ids("SubnetId", [subnet_id]))
            what = "find subnet %s" % subnet_id
        else:
            filters = {"default-for-az": "true"}
            if self.cloud.option("availability_zone"):
                filters["availability-zone"] = self.cloud.option("availability_zone")
            params = dict(Action="DescribeSubnets", **self._filters(filters))
            what = "find the default VPC subnet"
        subnets = self._pages(what, params, "subnetSet/item")
        if not subnets:
            raise ProviderError(
                "cloud %s: no %s in region %s; set options.subnet_id in the catalog"
                % (self.cloud.name, "subnet " + subnet_id if subnet_id else "default VPC subnet", self.region),
                cloud=self.cloud.name, key="options.subnet_id")
        subnets.sort(key=lambda s: (_text(s, "availabilityZone", ""), _text(s, "subnetId", "")))
        chosen = subnets[0]
        self._network_cache = (self.cloud.option("vpc_id") or _text(chosen, "vpcId"), _text(chosen, "subnetId"))
        return self._network_cache

    # -- sizes -----------------------------------------------------------------------
    def list_sizes(self, names=None):
        """[Flavor] from DescribeInstanceTypes: the cloud's own vCPU and memory figures."""
        params = {"Action": "DescribeInstanceTypes"}
        if names:
            params.update(self._ids("InstanceType", sorted(set(names))))
        items = self._pages("list instance types", params, "instanceTypeSet/item")
        flavors = []
        for item in items:
            name = _text(item, "instanceType")
            cpu = _text(item, "vCpuInfo/defaultVCpus")
            mib = _text(item, "memoryInfo/sizeInMiB")
            flavor = Flavor(name=name, cpu=int(cpu) if cpu else None,
                            ram_gb=round(int(mib) / 1024.0, 3) if mib else None)
            self._type_cache[name] = (flavor.cpu, flavor.ram_gb)
            flavors.append(flavor)
        flavors.sort(key=lambda f: (f.cpu or 0, f.ram_gb or 0, f.name))
        return flavors

    def _type_info(self, instance_types):
        """Fill the (vcpu, ram_gb) cache for these types: the catalog's flavors, else one API call."""
        missing = [t for t in set(instance_types) if t and t not in self._type_cache]
        unknown = []
        for name in missing:
            flavor = self.cloud.flavor(name)
            if flavor is not None and flavor.cpu is not None and flavor.ram_gb is not None:
                self._type_cache[name] = (flavor.cpu, flavor.ram_gb)
            else:
                unknown.append(name)
        if unknown:
            try:
                self.list_sizes(unknown)
            except ProviderError:
                pass                        # the figures are informative; a listing must not fail on them
            for name in unknown:
                self._type_cache.setdefault(name, (None, None))

    # -- machines ----------------------------------------------------------------------
    def _machine(self, item):
        tags = _tags(item)
        instance_type = _text(item, "instanceType")
        cpu, ram_gb = self._type_cache.get(instance_type, (None, None))
        instance_id = _text(item, "instanceId")
        timings = {}
        launched = _epoch(_text(item, "launchTime"))
        if launched:
            timings["launched_at"] = launched
        return Machine(
            cloud=self.cloud.name,
            name=tags.get(NAME_TAG) or tags.get("Name") or instance_id,
            id=instance_id,
            state=compat.machine_state(_text(item, "instanceState/name")),
            image=tags.get(IMAGE_TAG),
            image_id=_text(item, "imageId"),
            flavor=instance_type,
            cpu=cpu,
            ram_gb=ram_gb,
            login_user=tags.get(LOGIN_USER_TAG),
            public_ip=_text(item, "ipAddress"),
            private_ip=_text(item, "privateIpAddress"),
            deployment=tags.get(DEPLOYMENT_TAG),
            tags=tags,
            host_keys=[],       # EC2 shows host keys only inside console output; we do not guess
            timings=timings,
        )

    def _describe_instances(self, what, filters=None, ids=None):
        params = {"Action": "DescribeInstances"}
        if filters:
            params.update(self._filters(filters))
        if ids:
            params.update(self._ids("InstanceId", ids))
        return self._pages(what, params, "reservationSet/item/instancesSet/item")

    def _to_machines(self, items):
        self._type_info([_text(item, "instanceType") for item in items])
        machines = [self._machine(item) for item in items]
        machines.sort(key=lambda m: (m.name, m.id))
        return machines

    def list_machines(self):
        items = self._describe_instances("list managed machines",
                                         filters={"tag-key": MANAGED_TAG, "instance-state-name": _LIVE_STATES})
        return self._to_machines(items)

    def ensure_key_pair(self, public_key):
        """Import ``public_key`` once under a name derived from it; return the name."""
        name, material = ssh_key_name(public_key)
        params = dict(Action="DescribeKeyPairs", **self._filters({"key-name": name}))
        if self._call("look up key pair %s" % name, params).findall("keySet/item"):
            return name
        params = {"Action": "ImportKeyPair", "KeyName": name,
                  "PublicKeyMaterial": base64.b64encode(material.encode("ascii")).decode("ascii"),
                  "TagSpecification.1.ResourceType": "key-pair",
                  "TagSpecification.1.Tag.1.Key": MANAGED_TAG, "TagSpecification.1.Tag.1.Value": "true"}
        try:
            self._call("import key pair %s" % name, params)
        except ProviderError as exc:
            if exc.details.get("code") != "InvalidKeyPair.Duplicate":   # a retry after a lost answer, or a race
                raise
        return name

    def _group_ids(self, names):
        """{name: id} for these group names in our VPC; an unknown name is an error."""
        if not names:
            return {}
        groups = self._describe_groups(names)
        found = {_text(g, "groupName"): _text(g, "groupId") for g in groups}
        missing = [name for name in names if name not in found]
        if missing:
            raise ProviderError(
                "cloud %s: security group(s) %s do not exist in VPC %s; define them in the catalog "
                "(they are ensured before machines are created) or create them on the cloud"
                % (self.cloud.name, ", ".join(missing), self._network()[0]),
                cloud=self.cloud.name, security_groups=missing)
        return found

    def create_machines(self, placement, names, ssh_public_key, tags):
        names = self.fleet_names(placement, names)
        if not names:
            return []
        image_id = placement.image_id or self.resolve_image_lookup(placement.image_lookup)
        key_name = self.ensure_key_pair(ssh_public_key) if ssh_public_key else None
        subnet_id = self._network()[1]
        group_ids = self._group_ids(list(placement.security_groups))

        token = uuid.uuid4().hex
        common = dict(tags or {})
        common.setdefault(MANAGED_TAG, "true")
        common.setdefault(IMAGE_TAG, placement.image)
        if placement.login_user:
            common.setdefault(LOGIN_USER_TAG, placement.login_user)
        common[REQUEST_TAG] = token
        if len(names) == 1:
            common.update({"Name": names[0], NAME_TAG: names[0]})
        if len(common) + (2 if len(names) > 1 else 0) > _MAX_TAGS:
            raise ProviderError("cloud %s: EC2 allows %d tags per machine, asked for %d"
                                % (self.cloud.name, _MAX_TAGS, len(common) + 2), cloud=self.cloud.name)

        params = {"Action": "RunInstances", "ImageId": image_id, "InstanceType": placement.flavor,
                  "MinCount": str(len(names)), "MaxCount": str(len(names)), "ClientToken": token,
                  "SubnetId": subnet_id, "TagSpecification.1.ResourceType": "instance"}
        if key_name:
            params["KeyName"] = key_name
        params.update(self._ids("SecurityGroupId", [group_ids[g] for g in placement.security_groups]))
        for index, (key, value) in enumerate(sorted(common.items()), 1):
            params["TagSpecification.1.Tag.%d.Key" % index] = key
            params["TagSpecification.1.Tag.%d.Value" % index] = str(value)

        requested_at = time.time()
        items = self._run_instances(params, token, len(names))
        items.sort(key=lambda item: int(_text(item, "amiLaunchIndex", "0")))
        machines = self._to_machines(items)
        by_id = {m.id: m for m in machines}
        ordered = [by_id[_text(item, "instanceId")] for item in items]
        if len(names) > 1:
            try:
                self._name_all(list(zip(names, ordered)))
            except ProviderError as exc:
                # They exist and carry the deployment tag, so `absent` finds them; say which.
                raise ProviderError(
                    "%s; %d machine(s) were created (ids %s) and carry tags %s, so a run with "
                    "state=absent and the same deployment removes them"
                    % (exc.msg, len(ordered), ", ".join(m.id for m in ordered),
                       ", ".join(sorted(k for k in common if k != REQUEST_TAG))),
                    created=[m.id for m in ordered], **exc.details)
        for name, machine in zip(names, ordered):
            machine.name = name
            machine.tags.update(common)
            machine.tags.update({"Name": name, NAME_TAG: name})
            machine.image = placement.image
            machine.deployment = machine.tags.get(DEPLOYMENT_TAG)
            machine.login_user = placement.login_user
            machine.timings["requested_at"] = requested_at
        return ordered

    def _name_all(self, pairs):
        """One CreateTags per machine (each name differs), ``parallel_requests`` at a time."""
        def name_one(pair):
            name, machine = pair
            self._tag([machine.id], {"Name": name, NAME_TAG: name}, "name machine %s" % name)

        if self.parallel == 1 or len(pairs) == 1:
            for pair in pairs:
                name_one(pair)
            return
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(pairs))) as pool:
            for future in [pool.submit(name_one, pair) for pair in pairs]:
                future.result()             # the first failure is raised, after all have finished

    def _run_instances(self, params, token, count):
        attempts = []

        def run():
            attempts.append(1)
            if len(attempts) > 1:
                # The previous try may have launched them and lost the answer: look first.
                found = self._describe_instances_once({REQUEST_TAG: token})
                if found:
                    return found
            items = self._request(params).findall("instancesSet/item")
            if len(items) != count:
                raise ProviderError("cloud %s: asked EC2 for %d machines, got %d"
                                    % (self.cloud.name, count, len(items)), cloud=self.cloud.name)
            return items

        return self.caller.call("create %d machine(s)" % count, run)

    def _describe_instances_once(self, tag_filters):
        params = dict(Action="DescribeInstances",
                      **self._filters({"tag:" + key: value for key, value in tag_filters.items()}))
        return self._request(params).findall("reservationSet/item/instancesSet/item")

    def _tag(self, ids, tags, what):
        params = {"Action": "CreateTags"}
        params.update(self._ids("ResourceId", ids))
        for index, (key, value) in enumerate(sorted(tags.items()), 1):
            params["Tag.%d.Key" % index] = key
            params["Tag.%d.Value" % index] = str(value)
        self._call(what, params, _not_yet_visible)

    def _batch_state_change(self, action, verb, machines):
        machines = [m for m in machines if m is not None]
        by_id = {m.id: m for m in machines}
        for start in range(0, len(machines), _BATCH):
            chunk = [m.id for m in machines[start:start + _BATCH]]
            params = dict(Action=action, **self._ids("InstanceId", chunk))
            root = self._call("%s %d machine(s)" % (verb, len(chunk)), params)
            for item in root.findall("instancesSet/item"):
                machine = by_id.get(_text(item, "instanceId"))
                if machine is not None:
                    machine.state = compat.machine_state(_text(item, "currentState/name"))
        return machines

    def destroy_machines(self, machines):
        return self._batch_state_change("TerminateInstances", "destroy", list(machines))

    def stop_machines(self, machines):
        return self._batch_state_change("StopInstances", "stop", list(machines))

    def start_machines(self, machines):
        return self._batch_state_change("StartInstances", "start", list(machines))

    def wait_machines(self, machines, until, timeout):
        """Poll (one DescribeInstances per round for all machines) until running, or SSH answers.

        Bounded by ``timeout``. ``until="ssh"`` probes port 22 of each machine's address
        for an SSH banner; clouds whose addresses must not be probed (moto: its addresses
        are made up) set ``options.ssh_probe: false`` and get a clear error instead.
        """
        self.check_wait(until)
        machines = list(machines)
        by_id = {m.id: m for m in machines}

        def done(machine):
            if until == "running":
                return machine.state == "running"
            return "ssh_ready_at" in machine.timings

        def check():
            waiting = [m.id for m in machines if m.state != "running"]
            for start in range(0, len(waiting), _BATCH):
                params = dict(Action="DescribeInstances", **self._ids("InstanceId", waiting[start:start + _BATCH]))
                root = self._call("check machine states", params, _not_yet_visible)
                for item in root.findall("reservationSet/item/instancesSet/item"):
                    machine = by_id.get(_text(item, "instanceId"))
                    if machine is None:
                        continue
                    machine.state = compat.machine_state(_text(item, "instanceState/name"))
                    machine.public_ip = _text(item, "ipAddress")
                    machine.private_ip = _text(item, "privateIpAddress")
            now = time.time()
            gone = [m for m in machines if m.state == "terminated"]
            if gone:
                raise ProviderError("cloud %s: machine(s) terminated while waiting for them: %s"
                                    % (self.cloud.name, ", ".join(m.name for m in gone)),
                                    cloud=self.cloud.name, machines=[m.name for m in gone])
            for machine in machines:
                if machine.state == "running":
                    machine.timings.setdefault("running_at", now)
            if until == "ssh":
                ready = [m for m in machines if m.state == "running" and "ssh_ready_at" not in m.timings]
                for machine_id, banner in compat.probe_ssh(ready).items():
                    if banner:
                        by_id[machine_id].timings["ssh_ready_at"] = time.time()
            return all(done(m) for m in machines)

        if not compat.poll_until(check, timeout):
            raise compat.timeout_error(self.cloud.name, until, timeout, [m for m in machines if not done(m)])
        return machines

    # -- security groups -------------------------------------------------------------
    def _describe_groups(self, names=None):
        filters = {"vpc-id": self._network()[0]}
        if names:
            filters["group-name"] = list(names)
        params = dict(Action="DescribeSecurityGroups", **self._filters(filters))
        return self._pages("list security groups", params, "securityGroupInfo/item")

    @staticmethod
    def _group_rules(group, name_by_id):
        """The ingress rules of one DescribeSecurityGroups item as canonical Rules."""
        written = []
        for perm in group.findall("ipPermissions/item"):
            proto = _text(perm, "ipProtocol")
            from_port = _text(perm, "fromPort")
            to_port = _text(perm, "toPort")
            sources = [_text(r, "cidrIp") for r in perm.findall("ipRanges/item")]
            sources += [_text(r, "cidrIpv6") for r in perm.findall("ipv6Ranges/item")]
            for pair in perm.findall("groups/item"):
                group_id = _text(pair, "groupId")
                sources.append("group:" + name_by_id.get(group_id, _text(pair, "groupName") or group_id))
            for source in sources:
                rule = {"proto": proto, "source": source}
                if proto in ("icmp", "1", "icmpv6", "58"):
                    rule.update(icmp_type=from_port, icmp_code=to_port)
                elif proto not in ("-1", "all"):
                    rule["ports"] = "%s-%s" % (from_port, to_port)
                try:
                    parse_rules([rule])
                except CatalogError:
                    continue        # a protocol slipway cannot express (ESP, GRE...): left alone, never purged
                written.append(rule)
        return list(parse_rules(written, where="security group %s" % _text(group, "groupName")))

    def list_security_groups(self):
        groups = self._describe_groups()
        name_by_id = {_text(g, "groupId"): _text(g, "groupName") for g in groups}
        return {_text(g, "groupName"): self._group_rules(g, name_by_id) for g in groups}

    def _permission_params(self, rules, id_by_name):
        params = {}
        for index, rule in enumerate(rules, 1):
            prefix = "IpPermissions.%d." % index
            is_v6 = ":" in rule.source and not rule.source.startswith("group:")
            proto = _PROTO_TO_EC2[rule.proto]
            if rule.proto == "icmp" and is_v6:
                proto = "58"
            params[prefix + "IpProtocol"] = proto
            if rule.proto in ("tcp", "udp"):
                params[prefix + "FromPort"] = str(rule.port_from)
                params[prefix + "ToPort"] = str(rule.port_to)
            elif rule.proto == "icmp":
                params[prefix + "FromPort"] = str(-1 if rule.port_from is None else rule.port_from)
                params[prefix + "ToPort"] = str(-1 if rule.port_to is None else rule.port_to)
            if rule.source.startswith("group:"):
                params[prefix + "Groups.1.GroupId"] = id_by_name[rule.source[len("group:"):]]
            elif is_v6:
                params[prefix + "Ipv6Ranges.1.CidrIpv6"] = rule.source
            else:
                params[prefix + "IpRanges.1.CidrIp"] = rule.source
        return params

    def _change_rules(self, action, group_id, name, rules, id_by_name, tolerated):
        """Authorize or revoke ``rules`` in one call; after a lost answer, only what is still to do."""
        attempts = []
        what = "%s %d rule(s) of security group %s" % ("add" if action.startswith("Authorize") else "remove",
                                                       len(rules), name)

        def transient(exc):
            return is_transient(exc) or error_code(exc) == tolerated

        def change():
            attempts.append(1)
            todo = list(rules)
            if len(attempts) > 1:
                params = dict(Action="DescribeSecurityGroups", **self._ids("GroupId", [group_id]))
                group = self._request(params).find("securityGroupInfo/item")
                current = set(self._group_rules(group, {v: k for k, v in id_by_name.items()}))
                todo = [r for r in rules if (r in current) != action.startswith("Authorize")]
                if not todo:
                    return
            params = dict(Action=action, GroupId=group_id, **self._permission_params(todo, id_by_name))
            self._request(params)

        self.caller.call(what, change, transient)

    def ensure_security_group(self, name, description, rules, purge_rules=True, check_mode=False):
        wanted = parse_rules(rules, where="security group %s rules" % name)
        groups = self._describe_groups()
        id_by_name = {_text(g, "groupName"): _text(g, "groupId") for g in groups}
        name_by_id = {v: k for k, v in id_by_name.items()}
        referenced = sorted({r.source[len("group:"):] for r in wanted if r.source.startswith("group:")})
        unknown = [g for g in referenced if g not in id_by_name and g != name]
        if unknown:
            raise ProviderError(
                "cloud %s: security group %s has rules from group(s) %s, which do not exist in VPC %s"
                % (self.cloud.name, name, ", ".join(unknown), self._network()[0]),
                cloud=self.cloud.name, security_group=name, missing=unknown)
        existing = next((g for g in groups if _text(g, "groupName") == name), None)

        if existing is None:
            if check_mode:
                return {"changed": True, "before": None, "after": list(wanted), "id": None}
            group_id = self._create_group(name, description)
            id_by_name[name] = group_id
            if wanted:
                self._change_rules("AuthorizeSecurityGroupIngress", group_id, name, wanted, id_by_name,
                                   "InvalidPermission.Duplicate")
            return {"changed": True, "before": None, "after": list(wanted), "id": group_id}

        group_id = _text(existing, "groupId")
        current = canonical(self._group_rules(existing, name_by_id))
        to_add, to_remove = diff_rules(current, wanted)
        if not purge_rules:
            to_remove = ()
        after = canonical((set(current) - set(to_remove)) | set(to_add))
        if not check_mode:
            if to_remove:
                self._change_rules("RevokeSecurityGroupIngress", group_id, name, to_remove, id_by_name,
                                   "InvalidPermission.NotFound")
            if to_add:
                self._change_rules("AuthorizeSecurityGroupIngress", group_id, name, to_add, id_by_name,
                                   "InvalidPermission.Duplicate")
        return {"changed": bool(to_add or to_remove), "before": list(current), "after": list(after),
                "id": group_id}

    def _create_group(self, name, description):
        vpc_id = self._network()[0]
        attempts = []

        def create():
            attempts.append(1)
            if len(attempts) > 1:
                params = dict(Action="DescribeSecurityGroups",
                              **self._filters({"vpc-id": vpc_id, "group-name": name}))
                found = self._request(params).findall("securityGroupInfo/item")
                if found:
                    return _text(found[0], "groupId")
            params = {"Action": "CreateSecurityGroup", "GroupName": name, "VpcId": vpc_id,
                      "GroupDescription": description or "slipway.cloud security group %s" % name,
                      "TagSpecification.1.ResourceType": "security-group",
                      "TagSpecification.1.Tag.1.Key": MANAGED_TAG, "TagSpecification.1.Tag.1.Value": "true"}
            return _text(self._request(params), "groupId")

        def transient(exc):
            return is_transient(exc) or error_code(exc) == "InvalidGroup.Duplicate"

        return self.caller.call("create security group %s" % name, create, transient)

    def delete_security_group(self, name, check_mode=False):
        groups = self._describe_groups([name])
        if not groups:
            return {"changed": False, "before": None, "after": None}
        name_by_id = {_text(g, "groupId"): _text(g, "groupName") for g in groups}
        before = self._group_rules(groups[0], name_by_id)
        if not check_mode:
            group_id = _text(groups[0], "groupId")
            try:
                self._call("delete security group %s" % name, {"Action": "DeleteSecurityGroup", "GroupId": group_id})
            except ProviderError as exc:
                if exc.details.get("code") != "InvalidGroup.NotFound":     # gone after a lost answer: done
                    raise
        return {"changed": True, "before": before, "after": None}

    # -- images ------------------------------------------------------------------------
    def find_images(self, lookup):
        """Images matching {"name": glob, "owner": ..., "architecture": ...}, newest first."""
        if not isinstance(lookup, dict) or not lookup.get("name"):
            raise ProviderError("cloud %s: an image lookup needs at least a name pattern, e.g. "
                                "{name: 'debian-12-amd64-*', owner: '136693071363'}; got %r"
                                % (self.cloud.name, lookup), cloud=self.cloud.name, key="image_lookup")
        unknown = sorted(set(lookup) - set(_LOOKUP_KEYS))
        if unknown:
            raise ProviderError("cloud %s: unknown image lookup key(s) %s; valid: %s"
                                % (self.cloud.name, ", ".join(unknown), ", ".join(_LOOKUP_KEYS)),
                                cloud=self.cloud.name, key="image_lookup")
        params = {"Action": "DescribeImages"}
        owners = lookup.get("owner")
        if owners:
            params.update(self._ids("Owner", owners if isinstance(owners, (list, tuple)) else [owners]))
        filters = {"name": lookup["name"], "state": "available"}
        if lookup.get("architecture"):
            filters["architecture"] = lookup["architecture"]
        params.update(self._filters(filters))
        items = self._pages("look up images named %s" % lookup["name"], params, "imagesSet/item")
        images = [{"id": _text(i, "imageId"), "name": _text(i, "name"), "owner": _text(i, "imageOwnerId"),
                   "creation_date": _text(i, "creationDate"), "architecture": _text(i, "architecture")}
                  for i in items if fnmatch.fnmatchcase(_text(i, "name", ""), lookup["name"])]
        images.sort(key=lambda i: (_epoch(i["creation_date"]) or 0, i["name"] or "", i["id"]), reverse=True)
        return images

    def resolve_image_lookup(self, lookup):
        if not lookup:
            raise ProviderError("cloud %s: the image has neither an image_id nor an image lookup for this cloud"
                                % self.cloud.name, cloud=self.cloud.name)
        key = repr(sorted(lookup.items())) if isinstance(lookup, dict) else repr(lookup)
        if key not in self._image_cache:
            images = self.find_images(lookup)
            if not images:
                raise ProviderError(
                    "cloud %s: no available image in %s matches name %r%s"
                    % (self.cloud.name, self.region, lookup["name"],
                       " owned by %s" % lookup["owner"] if lookup.get("owner") else ""),
                    cloud=self.cloud.name, lookup=dict(lookup))
            self._image_cache[key] = images[0]["id"]
        return self._image_cache[key]

    def close(self):
        self.client.close()


register("ec2", Ec2Provider)
