# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 family: AWS and anything speaking its query API (moto in the tests).

EC2's primitives over the query API (query.py: SigV4, kept-alive HTTP, XML), written for
fleets: one RunInstances for N machines (MinCount=MaxCount=N), one DescribeInstances for the
listing, one Terminate/Stop/StartInstances per batch, one Authorize/Revoke call per group change.
The algorithms (waits, lookups, group converge) are the base's (base.py).

A create is safe to retry twice over: EC2's ClientToken, and (because moto ignores ClientToken) the
``slipway:request`` tag, looked for before any retry re-sends RunInstances.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib

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
    split_endpoint,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.query import (
    REGION_PATTERN,
    Ec2ApiError,
    Ec2QueryClient,
    filter_params,
    id_params,
    tag_params,
    tags_of,
    text_of,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.settings import credential_source
from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import (
    MARK_PUBLIC_KEY,
    mark_name,
    mark_prefix,
    marks_of,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.retry import error_code, is_transient
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import canonical, parse_rules
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import as_public_key


DEFAULT_REGION = "us-east-1"
_KEY_ARGS = ("key", "access_key", "access_key_id", "aws_access_key_id")
_SECRET_ARGS = ("secret", "secret_key", "secret_access_key", "aws_secret_access_key")
_TOKEN_ARGS = ("token", "session_token", "security_token", "aws_session_token")
#: read with the standard AWS_ACCESS_KEY_ID when the catalog names no token (as the AWS tools do)
SESSION_TOKEN_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_BATCH = 200                              # instance ids per Describe/Terminate call
_MAX_TAGS = 50                            # EC2's limit per resource
_TAG_VALUE_MAX = 256                      # characters of one tag value
FLEET_NAMES_TAG = "slipway:names"         # a fleet's names in launch order, so a machine is named from birth
_PROTO_TO_EC2 = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "any": "-1"}


def _not_yet_visible(exc):
    """Transient, or EC2's eventual consistency: an instance id unknown right after RunInstances."""
    return is_transient(exc) or error_code(exc) == "InvalidInstanceID.NotFound"


def fleet_name_tags(names):
    """The names of one RunInstances in launch order, as tags: ``slipway:names``, ``slipway:names:2``, ...
    each at most 256 characters. Machine i of the reservation is named names[i] from the moment it exists,
    before the per-machine name tags follow: a run listing the cloud meanwhile sees every name."""
    chunks, current = [], ""
    for name in names:
        if current and len(current) + 1 + len(name) > _TAG_VALUE_MAX:
            chunks.append(current)
            current = ""
        current = name if not current else current + " " + name
    chunks.append(current)
    return {FLEET_NAMES_TAG + ("" if index == 0 else ":%d" % (index + 1)): chunk
            for index, chunk in enumerate(chunks)}


def launch_name(tags, launch_index):
    """The name a machine was launched for, from its reservation's fleet name tags, or None."""
    names = []
    for index in range(1, _MAX_TAGS + 1):
        chunk = tags.get(FLEET_NAMES_TAG + ("" if index == 1 else ":%d" % index))
        if chunk is None:
            break
        names.extend(chunk.split())
    try:
        return names[int(launch_index)]
    except (IndexError, TypeError, ValueError):
        return None


def client_token(cloud_name, request):
    """EC2's idempotency token for a create: the same for every run of the same task (deployment, cloud,
    image, flavor, names), so that runs at once get one reservation on EC2 (which honours it for a while)."""
    placement = request.placement
    text = "\n".join(["slipway", cloud_name, request.tags.get(DEPLOYMENT_TAG, ""), placement.image_id or "",
                      placement.flavor or ""] + sorted(request.names))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()          # 64 characters, EC2's limit


class Ec2Provider(Provider):
    family = "ec2"
    capabilities = frozenset(("security_groups", "stop_start", "image_lookup"))
    CREATE_MARKS = True                # the survivor rule's marks (put_create_mark below)
    OPTIONS = dict(API_OPTIONS, **{
        "subnet_id": str,           # machines go there (default: the region's default VPC subnet)
        "vpc_id": str,              # security groups live there (default: the subnet's VPC)
        "availability_zone": str,   # pick the default subnet of this zone
        "parallel_requests": int,   # concurrent per-machine calls (naming a fleet), default 4
    })
    DEFAULT_CREDENTIALS = (("key", "AWS_ACCESS_KEY_ID"), ("secret", "AWS_SECRET_ACCESS_KEY"))
    LOOKUP_KEYS = ("name", "owner", "architecture")
    LOOKUP_EXAMPLE = "{name: 'debian-12-amd64-*', owner: '136693071363'}"

    @staticmethod
    def optional_credential_variables(credentials):
        """Variables read besides the catalog's ``credentials`` pairs: the STS session token, with the
        standard AWS_ACCESS_KEY_ID as the key."""
        return list(SESSION_TOKEN_VARIABLES) if dict(credentials).get("key") == "AWS_ACCESS_KEY_ID" else []

    def __init__(self, cloud, environ=None):
        super(Ec2Provider, self).__init__(cloud, environ)
        cloud = self.cloud
        key = self.credential(_KEY_ARGS)
        secret = self.credential(_SECRET_ARGS)
        token = self.credential(_TOKEN_ARGS, required=False)
        variables = self.credential_variables
        if token is None and self.optional_credential_variables(cloud.credentials):
            # As the AWS tools do (and AWX's AWS credential injects): the standard variables come with
            # an optional STS session token.
            token_variable = next((v for v in SESSION_TOKEN_VARIABLES if self.environ.get(v)), None)
            token = self.environ[token_variable] if token_variable else None
            variables = variables + ([token_variable] if token_variable else [])
        region = str(cloud.region or DEFAULT_REGION)
        if not REGION_PATTERN.match(region):
            raise ProviderError("cloud %s: region %r is not an EC2 region name like us-east-1, eu-central-2 or "
                                "us-gov-west-1" % (cloud.name, region), cloud=cloud.name, key="region")
        self.region = region
        if cloud.endpoint:
            split_endpoint(cloud.endpoint)      # one clear error for anything but http(s)://host[:port]
        ca_bundle = self.environ.get("AWS_CA_BUNDLE") or None
        try:
            self.client = Ec2QueryClient(region, key, secret, token=token or None, endpoint=cloud.endpoint,
                                         timeout=float(cloud.option("http_timeout", 30)), ca_bundle=ca_bundle)
        except OSError as exc:      # a missing file, or ssl.SSLError (an OSError) for one that is not PEM
            raise ProviderError("cloud %s: environment variable AWS_CA_BUNDLE names %r, which is not a readable PEM "
                                "file of certificate authorities (%s); fix or unset it to trust the system's"
                                % (cloud.name, ca_bundle, exc), cloud=cloud.name, key="AWS_CA_BUNDLE")
        self.endpoint = cloud.endpoint or "EC2 in %s" % region
        self.parallel = max(1, int(cloud.option("parallel_requests", 4)))
        self.caller = Caller(cloud, self.endpoint, [key, secret, token], retry_options(cloud),
                             credential_variables=variables,
                             credential_source=credential_source(variables, self.environ))
        self._network_cache = None
        self._type_cache = {}

    # -- the query API -------------------------------------------------------------
    def _request(self, params):
        return self.client.call(params)

    def _call(self, what, params, transient=is_transient, look_first=None):
        return self.caller.call(what, lambda: self._request(params), transient, look_first)

    def _pages(self, what, params, item_path):
        """Every item of a paginated Describe* call (normally one page, one call)."""
        items = []
        params = dict(params)
        for dummy in range(1000):
            root = self._call(what, params)
            items.extend(root.findall(item_path))
            token = text_of(root, "nextToken")
            if not token:
                return items
            params["NextToken"] = token
        raise ProviderError("cloud %s: %s returned more than 1000 pages" % (self.cloud.name, what),
                            cloud=self.cloud.name)

    # -- network -------------------------------------------------------------------
    def _network(self):
        """(vpc_id, subnet_id) machines go to: options.subnet_id, else the region's default VPC."""
        if self._network_cache:
            return self._network_cache
        subnet_id = self.cloud.option("subnet_id")
        if subnet_id:
            params = dict(Action="DescribeSubnets", **id_params("SubnetId", [subnet_id]))
            what = "find subnet %s" % subnet_id
        else:
            filters = {"default-for-az": "true"}
            if self.cloud.option("availability_zone"):
                filters["availability-zone"] = self.cloud.option("availability_zone")
            params = dict(Action="DescribeSubnets", **filter_params(filters))
            what = "find the default VPC subnet"
        subnets = self._pages(what, params, "subnetSet/item")
        if not subnets:
            raise ProviderError(
                "cloud %s: no %s in region %s; set options.subnet_id in the catalog"
                % (self.cloud.name, "subnet " + subnet_id if subnet_id else "default VPC subnet", self.region),
                cloud=self.cloud.name, key="options.subnet_id")
        subnets.sort(key=lambda s: (text_of(s, "availabilityZone", ""), text_of(s, "subnetId", "")))
        chosen = subnets[0]
        self._network_cache = (self.cloud.option("vpc_id") or text_of(chosen, "vpcId"), text_of(chosen, "subnetId"))
        return self._network_cache

    # -- sizes -----------------------------------------------------------------------
    def list_sizes(self, names=None):
        """[Flavor] from DescribeInstanceTypes: the cloud's own vCPU and memory figures."""
        params = {"Action": "DescribeInstanceTypes"}
        if names:
            params.update(id_params("InstanceType", sorted(set(names))))
        items = self._pages("list instance types", params, "instanceTypeSet/item")
        flavors = []
        for item in items:
            name = text_of(item, "instanceType")
            cpu = text_of(item, "vCpuInfo/defaultVCpus")
            mib = text_of(item, "memoryInfo/sizeInMiB")
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
        tags = tags_of(item)
        instance_type = text_of(item, "instanceType")
        cpu, ram_gb = self._type_cache.get(instance_type, (None, None))
        instance_id = text_of(item, "instanceId")
        timings = {}
        launched = parse_timestamp(text_of(item, "launchTime"))
        if launched:
            timings["launched_at"] = launched
        return Machine(
            cloud=self.cloud.name,
            name=tags.get(NAME_TAG) or launch_name(tags, text_of(item, "amiLaunchIndex")) or tags.get("Name")
            or instance_id,
            id=instance_id,
            state=normalise_state(text_of(item, "instanceState/name")),
            image=tags.get(IMAGE_TAG),
            image_id=text_of(item, "imageId"),
            flavor=instance_type,
            cpu=cpu,
            ram_gb=ram_gb,
            login_user=tags.get(LOGIN_USER_TAG),
            public_ip=text_of(item, "ipAddress"),
            private_ip=text_of(item, "privateIpAddress"),
            deployment=tags.get(DEPLOYMENT_TAG),
            tags=tags,
            host_keys=[],       # EC2 shows host keys only inside console output; we do not guess
            timings=timings,
        )

    def _describe_instances(self, what, filters=None, ids=None):
        params = {"Action": "DescribeInstances"}
        if filters:
            params.update(filter_params(filters))
        if ids:
            params.update(id_params("InstanceId", ids))
        return self._pages(what, params, "reservationSet/item/instancesSet/item")

    def _to_machines(self, items):
        self._type_info([text_of(item, "instanceType") for item in items])
        machines = [self._machine(item) for item in items]
        machines.sort(key=lambda m: (m.name, m.id))
        return machines

    def list_machines(self):
        items = self._describe_instances("list managed machines",
                                         filters={"tag-key": MANAGED_TAG, "instance-state-name": _LIVE_STATES})
        return self._to_machines(items)

    def name_candidates(self, names, deployment):
        """One DescribeTags of the names (a few bytes per machine, where a listing describes each one
        whole); only names that more than one machine carries are then described."""
        holders = {}
        wanted = sorted(set(names))
        for start in range(0, len(wanted), _BATCH):
            filters = {"resource-type": "instance", "key": NAME_TAG, "value": wanted[start:start + _BATCH]}
            params = dict(Action="DescribeTags", **filter_params(filters))
            for item in self._pages("look for machines of the same names", params, "tagSet/item"):
                holders.setdefault(text_of(item, "value"), []).append(text_of(item, "resourceId"))
        shared = sorted({i for ids in holders.values() if len(ids) > 1 for i in ids})
        if not shared:
            return []
        items = self._describe_instances("describe machines of the same names", ids=shared)
        return [m for m in self._to_machines(items)
                if m.deployment == deployment and m.state not in ("terminated", "unknown")]

    def ensure_key_pair(self, public_key):
        """Import ``public_key`` (a PublicKey, or its text) once under its pair name; return the name."""
        public_key = as_public_key(public_key)
        name = public_key.pair_name
        params = dict(Action="DescribeKeyPairs", **filter_params({"key-name": name}))
        if self._call("look up key pair %s" % name, params).findall("keySet/item"):
            return name
        self._import_key_pair(name, public_key.line, "import key pair %s" % name)
        return name

    def _import_key_pair(self, name, line, what):
        """One ImportKeyPair; "already there" (a retry after a lost answer, or a race) is done."""
        params = {"Action": "ImportKeyPair", "KeyName": name,
                  "PublicKeyMaterial": base64.b64encode(line.encode("ascii")).decode("ascii"),
                  "TagSpecification.1.ResourceType": "key-pair"}
        params.update(tag_params("TagSpecification.1.Tag", {MANAGED_TAG: "true"}))
        try:
            self._call(what, params)
        except ProviderError as exc:
            if exc.details.get("code") != "InvalidKeyPair.Duplicate":
                raise

    # A create mark is a key pair (survivors.mark_name): the one EC2 resource made, listed and removed in
    # one call each, without a VPC or a charge.
    def put_create_mark(self, deployment, mark_id):
        name = mark_name(deployment, mark_id)
        self._import_key_pair(name, MARK_PUBLIC_KEY, "mark a create in flight (key pair %s)" % name)
        return name

    def create_marks(self, deployment):
        params = dict(Action="DescribeKeyPairs", **filter_params({"key-name": mark_prefix(deployment) + "*"}))
        found = self._call("look for creates in flight", params).findall("keySet/item")
        return marks_of(deployment, [text_of(item, "keyName") for item in found])

    def delete_create_mark(self, handle):
        self._call("remove create mark %s" % handle, {"Action": "DeleteKeyPair", "KeyName": handle})

    def launch(self, request):
        placement, names = request.placement, request.names
        key_name = self.ensure_key_pair(request.public_key) if request.public_key else None
        subnet_id = self._network()[1]
        group_ids = self.group_ids(list(placement.security_groups))
        # One RunInstances carries the tags all machines share; each one's name follows in CreateTags.
        common = dict(request.stamp().tags)
        if len(names) == 1:
            common.update({"Name": names[0], NAME_TAG: names[0]})
        else:
            common.update(fleet_name_tags(names))
        if len(common) + (2 if len(names) > 1 else 0) > _MAX_TAGS:
            raise ProviderError("cloud %s: EC2 allows %d tags per machine, asked for %d (a fleet of %d names takes "
                                "%d of them); create it in smaller fleets"
                                % (self.cloud.name, _MAX_TAGS, len(common) + 2, len(names),
                                   len(fleet_name_tags(names)) if len(names) > 1 else 0), cloud=self.cloud.name)
        params = {"Action": "RunInstances", "ImageId": placement.image_id, "InstanceType": placement.flavor,
                  "MinCount": str(len(names)), "MaxCount": str(len(names)),
                  "ClientToken": client_token(self.cloud.name, request),
                  "SubnetId": subnet_id, "TagSpecification.1.ResourceType": "instance"}
        if key_name:
            params["KeyName"] = key_name
        params.update(id_params("SecurityGroupId", group_ids))
        params.update(tag_params("TagSpecification.1.Tag", common))

        def launched_before():
            # The previous try may have launched them and lost the answer.
            found = self._request(dict(Action="DescribeInstances",
                                       **filter_params({"tag:" + REQUEST_TAG: request.token})))
            return found.findall("reservationSet/item/instancesSet/item") or None

        def run():
            try:
                items = self._request(params).findall("instancesSet/item")
            except Ec2ApiError as exc:
                if exc.code != "IdempotentParameterMismatch":
                    raise
                items = []          # the same names asked for earlier with other parameters
            if not items or all(normalise_state(text_of(i, "instanceState/name")) == "terminated" for i in items):
                # The derived token is an earlier request's whose machines are gone (EC2 remembers tokens
                # for a while): ask again with this run's own token.
                params["ClientToken"] = request.token
                items = self._request(params).findall("instancesSet/item")
            if len(items) != len(names):
                raise ProviderError("cloud %s: asked EC2 for %d machines, got %d"
                                    % (self.cloud.name, len(names), len(items)), cloud=self.cloud.name)
            return items

        items = self.caller.call("create %d machine(s)" % len(names), run, look_first=launched_before)
        items.sort(key=lambda item: int(text_of(item, "amiLaunchIndex", "0")))
        machines = self._to_machines(items)
        by_id = {m.id: m for m in machines}
        ordered = [by_id[text_of(item, "instanceId")] for item in items]
        if len(names) > 1:
            self._name_all(list(zip(names, ordered)), common)
        for name, machine in zip(names, ordered):
            machine.name = name
            # The answer's own tags win: a reservation another run made (the same ClientToken) keeps its request tag.
            machine.tags = dict(dict(common, **{"Name": name, NAME_TAG: name}), **machine.tags)
        return ordered

    def _name_all(self, pairs, common):
        """One CreateTags per machine (each name differs), ``parallel_requests`` at a time."""
        def name_one(pair):
            name, machine = pair
            self._tag([machine.id], {"Name": name, NAME_TAG: name}, "name machine %s" % name)

        dummy, errors = map_calls(name_one, pairs, self.parallel)
        if errors:
            first = errors[min(errors)]
            # They exist and carry the deployment tag, so `absent` finds them; say which.
            raise ProviderError(
                "%s; %d machine(s) were created (ids %s) and carry tags %s, so a run with "
                "state=absent and the same deployment removes them"
                % (getattr(first, "msg", first), len(pairs), ", ".join(m.id for dummy, m in pairs),
                   ", ".join(sorted(k for k in common if k != REQUEST_TAG))),
                created=[m.id for dummy, m in pairs], **getattr(first, "details", {}))

    def _tag(self, ids, tags, what):
        params = dict(Action="CreateTags", **id_params("ResourceId", ids))
        params.update(tag_params("Tag", tags))
        self._call(what, params, _not_yet_visible)

    def _batch_state_change(self, action, verb, machines):
        machines = [m for m in machines if m is not None]
        by_id = {m.id: m for m in machines}
        for start in range(0, len(machines), _BATCH):
            chunk = [m.id for m in machines[start:start + _BATCH]]
            root = self._call("%s %d machine(s)" % (verb, len(chunk)), dict(Action=action, **id_params("InstanceId", chunk)))
            for item in root.findall("instancesSet/item"):
                machine = by_id.get(text_of(item, "instanceId"))
                if machine is not None:
                    machine.state = normalise_state(text_of(item, "currentState/name"))
        return machines

    def destroy_machines(self, machines):
        return self._batch_state_change("TerminateInstances", "destroy", list(machines))

    def stop_machines(self, machines):
        return self._batch_state_change("StopInstances", "stop", list(machines))

    def start_machines(self, machines):
        return self._batch_state_change("StartInstances", "start", list(machines))

    def refresh_machines(self, machines):
        by_id = {m.id: m for m in machines}
        known = set()
        ids = list(by_id)
        for start in range(0, len(ids), _BATCH):
            params = dict(Action="DescribeInstances", **id_params("InstanceId", ids[start:start + _BATCH]))
            root = self._call("check machine states", params, _not_yet_visible)
            for item in root.findall("reservationSet/item/instancesSet/item"):
                machine = by_id.get(text_of(item, "instanceId"))
                if machine is None:
                    continue
                known.add(machine.id)
                machine.state = normalise_state(text_of(item, "instanceState/name"))
                machine.public_ip = text_of(item, "ipAddress")
                machine.private_ip = text_of(item, "privateIpAddress")
        return known

    # -- security groups -------------------------------------------------------------
    def _describe_groups(self, names=None):
        filters = {"vpc-id": self._network()[0]}
        if names:
            filters["group-name"] = list(names)
        params = dict(Action="DescribeSecurityGroups", **filter_params(filters))
        return self._pages("list security groups", params, "securityGroupInfo/item")

    @staticmethod
    def _group_rules(group, name_by_id):
        """The ingress rules of one DescribeSecurityGroups item as canonical Rules."""
        written = []
        for perm in group.findall("ipPermissions/item"):
            proto = text_of(perm, "ipProtocol")
            from_port = text_of(perm, "fromPort")
            to_port = text_of(perm, "toPort")
            sources = [text_of(r, "cidrIp") for r in perm.findall("ipRanges/item")]
            sources += [text_of(r, "cidrIpv6") for r in perm.findall("ipv6Ranges/item")]
            for pair in perm.findall("groups/item"):
                group_id = text_of(pair, "groupId")
                sources.append("group:" + name_by_id.get(group_id, text_of(pair, "groupName") or group_id))
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
        return canonical(parse_rules(written, where="security group %s" % text_of(group, "groupName")))

    def group_index(self):
        groups = self._describe_groups()
        name_by_id = {text_of(g, "groupId"): text_of(g, "groupName") for g in groups}
        return {text_of(g, "groupName"): SecurityGroup(text_of(g, "groupName"), text_of(g, "groupId"),
                                                       self._group_rules(g, name_by_id), {},
                                                       text_of(g, "groupDescription", ""))
                for g in groups}

    def group_scope(self):
        return " in VPC %s" % self._network()[0]

    def _permission_params(self, rules, index):
        params = {}
        for number, rule in enumerate(rules, 1):
            prefix = "IpPermissions.%d." % number
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
                params[prefix + "Groups.1.GroupId"] = index[rule.source[len("group:"):]].id
            elif is_v6:
                params[prefix + "Ipv6Ranges.1.CidrIpv6"] = rule.source
            else:
                params[prefix + "IpRanges.1.CidrIp"] = rule.source
        return params

    def _change_rules(self, adding, group, rules, index):
        """Authorize or revoke ``rules`` in one call; after a lost answer, only what is still to do."""
        action = "AuthorizeSecurityGroupIngress" if adding else "RevokeSecurityGroupIngress"
        tolerated = "InvalidPermission.Duplicate" if adding else "InvalidPermission.NotFound"
        attempts = []

        def change():
            attempts.append(1)
            todo = list(rules)
            if len(attempts) > 1:
                params = dict(Action="DescribeSecurityGroups", **id_params("GroupId", [group.id]))
                current = set(self._group_rules(self._request(params).find("securityGroupInfo/item"),
                                                {g.id: n for n, g in index.items()}))
                todo = [r for r in rules if (r in current) != adding]
                if not todo:
                    return
            self._request(dict(Action=action, GroupId=group.id, **self._permission_params(todo, index)))

        what = "%s %d rule(s) of security group %s" % ("add" if adding else "remove", len(rules), group.name)
        self.caller.call(what, change, lambda exc: is_transient(exc) or error_code(exc) == tolerated)

    def add_rules(self, group, rules, index):
        self._change_rules(True, group, rules, index)

    def remove_rules(self, group, rules, index):
        self._change_rules(False, group, rules, index)

    def create_group(self, name, description):
        vpc_id = self._network()[0]

        def made_before():
            params = dict(Action="DescribeSecurityGroups", **filter_params({"vpc-id": vpc_id, "group-name": name}))
            found = self._request(params).findall("securityGroupInfo/item")
            return text_of(found[0], "groupId") if found else None

        params = {"Action": "CreateSecurityGroup", "GroupName": name, "VpcId": vpc_id,
                  "GroupDescription": description or "slipway.cloud security group %s" % name,
                  "TagSpecification.1.ResourceType": "security-group"}
        params.update(tag_params("TagSpecification.1.Tag", {MANAGED_TAG: "true"}))
        return self.caller.call("create security group %s" % name, lambda: text_of(self._request(params), "groupId"),
                                lambda exc: is_transient(exc) or error_code(exc) == "InvalidGroup.Duplicate",
                                look_first=made_before)

    def delete_group(self, group):
        try:
            self._call("delete security group %s" % group.name, {"Action": "DeleteSecurityGroup", "GroupId": group.id})
        except ProviderError as exc:
            if exc.details.get("code") != "InvalidGroup.NotFound":     # gone after a lost answer: done
                raise

    # -- images ------------------------------------------------------------------------
    def search_images(self, lookup):
        params = {"Action": "DescribeImages"}
        owners = lookup.get("owner")
        if owners:
            params.update(id_params("Owner", owners if isinstance(owners, (list, tuple)) else [owners]))
        filters = {"name": lookup["name"], "state": "available"}
        if lookup.get("architecture"):
            filters["architecture"] = lookup["architecture"]
        params.update(filter_params(filters))
        items = self._pages("look up images named %s" % lookup["name"], params, "imagesSet/item")
        return [{"id": text_of(i, "imageId"), "name": text_of(i, "name"), "owner": text_of(i, "imageOwnerId"),
                 "creation_date": text_of(i, "creationDate"), "architecture": text_of(i, "architecture")}
                for i in items]

    def lookup_scope(self, lookup):
        return "available image in %s" % self.region

    def close(self):
        self.client.close()
