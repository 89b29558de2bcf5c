# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Exoscale family: Exoscale's v2 API (JSON over HTTPS, one endpoint per zone).

libcloud's Exoscale driver speaks the CloudStack-style v1 API that Exoscale switched
off in May 2024, so this adapter talks to v2 itself, with the standard library only:

* every request is signed with EXO2-HMAC-SHA256 (``sign_request``);
* the endpoint is ``https://api-<zone>.exoscale.com/v2`` for the cloud's ``region``
  (a zone such as ``ch-gva-2``), or the catalog's ``endpoint``;
* 429 and 5xx answers, resets and timeouts are retried with full-jitter backoff
  (``retry.call_with_retry``), bounded by attempts and a deadline;
* writes answer with an *operation* that is polled, bounded, until it succeeds;
* Exoscale label keys and values allow only letters, digits and ``* + ! - _ ?`` and
  must not start with a digit, so ``slipway:managed`` is written ``slipway+managed``
  (see ``encode_label``; reading decodes it back exactly).

The API has no "create N" call: a fleet is N create-instance calls in parallel
(``options.parallel_requests``), each carrying a ``slipway:request`` label so that a
retried create looks for its machine before asking again (no duplicates after a lost
answer). The listing is one list-instances call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import dataclasses
import datetime
import fnmatch
import hashlib
import hmac
import json
import os
import re
import socket
import string
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, build_opener

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
    register,
    ssh_key_name,
    resolve_credentials,
)
from ansible_collections.slipway.cloud.plugins.module_utils.retry import (
    call_with_retry,
    is_transient,
    is_unreachable,
    iter_causes,
)
from ansible_collections.slipway.cloud.plugins.module_utils.rules import canonical, diff_rules, parse_rules


DEFAULT_CREDENTIALS = (("key", "EXOSCALE_API_KEY"), ("secret", "EXOSCALE_API_SECRET"))
ENDPOINT_TEMPLATE = "https://api-%s.exoscale.com/v2"
SIGNATURE_VALIDITY = 600                 # seconds a signed request stays valid
DEFAULT_RETRY = {"attempts": 8, "base_delay": 0.25, "max_delay": 8.0, "deadline": 120.0}
DEFAULT_DISK_GB = 10                     # create-instance requires disk-size; 10 GiB is the API's minimum
_DISK_RANGE = (10, 51200)
_ZONE = re.compile(r"^[a-z]{2}-[a-z]{2,5}-\d+$")
_LOOKUP_KEYS = ("name", "owner", "visibility", "family")

# instance-state -> slipway state
_STATES = {
    "starting": "pending",
    "running": "running",
    "migrating": "running",
    "stopping": "stopping",
    "stopped": "stopped",
    "destroying": "terminated",
    "expunging": "terminated",
    "destroyed": "terminated",
    "error": "unknown",
}
_PROTO_TO_EXO = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "any": "all"}


# ---------------------------------------------------------------------------
# request signing (EXO2-HMAC-SHA256)
# ---------------------------------------------------------------------------

def signature_message(method, path, body=b"", query=None, expires=0):
    """The bytes an EXO2-HMAC-SHA256 signature covers, and the signed query names.

    Five lines joined by "\\n": "<METHOD> <path>" (the path as sent, with its /v2
    prefix), the raw body, the values of the signed query parameters concatenated
    in the order of their sorted names, the signed headers (none: an empty line),
    and the expiry as a Unix timestamp.
    """
    query = dict(query or {})
    names = sorted(query)
    if isinstance(body, str):
        body = body.encode("utf-8")
    parts = [
        ("%s %s" % (method.upper(), path)).encode("utf-8"),
        body or b"",
        "".join(str(query[name]) for name in names).encode("utf-8"),
        b"",
        str(int(expires)).encode("ascii"),
    ]
    return b"\n".join(parts), names


def sign_request(key, secret, method, path, body=b"", query=None, expires=None, now=time.time):
    """The ``Authorization`` header value for one v2 API request.

    ``query`` maps parameter names to their (unencoded) values; every one is signed.
    """
    if expires is None:
        expires = int(now()) + SIGNATURE_VALIDITY
    message, names = signature_message(method, path, body, query, expires)
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    header = "EXO2-HMAC-SHA256 credential=%s" % key
    if names:
        header += ",signed-query-args=%s" % ";".join(names)
    return header + ",expires=%d,signature=%s" % (int(expires), base64.b64encode(digest).decode("ascii"))


# ---------------------------------------------------------------------------
# labels: slipway's tag names carry ':' and '.', which Exoscale labels refuse
# ---------------------------------------------------------------------------

_LABEL_PLAIN = frozenset(string.ascii_letters + string.digits + "!-_")
LABEL_MAX = 128


def encode_label(text):
    """A tag key or value as an Exoscale label (letters, digits, ``* + ! - _ ?``; no leading digit).

    ``:`` becomes ``+``, ``.`` becomes ``*``; any other character (and a leading
    digit, and ``+ * ?`` themselves) becomes ``?`` and two hex digits per UTF-8 byte.
    The empty string is written ``?``. ``decode_label`` reverses it exactly.
    """
    text = str(text)
    if text == "":
        return "?"
    out = []
    for index, char in enumerate(text):
        if char == ":":
            out.append("+")
        elif char == ".":
            out.append("*")
        elif char in _LABEL_PLAIN and not (index == 0 and char in string.digits):
            out.append(char)
        else:
            out.extend("?%02x" % byte for byte in bytearray(char.encode("utf-8")))
    return "".join(out)


def decode_label(text):
    """Reverse of ``encode_label``; raises ValueError for a malformed escape."""
    if text == "?":
        return ""
    data = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "?":
            pair = text[index + 1:index + 3]
            if len(pair) != 2 or any(c not in string.hexdigits for c in pair):
                raise ValueError("bad escape in label %r" % text)
            data.append(int(pair, 16))
            index += 3
            continue
        data.extend({"+": b":", "*": b"."}.get(char) or char.encode("utf-8"))
        index += 1
    return data.decode("utf-8")


def encode_labels(tags, cloud_name=None):
    labels = {}
    for key, value in tags.items():
        ekey, evalue = encode_label(key), encode_label(value)
        for original, encoded in ((key, ekey), (value, evalue)):
            if len(encoded) > LABEL_MAX:
                raise ProviderError(
                    "cloud %s: tag %r=%r is too long for an Exoscale label (%r is %d characters written as a "
                    "label, at most %d)" % (cloud_name, key, value, original, len(encoded), LABEL_MAX),
                    cloud=cloud_name, tag=str(key))
        labels[ekey] = evalue
    return labels


def decode_labels(labels):
    """Exoscale labels -> tags; a label slipway did not write (a malformed escape) is kept as it is."""
    tags = {}
    for key, value in (labels or {}).items():
        try:
            tags[decode_label(key)] = decode_label(value)
        except (ValueError, UnicodeDecodeError):
            tags[key] = value
    return tags


def _epoch(text):
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class ExoscaleApiError(Exception):
    """A non-2xx answer. ``status`` is what retry.http_status() reads; ``headers`` carry Retry-After."""

    def __init__(self, status, message, headers=None, method=None, path=None):
        super(ExoscaleApiError, self).__init__("HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.method = method
        self.path = path


class ExoscaleClient:
    """Signed JSON requests to one v2 endpoint (urllib only)."""

    def __init__(self, endpoint, key, secret, timeout=30.0):
        split = urlsplit(endpoint)
        if split.scheme not in ("http", "https") or not split.netloc:
            raise ValueError("endpoint %r is not a URL like https://api-ch-gva-2.exoscale.com/v2" % (endpoint,))
        self.origin = "%s://%s" % (split.scheme, split.netloc)
        self.base_path = split.path.rstrip("/")
        self.key = key
        self.secret = secret
        self.timeout = timeout
        # An opener (rather than the module-level helper) keeps the environment's proxy settings.
        self.opener = build_opener()

    def request(self, method, path, query=None, body=None):
        """One signed request; returns the decoded JSON (or None); raises ExoscaleApiError or URLError."""
        query = {k: str(v) for k, v in (query or {}).items() if v is not None and str(v) != ""}
        full_path = self.base_path + path
        data = None
        headers = {"Accept": "application/json", "User-Agent": "slipway.cloud"}
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
            headers["Content-Type"] = "application/json"
        headers["Authorization"] = sign_request(self.key, self.secret, method, full_path, data or b"", query)
        url = self.origin + full_path + ("?" + urlencode(sorted(query.items())) if query else "")
        request = Request(url, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                payload = response.read()
        except HTTPError as exc:
            payload = exc.read() if hasattr(exc, "read") else b""
            raise ExoscaleApiError(exc.code, _error_message(payload, exc.code), dict(exc.headers or {}),
                                   method, path)
        if not payload:
            return None
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError:
            raise ExoscaleApiError(502, "answer is not JSON: %r" % payload[:200], {}, method, path)


def _error_message(payload, status):
    text = payload.decode("utf-8", "replace").strip() if payload else ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error", "reason"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
    if text.startswith("<"):
        return "HTTP %d (not an API answer)" % status
    return text[:300] or "HTTP %d" % status


def _path(template, *values):
    return template % tuple(quote(str(v), safe="") for v in values)


# ---------------------------------------------------------------------------
# the provider
# ---------------------------------------------------------------------------

class ExoscaleProvider(Provider):
    family = "exoscale"
    capabilities = frozenset(("security_groups", "stop_start", "image_lookup"))

    def __init__(self, cloud, environ=None):
        environ = os.environ if environ is None else environ
        if not cloud.credentials:
            cloud = dataclasses.replace(cloud, credentials=DEFAULT_CREDENTIALS)
        self.cloud = cloud
        self.credentials = resolve_credentials(cloud, environ)
        self.key_variable = self._variable(("key", "api_key"))
        self.secret_variable = self._variable(("secret", "api_secret"))
        key = self.credentials.get(self.key_variable[0])
        secret = self.credentials.get(self.secret_variable[0])
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
        self.secrets = [s for s in (secret,) if s]
        self.retry_options = dict(DEFAULT_RETRY)
        for name in DEFAULT_RETRY:
            value = cloud.option("retry_" + name)
            if value is not None:
                self.retry_options[name] = int(value) if name == "attempts" else float(value)
        self.parallel = max(1, int(cloud.option("parallel_requests", 8)))
        self.operation_timeout = float(cloud.option("operation_timeout", 600))
        self.poll_delay = float(cloud.option("poll_interval", 1.0))
        self.retries = 0
        self._lock = threading.Lock()
        self._types = None
        self._image_cache = {}
        self._sleep = time.sleep

    def _variable(self, names):
        """(credential argument, environment variable) for the first of ``names`` the catalog maps."""
        mapping = dict(self.cloud.credentials)
        for name in names:
            if name in mapping:
                return name, mapping[name]
        raise ProviderError(
            "cloud %s: the catalog names no environment variable for the Exoscale %r credential "
            "(credentials: {key: EXOSCALE_API_KEY, secret: EXOSCALE_API_SECRET})" % (self.cloud.name, names[0]),
            cloud=self.cloud.name, key="credentials." + names[0])

    # -- calls -----------------------------------------------------------------------
    def _count(self, attempt, exc, delay):
        with self._lock:               # parallel creates retry from several threads
            self.retries += 1

    def _request(self, method, path, query=None, body=None):
        return self.client.request(method, path, query, body)

    def _call(self, what, fn, transient=is_transient):
        """``fn()`` with retries on throttling/5xx; any failure becomes one ProviderError."""
        try:
            return call_with_retry(fn, is_transient=transient, on_retry=self._count, sleep=self._sleep,
                                   **self.retry_options)
        except ProviderError:
            raise
        except ExoscaleApiError as exc:
            raise self._api_error(what, exc)
        except Exception as exc:  # pylint: disable=broad-except
            raise self._transport_error(what, exc)

    def _get(self, what, path, query=None):
        return self._call(what, lambda: self._request("GET", path, query))

    def _redact(self, text):
        for secret in self.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def _api_error(self, what, exc):
        name = self.cloud.name
        attempts = getattr(exc, "slipway_attempts", None)
        suffix = " (gave up after %d attempts)" % attempts if attempts and attempts > 1 else ""
        if exc.status in (401, 403):
            message = ("cloud %s: Exoscale refused the request to %s: HTTP %d: %s. Check the API key in "
                       "environment variable %s and its secret in %s (and that the key's role allows this)"
                       % (name, what, exc.status, exc.message, self.key_variable[1], self.secret_variable[1]))
            return ProviderError(self._redact(message), cloud=name, action=what, http_status=exc.status,
                                 variables=[self.key_variable[1], self.secret_variable[1]])
        message = "cloud %s: %s failed: HTTP %d: %s%s" % (name, what, exc.status, exc.message, suffix)
        return ProviderError(self._redact(message), cloud=name, action=what, http_status=exc.status)

    def _transport_error(self, what, exc):
        name = self.cloud.name
        innermost = exc
        for cause in iter_causes(exc):
            if isinstance(cause, OSError):
                innermost = cause
        reason = getattr(innermost, "strerror", None) or str(getattr(innermost, "reason", "") or innermost) \
            or type(innermost).__name__
        if is_unreachable(exc) or isinstance(exc, (URLError, socket.timeout, OSError)):
            attempts = getattr(exc, "slipway_attempts", None)
            suffix = " after %d attempts" % attempts if attempts and attempts > 1 else ""
            message = ("cloud %s: cannot reach the Exoscale API at %s while trying to %s (%s%s); check the "
                       "cloud's region/endpoint in the catalog and the network"
                       % (name, self.endpoint, what, reason, suffix))
            return ProviderError(self._redact(message), cloud=name, endpoint=self.endpoint, action=what)
        return ProviderError(self._redact("cloud %s: %s failed: %s" % (name, what, exc)), cloud=name, action=what)

    def _map(self, fn, items):
        """``fn`` over ``items`` with up to ``parallel_requests`` at a time; returns (results, errors)."""
        items = list(items)
        results, errors = {}, {}
        if not items:
            return results, errors

        def run(index):
            try:
                results[index] = fn(items[index])
            except Exception as exc:  # pylint: disable=broad-except
                errors[index] = exc

        if len(items) == 1 or self.parallel == 1:
            for index in range(len(items)):
                run(index)
        else:
            with ThreadPoolExecutor(max_workers=min(self.parallel, len(items))) as pool:
                list(pool.map(run, range(len(items))))
        return results, errors

    # -- operations ---------------------------------------------------------------------
    def _wait_operation(self, operation, what, timeout=None):
        """Poll an operation until it leaves "pending" (bounded); returns it or raises ProviderError."""
        timeout = self.operation_timeout if timeout is None else timeout
        current = operation or {}
        deadline = time.monotonic() + timeout
        delay = self.poll_delay
        while current.get("state", "success") == "pending":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError("cloud %s: %s: operation %s still pending after %s s"
                                    % (self.cloud.name, what, current.get("id"), timeout),
                                    cloud=self.cloud.name, action=what, operation=current.get("id"))
            self._sleep(min(delay, remaining))
            delay = min(delay * 1.5, max(self.poll_delay * 5, 5.0))
            op_id = current.get("id")
            current = self._get("%s (poll operation %s)" % (what, op_id), _path("/operation/%s", op_id)) or {}
        if current.get("state") in ("failure", "timeout"):
            detail = current.get("message") or current.get("reason") or current.get("state")
            raise ProviderError("cloud %s: %s: operation %s ended in %s: %s"
                                % (self.cloud.name, what, current.get("id"), current.get("state"), detail),
                                cloud=self.cloud.name, action=what, operation=current.get("id"),
                                reason=current.get("reason"))
        return current

    def _reference_id(self, operation):
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
        type_id = (item.get("instance-type") or {}).get("id")
        flavor, cpu, ram_gb = self._flavor_of(type_id)
        timings = {}
        created = _epoch(item.get("created-at"))
        if created:
            timings["launched_at"] = created
        private_ip = None
        for subnet in ((item.get("vpc") or {}).get("subnets") or []):
            private_ip = private_ip or subnet.get("ipv4")
        return Machine(
            cloud=self.cloud.name,
            name=tags.get(NAME_TAG) or item.get("name") or item.get("id"),
            id=item.get("id"),
            state=_STATES.get(str(item.get("state") or "").lower(), "unknown"),
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
        )

    def _list_instances(self, what="list machines"):
        answer = self._get(what, "/instance") or {}
        return answer.get("instances") or []

    def list_machines(self):
        items = [i for i in self._list_instances("list managed machines")
                 if MANAGED_TAG in decode_labels(i.get("labels"))]
        machines = [self._machine(item) for item in items]
        machines.sort(key=lambda m: (m.name, m.id))
        return machines

    def ensure_ssh_key(self, public_key):
        """Register ``public_key`` once under a name derived from it; return the name."""
        name, material = ssh_key_name(public_key)
        try:
            self._request_checked("look up SSH key %s" % name, "GET", _path("/ssh-key/%s", name))
            return name
        except ProviderError as exc:
            if exc.details.get("http_status") != 404:
                raise
        attempts = []

        def register_key():
            attempts.append(1)
            try:
                return self._request("POST", "/ssh-key", body={"name": name, "public-key": material})
            except ExoscaleApiError as exc:
                if exc.status == 409 or (exc.status == 400 and "exist" in exc.message.lower()):
                    return None         # registered by a lost answer or a parallel run: the same key
                raise

        operation = self._call("register SSH key %s" % name, register_key)
        self._wait_operation(operation, "register SSH key %s" % name)
        return name

    def _request_checked(self, what, method, path, query=None, body=None):
        return self._call(what, lambda: self._request(method, path, query, body))

    def _group_index(self):
        """{name: group dict} of the account's security groups (one call)."""
        answer = self._get("list security groups", "/security-group") or {}
        return {g.get("name"): g for g in answer.get("security-groups") or []}

    def _group_ids(self, names):
        if not names:
            return []
        groups = self._group_index()
        missing = [n for n in names if n not in groups]
        if missing:
            raise ProviderError(
                "cloud %s: security group(s) %s do not exist; define them in the catalog (they are ensured "
                "before machines are created) or create them on Exoscale" % (self.cloud.name, ", ".join(missing)),
                cloud=self.cloud.name, security_groups=missing)
        ids = []
        for name in names:
            if groups[name]["id"] not in ids:
                ids.append(groups[name]["id"])
        return ids

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

    def create_machines(self, placement, names, ssh_public_key, tags):
        names = self.fleet_names(placement, names)
        if not names:
            return []
        type_id = self._type_id(placement.flavor)
        template_id = placement.image_id or self.resolve_image_lookup(placement.image_lookup)
        disk = self._disk_size(placement)
        key_name = self.ensure_ssh_key(ssh_public_key) if ssh_public_key else None
        group_ids = self._group_ids(list(placement.security_groups))

        token = uuid.uuid4().hex
        common = dict((str(k), str(v)) for k, v in (tags or {}).items())
        common.setdefault(MANAGED_TAG, "true")
        common.setdefault(IMAGE_TAG, placement.image)
        if placement.login_user:
            common.setdefault(LOGIN_USER_TAG, placement.login_user)
        common[REQUEST_TAG] = token
        encode_labels(dict(common, **{NAME_TAG: max(names, key=len)}), self.cloud.name)   # fail before creating

        def body_for(name):
            body = {"name": name, "instance-type": {"id": type_id}, "template": {"id": template_id},
                    "disk-size": disk, "public-ip-assignment": "inet4",
                    "labels": encode_labels(dict(common, **{NAME_TAG: name}), self.cloud.name)}
            if group_ids:
                body["security-groups"] = [{"id": group_id} for group_id in group_ids]
            if key_name:
                body["ssh-keys"] = [{"name": key_name}]
            return body

        def create_one(name):
            attempts = []
            what = "create machine %s" % name

            def run():
                attempts.append(1)
                if len(attempts) > 1:
                    # The previous try may have created it and lost the answer: look first.
                    for item in (self._request("GET", "/instance") or {}).get("instances") or []:
                        found = decode_labels(item.get("labels"))
                        if found.get(REQUEST_TAG) == token and found.get(NAME_TAG) == name:
                            return {"state": "success", "reference": {"id": item["id"]}}
                return self._request("POST", "/instance", body=body_for(name))

            operation = self._wait_operation(self._call(what, run), what)
            instance_id = self._reference_id(operation)
            if not instance_id:
                raise ProviderError("cloud %s: %s: the operation names no instance" % (self.cloud.name, what),
                                    cloud=self.cloud.name)
            return instance_id

        requested_at = time.time()
        ids, errors = self._map(create_one, names)
        if errors:
            created = [names[i] for i in sorted(ids)]
            first = errors[min(errors)]
            message = first.msg if isinstance(first, ProviderError) else str(first)
            raise ProviderError(
                "%s; %d of %d machine(s) failed%s" % (
                    message, len(errors), len(names),
                    "; created %s, which carry the deployment's labels so that state=absent removes them"
                    % ", ".join(created) if created else ""),
                cloud=self.cloud.name, failed=[names[i] for i in sorted(errors)], created=created)
        by_id = {item.get("id"): item for item in self._list_instances("list the new machines")}
        machines = []
        for index, name in enumerate(names):
            item = by_id.get(ids[index])
            if item is not None:
                machine = self._machine(item)
            else:       # not listed yet: what we know
                machine = Machine(cloud=self.cloud.name, name=name, id=ids[index], state="pending")
            machine.name = name
            machine.tags = dict(common, **{NAME_TAG: name}) if not machine.tags else machine.tags
            machine.image = placement.image
            machine.image_id = machine.image_id or template_id
            machine.login_user = placement.login_user
            machine.deployment = common.get(DEPLOYMENT_TAG)
            if machine.flavor is None:
                machine.flavor, machine.cpu, machine.ram_gb = self._flavor_of(type_id)
            machine.timings["requested_at"] = requested_at
            machines.append(machine)
        return machines

    def _per_machine(self, verb, machines, method, suffix, body=None, gone_ok=False, new_state=None):
        machines = [m for m in machines if m is not None]

        def one(machine):
            what = "%s machine %s" % (verb, machine.name)
            path = _path("/instance/%s", machine.id) + suffix
            try:
                operation = self._request_checked(what, method, path, body=body)
            except ProviderError as exc:
                if gone_ok and exc.details.get("http_status") == 404:
                    return None         # already gone (or a lost answer): done
                raise
            self._wait_operation(operation, what)
            return None

        dummy, errors = self._map(one, machines)
        if errors:
            first = errors[min(errors)]
            raise ProviderError("%s (%d of %d machine(s) failed to %s)" % (
                first.msg if isinstance(first, ProviderError) else first, len(errors), len(machines), verb),
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

    def wait_machines(self, machines, until, timeout):
        """Poll (one list-instances call per round) until running, or SSH answers; bounded by ``timeout``."""
        from ansible_collections.slipway.cloud.plugins.module_utils.providers import libcloud_compat as compat

        self.check_wait(until)
        machines = list(machines)
        by_id = {m.id: m for m in machines}
        missing = dict.fromkeys(by_id, 0)      # listings in a row that lacked the machine

        def done(machine):
            if until == "running":
                return machine.state == "running"
            return "ssh_ready_at" in machine.timings

        def check():
            if any(m.state != "running" for m in machines) or until == "ssh":
                seen = set()
                for item in self._list_instances("check machine states"):
                    machine = by_id.get(item.get("id"))
                    if machine is None:
                        continue
                    seen.add(machine.id)
                    fresh = self._machine(item)
                    machine.state = fresh.state
                    machine.public_ip = fresh.public_ip
                    machine.private_ip = fresh.private_ip
                for machine_id in by_id:
                    missing[machine_id] = 0 if machine_id in seen else missing[machine_id] + 1
                # Destroyed machines leave the listing; allow a new one a few rounds to show up.
                gone = [m for m in machines if missing[m.id] >= 3 or m.state == "terminated"]
                if gone:
                    raise ProviderError("cloud %s: machine(s) gone while waiting for them: %s"
                                        % (self.cloud.name, ", ".join(m.name for m in gone)),
                                        cloud=self.cloud.name, machines=[m.name for m in gone])
            now = time.time()
            for machine in machines:
                if machine.state == "running":
                    machine.timings.setdefault("running_at", now)
            if until == "ssh":
                ready = [m for m in machines if m.state == "running" and "ssh_ready_at" not in m.timings]
                for machine_id, banner in compat.probe_ssh(ready).items():
                    if banner:
                        by_id[machine_id].timings["ssh_ready_at"] = time.time()
            return all(done(m) for m in machines)

        if not compat.poll_until(check, timeout, first_delay=self.poll_delay, max_delay=max(5.0, self.poll_delay)):
            raise compat.timeout_error(self.cloud.name, until, timeout, [m for m in machines if not done(m)])
        return machines

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

    def _group_rules(self, group):
        """(canonical ingress Rules, {Rule: [rule ids]}) of one group."""
        rules = []
        ids = {}
        for item in group.get("rules") or []:
            if item.get("flow-direction", "ingress") != "ingress":
                continue
            rule = self._rule_from_api(item)
            if rule is None:
                continue
            rules.append(rule)
            ids.setdefault(rule, []).append(item.get("id"))
        return canonical(rules), ids

    def _full_group(self, group):
        # The listing normally carries each group's rules; fetch the group when it does not.
        if "rules" in group:
            return group
        return self._get("read security group %s" % group.get("name"),
                         _path("/security-group/%s", group.get("id"))) or group

    def list_security_groups(self):
        return {name: list(self._group_rules(self._full_group(g))[0]) for name, g in self._group_index().items()}

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

    def ensure_security_group(self, name, description, rules, purge_rules=True, check_mode=False):
        wanted_user = parse_rules(rules, where="security group %s rules" % name)
        wanted = canonical(exo_canonical(r, where="security group %s" % name) for r in wanted_user)
        groups = self._group_index()
        referenced = sorted({r.source[len("group:"):] for r in wanted if r.source.startswith("group:")})
        unknown = [g for g in referenced if g not in groups and g != name]
        if unknown:
            raise ProviderError("cloud %s: security group %s has rules from group(s) %s, which do not exist"
                                % (self.cloud.name, name, ", ".join(unknown)),
                                cloud=self.cloud.name, security_group=name, missing=unknown)
        existing = groups.get(name)
        if existing is None:
            if check_mode:
                return {"changed": True, "before": None, "after": list(wanted), "id": None}
            group_id = self._create_group(name, description)
            self._add_rules(group_id, name, wanted)
            return {"changed": True, "before": None, "after": list(wanted), "id": group_id}
        group_id = existing.get("id")
        current, ids = self._group_rules(self._full_group(existing))
        to_add, to_remove = diff_rules(current, wanted)
        if not purge_rules:
            to_remove = ()
        after = canonical((set(current) - set(to_remove)) | set(to_add))
        if not check_mode:
            for rule in to_remove:
                for rule_id in ids.get(rule, []):
                    what = "remove a rule of security group %s" % name
                    try:
                        operation = self._request_checked(
                            what, "DELETE", _path("/security-group/%s/rules/%s", group_id, rule_id))
                    except ProviderError as exc:
                        if exc.details.get("http_status") == 404:
                            continue        # gone already (a lost answer)
                        raise
                    self._wait_operation(operation, what)
            self._add_rules(group_id, name, to_add)
        return {"changed": bool(to_add or to_remove), "before": list(current), "after": list(after),
                "id": group_id}

    def _add_rules(self, group_id, name, rules):
        for rule in rules:
            what = "add rule %s %s from %s to security group %s" % (
                rule.proto, "" if rule.port_from is None else rule.port_from, rule.source, name)
            attempts = []

            def add(rule=rule):
                attempts.append(1)
                if len(attempts) > 1:      # a lost answer may have added it: look first
                    group = self._request("GET", _path("/security-group/%s", group_id)) or {}
                    if rule in self._group_rules(group)[0]:
                        return None
                return self._request("POST", _path("/security-group/%s/rules", group_id), body=self._rule_body(rule))

            self._wait_operation(self._call(what, add), what)

    def _create_group(self, name, description):
        attempts = []
        what = "create security group %s" % name

        def create():
            attempts.append(1)
            if len(attempts) > 1:
                found = (self._request("GET", "/security-group") or {}).get("security-groups") or []
                for group in found:
                    if group.get("name") == name:
                        return {"state": "success", "reference": {"id": group["id"]}}
            body = {"name": name}
            if description:
                body["description"] = str(description)[:255]
            return self._request("POST", "/security-group", body=body)

        operation = self._wait_operation(self._call(what, create), what)
        group_id = self._reference_id(operation)
        if not group_id:
            group_id = (self._group_index().get(name) or {}).get("id")
        return group_id

    def delete_security_group(self, name, check_mode=False):
        group = self._group_index().get(name)
        if group is None:
            return {"changed": False, "before": None, "after": None}
        before = list(self._group_rules(self._full_group(group))[0])
        if not check_mode:
            what = "delete security group %s" % name
            try:
                operation = self._request_checked(what, "DELETE", _path("/security-group/%s", group["id"]))
            except ProviderError as exc:
                if exc.details.get("http_status") != 404:
                    raise
            else:
                self._wait_operation(operation, what)
        return {"changed": True, "before": before, "after": None}

    # -- images ----------------------------------------------------------------------------------
    def find_images(self, lookup):
        """Templates matching {"name": glob, "owner": maintainer, "visibility", "family"}, newest first."""
        if not isinstance(lookup, dict) or not lookup.get("name"):
            raise ProviderError("cloud %s: an image lookup needs at least a name pattern, e.g. "
                                "{name: 'Linux Debian 12 (Bookworm) 64-bit'}; got %r" % (self.cloud.name, lookup),
                                cloud=self.cloud.name, key="image_lookup")
        unknown = sorted(set(lookup) - set(_LOOKUP_KEYS))
        if unknown:
            raise ProviderError("cloud %s: unknown image lookup key(s) %s; valid for Exoscale: %s"
                                % (self.cloud.name, ", ".join(unknown), ", ".join(_LOOKUP_KEYS)),
                                cloud=self.cloud.name, key="image_lookup")
        visibility = lookup.get("visibility", "public")
        if visibility not in ("public", "private"):
            raise ProviderError("cloud %s: image lookup visibility must be public or private, got %r"
                                % (self.cloud.name, visibility), cloud=self.cloud.name, key="image_lookup.visibility")
        query = {"visibility": visibility}
        if lookup.get("family"):
            query["family"] = lookup["family"]
        answer = self._get("look up templates named %s" % lookup["name"], "/template", query) or {}
        images = []
        for item in answer.get("templates") or []:
            if not fnmatch.fnmatchcase(item.get("name") or "", lookup["name"]):
                continue
            if lookup.get("owner") and item.get("maintainer") != lookup["owner"]:
                continue
            if not self._in_zone(item.get("zones")):
                continue
            images.append({"id": item.get("id"), "name": item.get("name"), "owner": item.get("maintainer"),
                           "creation_date": item.get("created-at"), "version": item.get("version"),
                           "build": item.get("build"), "login_user": item.get("default-user")})
        images.sort(key=lambda i: (_epoch(i["creation_date"]) or 0, i["build"] or "", i["id"] or ""), reverse=True)
        return images

    def resolve_image_lookup(self, lookup):
        if not lookup:
            raise ProviderError("cloud %s: the image has neither an image_id nor an image lookup for this cloud"
                                % self.cloud.name, cloud=self.cloud.name)
        key = repr(sorted(lookup.items())) if isinstance(lookup, dict) else repr(lookup)
        if key not in self._image_cache:
            images = self.find_images(lookup)
            if not images:
                raise ProviderError("cloud %s: no %s template in zone %s matches name %r%s"
                                    % (self.cloud.name, lookup.get("visibility", "public"),
                                       self.zone or "(endpoint)", lookup["name"],
                                       " maintained by %s" % lookup["owner"] if lookup.get("owner") else ""),
                                    cloud=self.cloud.name, lookup=dict(lookup))
            self._image_cache[key] = images[0]["id"]
        return self._image_cache[key]

    def close(self):
        """Nothing is kept open: urllib opens one connection per request."""


def exo_canonical(rule, where=None):
    """A Rule as Exoscale can store it: ports start at 1 (tcp/udp "0-N" is kept as "1-N").

    Both the wanted and the read-back rules go through this, so "all ports"
    (0-65535) compares unchanged with what the API returns (1-65535).
    """
    if rule.proto in ("tcp", "udp") and rule.port_from == 0:
        if rule.port_to == 0:
            raise ProviderError("%s: Exoscale cannot open port 0 (%s); ports start at 1"
                                % (where or "rule", rule.proto), rule=rule.to_dict())
        return type(rule)(rule.proto, 1, rule.port_to, rule.source)
    return rule


register("exoscale", ExoscaleProvider)
