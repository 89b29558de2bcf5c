# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small fake of Exoscale's v2 API on 127.0.0.1 that checks every request against
Exoscale's official OpenAPI document (``openapi.json`` shipped in the ``exoscale`` package).

Every request is checked, in this order, and refused with the reason when it fails:

1. the ``EXO2-HMAC-SHA256`` Authorization header: known credential, not expired, every
   query parameter signed, and the HMAC recomputed over method, path, body, query values
   and expiry (403, like the real API, recorded in ``auth_failures``);
2. the path and method exist in the document (404 / 405);
3. path and query parameters: declared, single, of the declared type and format;
4. the JSON body against the operation's request schema, with objects closed (a property
   the document does not declare is an error, so a misspelt key cannot pass) and readOnly
   properties refused, as OpenAPI 3.0 says of requests (OAS30WriteValidator);
5. labels against Exoscale's published label rules (letters, digits and ``* + ! - _ ?``,
   not starting with a digit, at most 128 characters), which the document does not encode.

Failures of 2-5 answer 400/404/405 and are recorded in ``violations``: a test fixture
asserts it is empty, so any request the provider makes that the document does not allow
fails the test. Every 200 answer is itself checked against the document's response schema
(OAS30ReadValidator, objects closed) before it is sent; a fake that answers outside the
document records a violation and answers 500.

One relaxation, on purpose: the document marks ``security-group.rules`` writeOnly, yet the
API returns a group's rules in get/list-security-group answers (it is the only way to read
them); responses may carry it.

State is in memory. Writes answer with an *operation* that is ``pending`` until polled
``op_polls`` times; instances are ``starting``/``stopping`` until read ``settle_reads``
times. A fault injector answers a share of calls with 429 (with Retry-After) or 503,
before the call acts or after it acted (the lost answer that makes naive retries duplicate).

Use in-process::

    server = ExoscaleFake().start()      # server.url is http://127.0.0.1:PORT/v2
    ...
    server.stop()

or from a shell (prints ``READY <url>``, serves until SIGTERM)::

    python tests/support/exoscale_server.py --port 0 --key EXO... --secret ...

Control (no auth, outside /v2): ``POST /_fake/reset``, ``POST /_fake/faults`` with JSON
``{"rate": 0.3, "statuses": [429, 503], "when": "before|after|both", "only": [opIds],
"limit": 10, "seed": 1}``, ``GET /_fake/log`` (violations, auth failures, calls per operation).
"""

import argparse
import copy
import datetime
import hashlib
import hmac
import importlib.util
import ipaddress
import json
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from jsonschema import FormatChecker
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DEFAULT_KEY = "EXOslipwaytest0123456789"
DEFAULT_SECRET = "slipway-exo-secret-Hq27Lm"
ZONE = "ch-gva-2"
_DOC_URI = "urn:exoscale:openapi"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_LABEL = re.compile(r"^[A-Za-z*+!_?-][A-Za-z0-9*+!_?-]{0,127}$")
GIB = 1 << 30


def openapi_path():
    """Where the installed ``exoscale`` package keeps Exoscale's OpenAPI document."""
    spec = importlib.util.find_spec("exoscale")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the exoscale package is not installed (pip install 'exoscale>=0.16,<0.17')")
    path = os.path.join(list(spec.submodule_search_locations)[0], "openapi.json")
    if not os.path.exists(path):
        raise RuntimeError("%s is missing: this exoscale release ships no OpenAPI document" % path)
    return path


class Violation(Exception):
    """A request (or answer) the OpenAPI document does not allow."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------
# validation against the document
# ---------------------------------------------------------------------------

def _format_checker():
    checker = FormatChecker(())
    checker.checkers.update(oas30_format_checker.checkers)

    @checker.checks("uuid")
    def is_uuid(value):
        if not isinstance(value, str):
            return True
        return bool(re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", value))

    @checker.checks("ipv4")
    def is_ipv4(value):
        if not isinstance(value, str):
            return True
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return False
        return True

    @checker.checks("date-time")
    def is_date_time(value):
        if not isinstance(value, str):
            return True
        if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
            return False
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True

    return checker


def _close_objects(node):
    """Every object schema with declared properties and no additionalProperties becomes closed."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node \
                and node.get("type", "object") == "object":
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)
    return node


def _pointer(*parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class OpenApiDocument:
    """Routing and validation of requests and answers against one OpenAPI 3.0 document."""

    def __init__(self, path=None):
        with open(path or openapi_path(), "r") as handle:
            self.doc = json.load(handle)
        request_doc = _close_objects(copy.deepcopy(self.doc))
        response_doc = copy.deepcopy(self.doc)
        # The one relaxation (see the module docstring): the API returns rules it documents as writeOnly.
        response_doc["components"]["schemas"]["security-group"]["properties"]["rules"].pop("writeOnly", None)
        _close_objects(response_doc)
        self.formats = _format_checker()
        self._registries = {
            "request": Registry().with_resource(_DOC_URI, Resource.from_contents(request_doc, DRAFT4)),
            "response": Registry().with_resource(_DOC_URI, Resource.from_contents(response_doc, DRAFT4)),
        }
        self.base_path = urlsplit(self.doc["servers"][0]["url"]).path.rstrip("/")   # "/v2"
        self.routes = []
        for template, item in self.doc["paths"].items():
            pattern = ""
            names = []
            for piece in re.split(r"(\{[^}]+\})", template):
                if piece.startswith("{"):
                    names.append(piece[1:-1])
                    pattern += "([^/:]+)"
                else:
                    pattern += re.escape(piece)
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            operations = {m.upper(): op for m, op in item.items() if m in _METHODS}
            self.routes.append((literal, re.compile("^%s$" % pattern), names, template, operations,
                                item.get("parameters", [])))
        self.routes.sort(key=lambda route: -route[0])
        self.operation_ids = {op["operationId"] for r in self.routes for op in r[4].values()}

    def _validator(self, kind, pointer):
        cls = OAS30WriteValidator if kind == "request" else OAS30ReadValidator
        return cls({"$ref": "%s#/%s" % (_DOC_URI, pointer)}, registry=self._registries[kind],
                   format_checker=self.formats)

    def _check(self, kind, pointer, value, where):
        errors = sorted(self._validator(kind, pointer).iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            at = "/".join(str(p) for p in first.absolute_path) or "(top)"
            more = " (and %d more)" % (len(errors) - 1) if len(errors) > 1 else ""
            raise Violation(400, "%s: at %s: %s%s" % (where, at, first.message, more))

    def route(self, method, path):
        """(operation, template, path params) for a request path below the base path."""
        if not path.startswith(self.base_path + "/"):
            raise Violation(404, "path %s is not below the API base path %s" % (path, self.base_path))
        relative = path[len(self.base_path):]
        for dummy, regex, names, template, operations, common in self.routes:
            match = regex.match(relative)
            if not match:
                continue
            if method not in operations:
                raise Violation(405, "%s %s: the document allows only %s on %s"
                                % (method, relative, ", ".join(sorted(operations)), template))
            params = {name: unquote(value) for name, value in zip(names, match.groups())}
            return operations[method], template, params
        raise Violation(404, "%s %s: no such path in the OpenAPI document" % (method, relative))

    def check_request(self, method, path, raw_query, content_type, body):
        """Validate one request; returns (operationId, template, path params, query dict, JSON body)."""
        operation, template, path_params = self.route(method, path)
        op_id = operation["operationId"]
        where = "%s (%s %s)" % (op_id, method, template)
        declared = {}
        for param in operation.get("parameters", []):
            declared[(param["in"], param["name"])] = param
        index_of = {(p["in"], p["name"]): i for i, p in enumerate(operation.get("parameters", []))}

        def check_param(param, text):
            schema = param.get("schema", {})
            value = text
            kind = schema.get("type")
            if kind == "integer":
                if not re.match(r"^-?\d+$", text):
                    raise Violation(400, "%s: %s parameter %s=%r is not an integer"
                                    % (where, param["in"], param["name"], text))
                value = int(text)
            elif kind == "boolean":
                if text not in ("true", "false"):
                    raise Violation(400, "%s: %s parameter %s=%r is not true/false" % (where, param["in"],
                                                                                       param["name"], text))
                value = text == "true"
            index = index_of[(param["in"], param["name"])]
            self._check("request", _pointer("paths", template, method.lower(), "parameters", index, "schema"),
                        value, "%s: %s parameter %s" % (where, param["in"], param["name"]))
            return value

        for name, text in path_params.items():
            param = declared.get(("path", name))
            if param is None:
                raise Violation(400, "%s: path parameter %s is not declared" % (where, name))
            check_param(param, text)

        query = {}
        parsed = parse_qs(raw_query, keep_blank_values=True) if raw_query else {}
        for name, values in parsed.items():
            param = declared.get(("query", name))
            if param is None:
                known = sorted(n for (where_in, n) in declared if where_in == "query")
                raise Violation(400, "%s: unknown query parameter %r (declared: %s)"
                                % (where, name, ", ".join(known) or "none"))
            if len(values) != 1:
                raise Violation(400, "%s: query parameter %s given %d times" % (where, name, len(values)))
            query[name] = check_param(param, values[0])
        for (where_in, name), param in declared.items():
            if param.get("required") and where_in == "query" and name not in query:
                raise Violation(400, "%s: required query parameter %s is missing" % (where, name))

        request_body = operation.get("requestBody")
        data = None
        if request_body is None:
            if body:
                raise Violation(400, "%s: this operation takes no request body, got %d bytes" % (where, len(body)))
        else:
            if not body:
                if request_body.get("required"):
                    raise Violation(400, "%s: the request body is required (application/json)" % where)
            else:
                media = (content_type or "").split(";")[0].strip().lower()
                if media not in request_body.get("content", {}):
                    raise Violation(415, "%s: content type %r; the document allows %s"
                                    % (where, content_type, ", ".join(request_body.get("content", {}))))
                try:
                    data = json.loads(body.decode("utf-8"))
                except ValueError as exc:
                    raise Violation(400, "%s: the body is not JSON (%s)" % (where, exc))
                self._check("request", _pointer("paths", template, method.lower(), "requestBody", "content",
                                                media, "schema"), data, "%s: request body" % where)
        return op_id, template, path_params, query, data

    def check_response(self, op_id, template, method, status, data):
        responses = None
        for dummy, regex, names, tmpl, operations, common in self.routes:
            if tmpl == template:
                responses = operations[method]["responses"]
        spec = (responses or {}).get(str(status))
        if spec is None:
            raise Violation(500, "%s: the document has no %d answer" % (op_id, status))
        if "application/json" not in spec.get("content", {}):
            return
        self._check("response", _pointer("paths", template, method.lower(), "responses", str(status), "content",
                                         "application/json", "schema"), data, "%s: %d answer" % (op_id, status))


# ---------------------------------------------------------------------------
# signature check (EXO2-HMAC-SHA256)
# ---------------------------------------------------------------------------

def verify_signature(header, credentials, method, raw_path, raw_query, body, now=None):
    """None when ``header`` signs this request with one of ``credentials`` ({key: secret}); else why not."""
    if not header:
        return "no Authorization header"
    if not header.startswith("EXO2-HMAC-SHA256 "):
        return "Authorization is not EXO2-HMAC-SHA256"
    fields = {}
    for part in header[len("EXO2-HMAC-SHA256 "):].split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return "malformed Authorization field %r" % part
        fields[name] = value
    for name in ("credential", "expires", "signature"):
        if name not in fields:
            return "Authorization lacks %s=" % name
    secret = credentials.get(fields["credential"])
    if secret is None:
        return "unknown API key"
    if not re.match(r"^\d+$", fields["expires"]):
        return "expires is not a Unix timestamp"
    if int(fields["expires"]) < (time.time() if now is None else now):
        return "request signature expired"
    query = parse_qs(raw_query, keep_blank_values=True) if raw_query else {}
    signed = [n for n in fields.get("signed-query-args", "").split(";") if n]
    if sorted(signed) != sorted(query):
        return "signed-query-args %s do not match the query parameters %s" % (signed, sorted(query))
    values = []
    for name in signed:
        if len(query[name]) != 1:
            return "query parameter %s repeated" % name
        values.append(query[name][0])
    message = b"\n".join([("%s %s" % (method, raw_path)).encode("utf-8"), body or b"",
                          "".join(values).encode("utf-8"), b"", fields["expires"].encode("ascii")])
    expected = b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")
    if not hmac.compare_digest(expected, fields["signature"]):
        return "invalid request signature"
    return None


# ---------------------------------------------------------------------------
# the fake's state and operations
# ---------------------------------------------------------------------------

def _now_text():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _id():
    return str(uuid.uuid4())


class ApiError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


STANDARD_TYPES = (("micro", 1, 0.5), ("tiny", 1, 1), ("small", 2, 2), ("medium", 2, 4), ("large", 4, 8),
                  ("extra-large", 4, 16), ("huge", 8, 32), ("mega", 12, 64), ("titan", 16, 128))
OTHER_TYPES = (("memory", "large", 2, 16), ("cpu", "extra-large", 8, 16), ("gpu", "small", 12, 56))


class FakeState:
    """The fake's world: instance types, templates, instances, security groups, SSH keys, operations."""

    def __init__(self, zone=ZONE, op_polls=1, settle_reads=1):
        self.zone = zone
        self.op_polls = op_polls
        self.settle_reads = settle_reads
        self.instance_types = {}
        for size, cpus, ram in STANDARD_TYPES:
            self._add_type("standard", size, cpus, ram)
        for family, size, cpus, ram in OTHER_TYPES:
            self._add_type(family, size, cpus, ram, zones=["de-fra-1"] if family == "gpu" else None)
        self.templates = {}
        self.add_template("Linux Debian 12 (Bookworm) 64-bit", "2024-01-10T08:00:00Z", build="2024-01-09",
                          default_user="debian")
        self.add_template("Linux Debian 12 (Bookworm) 64-bit", "2025-03-02T08:00:00Z", build="2025-03-01",
                          default_user="debian")
        self.add_template("Linux Debian 12 (Bookworm) 64-bit", "2024-09-20T08:00:00Z", build="2024-09-19",
                          default_user="debian")
        self.add_template("Linux Debian 11 (Bullseye) 64-bit", "2025-04-01T08:00:00Z", default_user="debian")
        self.add_template("Linux Ubuntu 24.04 LTS 64-bit", "2025-02-01T08:00:00Z", default_user="ubuntu")
        self.add_template("Linux Debian 12 (Bookworm) 64-bit", "2025-05-01T08:00:00Z", build="elsewhere",
                          zones=["de-fra-1"])
        self.instances = {}
        self.security_groups = {}
        self.ssh_keys = {}
        self.anti_affinity_groups = {}
        self.operations = {}
        self._next_ip = 10

    def _add_type(self, family, size, cpus, ram_gb, zones=None):
        type_id = _id()
        self.instance_types[type_id] = {"id": type_id, "family": family, "size": size, "cpus": cpus,
                                        "memory": int(ram_gb * GIB), "authorized": True,
                                        "zones": zones or [self.zone, "ch-dk-2", "de-fra-1"]}
        return type_id

    def add_template(self, name, created_at, build="1", default_user="debian", visibility="public",
                     zones=None, maintainer="Exoscale"):
        template_id = _id()
        self.templates[template_id] = {
            "id": template_id, "name": name, "description": name, "created-at": created_at, "build": build,
            "version": build, "family": name.split()[1].lower() if " " in name else "other",
            "default-user": default_user, "visibility": visibility, "maintainer": maintainer,
            "zones": zones or [self.zone], "boot-mode": "legacy", "ssh-key-enabled": True,
            "password-enabled": True, "size": 10 * GIB}
        return template_id

    # -- operations ----------------------------------------------------------------------
    def operation(self, resource_id, link, command):
        op_id = _id()
        reference = {"link": link, "command": command}
        if resource_id is not None:          # SSH keys are named, not identified: no reference id
            reference["id"] = resource_id
        self.operations[op_id] = {"id": op_id, "state": "pending", "polls": self.op_polls,
                                  "reference": reference}
        if self.op_polls <= 0:
            self.operations[op_id]["state"] = "success"
        return self._op_view(self.operations[op_id])

    @staticmethod
    def _op_view(op):
        return {"id": op["id"], "state": op["state"], "reference": dict(op["reference"])}

    def get_operation(self, op_id):
        op = self.operations.get(op_id)
        if op is None:
            raise ApiError(404, "operation %s not found" % op_id)
        if op["state"] == "pending":
            op["polls"] -= 1
            if op["polls"] <= 0:
                op["state"] = "success"
        return self._op_view(op)

    # -- instances ----------------------------------------------------------------------
    def _settle(self):
        for inst in self.instances.values():
            if inst["state"] in ("starting", "stopping"):
                inst["settle"] -= 1
                if inst["settle"] <= 0:
                    inst["state"] = "running" if inst["state"] == "starting" else "stopped"

    def _instance_view(self, inst, full):
        view = {"id": inst["id"], "name": inst["name"], "state": inst["state"], "labels": dict(inst["labels"]),
                "instance-type": {"id": inst["type"]}, "template": {"id": inst["template"]},
                "created-at": inst["created-at"], "mac-address": inst["mac"],
                "public-ip-assignment": "inet4", "public-ip": inst["ip"],
                "security-groups": [{"id": g} for g in inst["groups"]],
                "ssh-keys": [{"name": k} for k in inst["keys"]]}
        if inst["keys"]:
            view["ssh-key"] = {"name": inst["keys"][0]}
        if full:
            view["disk-size"] = inst["disk"]
        return view

    def list_instances(self, query):
        self._settle()
        items = list(self.instances.values())
        if "ip-address" in query:
            items = [i for i in items if i["ip"] == query["ip-address"]]
        if "manager-id" in query or "manager-type" in query:
            items = []                       # the fake has no instance pools
        if "labels" in query:
            # The document does not say how a labels filter is written: refuse rather than guess.
            raise ApiError(400, "the fake does not interpret the undocumented labels filter")
        items.sort(key=lambda i: i["created-at"])
        return {"instances": [self._instance_view(i, False) for i in items]}

    def get_instance(self, instance_id):
        self._settle()
        return self._instance_view(self._instance(instance_id), True)

    def _instance(self, instance_id):
        inst = self.instances.get(instance_id)
        if inst is None:
            raise ApiError(404, "instance %s not found" % instance_id)
        return inst

    def create_instance(self, body):
        type_id = body["instance-type"].get("id")
        template_id = body["template"].get("id")
        if type_id not in self.instance_types:
            raise ApiError(404, "instance type %s not found" % type_id)
        if self.zone not in self.instance_types[type_id]["zones"]:
            raise ApiError(400, "instance type not available in zone %s" % self.zone)
        template = self.templates.get(template_id)
        if template is None or self.zone not in template["zones"]:
            raise ApiError(404, "template %s not found" % template_id)
        groups = [g.get("id") for g in body.get("security-groups", [])]
        for group in groups:
            if group not in self.security_groups:
                raise ApiError(404, "security group %s not found" % group)
        keys = [k.get("name") for k in body.get("ssh-keys", [])]
        if "ssh-key" in body:
            keys.append(body["ssh-key"]["name"])
        for key in keys:
            if key not in self.ssh_keys:
                raise ApiError(404, "SSH key %s not found" % key)
        if "name" in body and not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$", body["name"]):
            raise ApiError(400, "invalid instance name %r" % body["name"])
        instance_id = _id()
        self._next_ip += 1
        self.instances[instance_id] = {
            "id": instance_id, "name": body.get("name") or "vm-" + instance_id[:8], "type": type_id,
            "template": template_id, "disk": body["disk-size"], "labels": dict(body.get("labels") or {}),
            "groups": groups, "keys": keys, "created-at": _now_text(),
            "state": "starting" if body.get("auto-start", True) else "stopped", "settle": self.settle_reads,
            "ip": "198.18.255.%d" % (self._next_ip % 250 + 2),
            "mac": "06:00:00:%02x:%02x:%02x" % tuple(random.randrange(256) for dummy in range(3))}
        return self.operation(instance_id, "/v2/instance/%s" % instance_id, "get-instance")

    def delete_instance(self, instance_id):
        self._instance(instance_id)
        del self.instances[instance_id]
        return self.operation(instance_id, "/v2/instance/%s" % instance_id, "get-instance")

    def start_instance(self, instance_id):
        inst = self._instance(instance_id)
        if inst["state"] in ("stopped", "stopping"):
            inst["state"], inst["settle"] = "starting", self.settle_reads
        return self.operation(instance_id, "/v2/instance/%s" % instance_id, "get-instance")

    def stop_instance(self, instance_id):
        inst = self._instance(instance_id)
        if inst["state"] in ("running", "starting"):
            inst["state"], inst["settle"] = "stopping", self.settle_reads
        return self.operation(instance_id, "/v2/instance/%s" % instance_id, "get-instance")

    # -- security groups ------------------------------------------------------------------
    def _group_view(self, group):
        view = {"id": group["id"], "name": group["name"], "rules": [dict(r) for r in group["rules"]]}
        if group.get("description"):
            view["description"] = group["description"]
        return view

    def _group(self, group_id):
        group = self.security_groups.get(group_id)
        if group is None:
            raise ApiError(404, "security group %s not found" % group_id)
        return group

    def list_security_groups(self, query):
        if query.get("visibility") == "public":
            return {"security-groups": []}
        return {"security-groups": [self._group_view(g) for g in self.security_groups.values()]}

    def get_security_group(self, group_id):
        return self._group_view(self._group(group_id))

    def create_security_group(self, body):
        if any(g["name"] == body["name"] for g in self.security_groups.values()):
            raise ApiError(409, "a security group named %s already exists" % body["name"])
        group_id = _id()
        self.security_groups[group_id] = {"id": group_id, "name": body["name"],
                                          "description": body.get("description", ""), "rules": []}
        return self.operation(group_id, "/v2/security-group/%s" % group_id, "get-security-group")

    def delete_security_group(self, group_id):
        group = self._group(group_id)
        users = [i["name"] for i in self.instances.values() if group_id in i["groups"]]
        if users:
            raise ApiError(409, "security group %s is in use by %s" % (group["name"], ", ".join(users)))
        del self.security_groups[group_id]
        return self.operation(group_id, "/v2/security-group/%s" % group_id, "get-security-group")

    def create_anti_affinity_group(self, body):
        if any(g["name"] == body["name"] for g in self.anti_affinity_groups.values()):
            raise ApiError(409, "an anti-affinity group named %s already exists" % body["name"])
        group_id = _id()
        self.anti_affinity_groups[group_id] = {"id": group_id, "name": body["name"],
                                               "description": body.get("description", "")}
        return self.operation(group_id, "/v2/anti-affinity-group/%s" % group_id, "get-anti-affinity-group")

    def get_anti_affinity_group(self, group_id):
        if group_id not in self.anti_affinity_groups:
            raise ApiError(404, "anti-affinity group %s not found" % group_id)
        return dict(self.anti_affinity_groups[group_id])

    def delete_anti_affinity_group(self, group_id):
        self.get_anti_affinity_group(group_id)
        del self.anti_affinity_groups[group_id]
        return self.operation(group_id, "/v2/anti-affinity-group/%s" % group_id, "get-anti-affinity-group")

    def add_rule(self, group_id, body):
        group = self._group(group_id)
        rule = {"id": _id(), "flow-direction": body["flow-direction"], "protocol": body["protocol"]}
        if ("network" in body) == ("security-group" in body):
            raise ApiError(400, "a rule needs exactly one of network and security-group")
        if "network" in body:
            try:
                rule["network"] = str(ipaddress.ip_network(body["network"], strict=True))
            except ValueError:
                raise ApiError(400, "invalid network %r" % body["network"])
        else:
            ref = body["security-group"]
            target = None
            for candidate in self.security_groups.values():
                if candidate["name"] == ref.get("name") or candidate["id"] == ref.get("id"):
                    target = candidate
            if target is None:
                raise ApiError(404, "security group %s not found" % (ref.get("name") or ref.get("id")))
            rule["security-group"] = {"id": target["id"], "name": target["name"]}
        if body["protocol"] in ("tcp", "udp"):
            if "start-port" not in body or "end-port" not in body:
                raise ApiError(400, "%s rules need start-port and end-port" % body["protocol"])
            if body["start-port"] > body["end-port"]:
                raise ApiError(400, "start-port is above end-port")
            rule["start-port"], rule["end-port"] = body["start-port"], body["end-port"]
        elif body["protocol"] in ("icmp", "icmpv6"):
            icmp = body.get("icmp") or {}
            rule["icmp"] = {"type": -1 if icmp.get("type") is None else icmp["type"],
                            "code": -1 if icmp.get("code") is None else icmp["code"]}
        elif "start-port" in body or "end-port" in body:
            raise ApiError(400, "protocol %s takes no ports" % body["protocol"])
        if body.get("description"):
            rule["description"] = body["description"]
        same = {k: v for k, v in rule.items() if k != "id"}
        for existing in group["rules"]:
            if {k: v for k, v in existing.items() if k != "id"} == same:
                raise ApiError(409, "this rule already exists")
        group["rules"].append(rule)
        return self.operation(group_id, "/v2/security-group/%s" % group_id, "get-security-group")

    def delete_rule(self, group_id, rule_id):
        group = self._group(group_id)
        kept = [r for r in group["rules"] if r["id"] != rule_id]
        if len(kept) == len(group["rules"]):
            raise ApiError(404, "rule %s not found" % rule_id)
        group["rules"] = kept
        return self.operation(group_id, "/v2/security-group/%s" % group_id, "get-security-group")

    # -- SSH keys ---------------------------------------------------------------------------
    def register_ssh_key(self, body):
        if body["name"] in self.ssh_keys:
            raise ApiError(409, "an SSH key named %s already exists" % body["name"])
        parts = body["public-key"].split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise ApiError(400, "invalid public key")
        fingerprint = hashlib.md5(parts[1].encode("ascii")).hexdigest()
        self.ssh_keys[body["name"]] = {"name": body["name"],
                                       "fingerprint": ":".join(re.findall("..", fingerprint))}
        return self.operation(None, "/v2/ssh-key/%s" % body["name"], "get-ssh-key")

    def get_ssh_key(self, name):
        if name not in self.ssh_keys:
            raise ApiError(404, "SSH key %s not found" % name)
        return dict(self.ssh_keys[name])

    def delete_ssh_key(self, name):
        self.get_ssh_key(name)
        del self.ssh_keys[name]
        return self.operation(None, "/v2/ssh-key/%s" % name, "get-ssh-key")

    # -- templates, types, zones -------------------------------------------------------------
    def list_templates(self, query):
        visibility = query.get("visibility", "public")
        items = [t for t in self.templates.values() if t["visibility"] == visibility and self.zone in t["zones"]]
        if query.get("family"):
            items = [t for t in items if t["family"] == query["family"]]
        return {"templates": [dict(t) for t in items]}

    def get_template(self, template_id):
        template = self.templates.get(template_id)
        if template is None:
            raise ApiError(404, "template %s not found" % template_id)
        return dict(template)

    def list_instance_types(self):
        return {"instance-types": [dict(t) for t in self.instance_types.values()]}

    def list_zones(self):
        return {"zones": [{"name": z, "api-endpoint": "https://api-%s.exoscale.com/v2" % z}
                          for z in ("ch-gva-2", "ch-dk-2", "de-fra-1")]}


def _check_labels(labels, where):
    for key, value in (labels or {}).items():
        for what, text in (("key", key), ("value", value)):
            if not _LABEL.match(text):
                raise Violation(400, "%s: label %s %r breaks Exoscale's label rules (letters, digits and "
                                     "* + ! - _ ?, not starting with a digit, 1-128 characters)" % (where, what, text))


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------

class FaultInjector:
    def __init__(self):
        self.configure()

    def configure(self, rate=0.0, statuses=(429, 503), when="before", only=None, limit=None, seed=None):
        self.rate = float(rate)
        self.statuses = tuple(statuses)
        self.when = when
        self.only = set(only) if only else None
        self.limit = limit
        self.random = random.Random(seed)
        self.injected = 0
        self.by_operation = {}

    def decide(self, op_id):
        """(status, "before"|"after") or None."""
        if self.rate <= 0 or (self.only and op_id not in self.only):
            return None
        if self.limit is not None and self.injected >= self.limit:
            return None
        if self.random.random() >= self.rate:
            return None
        when = self.when if self.when != "both" else self.random.choice(("before", "after"))
        self.injected += 1
        self.by_operation[op_id] = self.by_operation.get(op_id, 0) + 1
        return self.random.choice(self.statuses), when


class ExoscaleFake:
    """The fake API server; ``start()`` serves on 127.0.0.1 in a thread."""

    def __init__(self, key=DEFAULT_KEY, secret=DEFAULT_SECRET, zone=ZONE, port=0, op_polls=1, settle_reads=1,
                 document=None):
        self.credentials = {key: secret}
        self.key, self.secret = key, secret
        self.zone = zone
        self.port = port
        self.document = document or OpenApiDocument()
        self.op_polls, self.settle_reads = op_polls, settle_reads
        self.lock = threading.RLock()
        self.faults = FaultInjector()
        self.reset()
        self.httpd = None
        self.thread = None

    def reset(self):
        with self.lock:
            self.state = FakeState(self.zone, self.op_polls, self.settle_reads)
            self.violations = []
            self.auth_failures = []
            self.calls = {}              # operationId -> count
            self.log = []                # (method, path, status)
            self.faults.configure()

    @property
    def url(self):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], self.document.base_path)

    def count(self, op_id):
        return self.calls.get(op_id, 0)

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.handle(self.command, self.path, dict(self.headers.items()), body)
                data = json.dumps(payload).encode("utf-8") if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="exoscale-fake", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
            self.httpd = None

    # -- one request ---------------------------------------------------------------------------
    def handle(self, method, target, headers, body):
        split = urlsplit(target)
        raw_path, raw_query = split.path, split.query
        if raw_path.startswith("/_fake/"):
            return self._control(method, raw_path, body)
        with self.lock:
            status, payload, extra = self._api(method, raw_path, raw_query, headers, body)
            self.log.append((method, target, status))
            return status, payload, extra

    def _api(self, method, raw_path, raw_query, headers, body):
        lower = {k.lower(): v for k, v in headers.items()}
        why = verify_signature(lower.get("authorization"), self.credentials, method, raw_path, raw_query, body)
        if why:
            self.auth_failures.append("%s %s: %s" % (method, raw_path, why))
            return 403, {"message": why}, {}
        try:
            op_id, template, params, query, data = self.document.check_request(
                method, unquote(raw_path), raw_query, lower.get("content-type"), body)
            if op_id == "create-instance":
                _check_labels((data or {}).get("labels"), op_id)
        except Violation as exc:
            self.violations.append("%s %s: %s" % (method, raw_path, exc.message))
            return exc.status, {"message": exc.message}, {}
        self.calls[op_id] = self.calls.get(op_id, 0) + 1
        fault = self.faults.decide(op_id)
        if fault and fault[1] == "before":
            return self._fault(fault[0])
        try:
            payload = self._dispatch(op_id, params, query, data)
            status = 200
        except ApiError as exc:
            if fault:                             # the refusal is lost too
                return self._fault(fault[0])
            return exc.status, {"message": exc.message}, exc.headers
        try:
            self.document.check_response(op_id, template, method, status, payload)
        except Violation as exc:
            self.violations.append("fake answered outside the document: %s" % exc.message)
            return 500, {"message": "fake answered outside the document: %s" % exc.message}, {}
        if fault:
            return self._fault(fault[0])          # it acted; the answer is lost
        return status, payload, {}

    @staticmethod
    def _fault(status):
        if status == 429:
            return 429, {"message": "Too Many Requests"}, {"Retry-After": "1"}
        return status, {"message": "Service Unavailable"}, {}

    def _dispatch(self, op_id, params, query, data):
        s = self.state
        table = {
            "list-instances": lambda: s.list_instances(query),
            "get-instance": lambda: s.get_instance(params["id"]),
            "create-instance": lambda: s.create_instance(data),
            "delete-instance": lambda: s.delete_instance(params["id"]),
            "start-instance": lambda: s.start_instance(params["id"]),
            "stop-instance": lambda: s.stop_instance(params["id"]),
            "list-security-groups": lambda: s.list_security_groups(query),
            "get-security-group": lambda: s.get_security_group(params["id"]),
            "create-security-group": lambda: s.create_security_group(data),
            "delete-security-group": lambda: s.delete_security_group(params["id"]),
            "add-rule-to-security-group": lambda: s.add_rule(params["id"], data),
            "delete-rule-from-security-group": lambda: s.delete_rule(params["id"], params["rule-id"]),
            "list-anti-affinity-groups": lambda: {"anti-affinity-groups": [
                dict(g) for g in s.anti_affinity_groups.values()]},
            "get-anti-affinity-group": lambda: s.get_anti_affinity_group(params["id"]),
            "create-anti-affinity-group": lambda: s.create_anti_affinity_group(data),
            "delete-anti-affinity-group": lambda: s.delete_anti_affinity_group(params["id"]),
            "list-ssh-keys": lambda: {"ssh-keys": [dict(k) for k in s.ssh_keys.values()]},
            "get-ssh-key": lambda: s.get_ssh_key(params["name"]),
            "register-ssh-key": lambda: s.register_ssh_key(data),
            "delete-ssh-key": lambda: s.delete_ssh_key(params["name"]),
            "list-templates": lambda: s.list_templates(query),
            "get-template": lambda: s.get_template(params["id"]),
            "list-instance-types": s.list_instance_types,
            "get-operation": lambda: s.get_operation(params["id"]),
            "list-zones": s.list_zones,
        }
        handler = table.get(op_id)
        if handler is None:
            raise ApiError(501, "%s is in the document but not implemented by the fake" % op_id)
        return handler()

    def _control(self, method, path, body):
        if path == "/_fake/reset" and method == "POST":
            self.reset()
            return 200, {"reset": True}, {}
        if path == "/_fake/faults" and method == "POST":
            settings = json.loads(body.decode("utf-8") or "{}")
            with self.lock:
                self.faults.configure(**settings)
            return 200, settings, {}
        if path == "/_fake/log" and method == "GET":
            with self.lock:
                return 200, {"violations": list(self.violations), "auth_failures": list(self.auth_failures),
                             "calls": dict(self.calls), "faults_injected": self.faults.injected}, {}
        return 404, {"message": "unknown control path"}, {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default=os.environ.get("EXOSCALE_API_KEY", DEFAULT_KEY))
    parser.add_argument("--secret", default=os.environ.get("EXOSCALE_API_SECRET", DEFAULT_SECRET))
    parser.add_argument("--zone", default=ZONE)
    parser.add_argument("--op-polls", type=int, default=1)
    args = parser.parse_args(argv)
    fake = ExoscaleFake(key=args.key, secret=args.secret, zone=args.zone, port=args.port,
                        op_polls=args.op_polls).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    print("READY %s" % fake.url, flush=True)
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
