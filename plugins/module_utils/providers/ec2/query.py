# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2's query API over the Python standard library: Signature Version 4, HTTP, XML.

Why not libcloud's EC2 connection: its region table stops at 23 regions (no eu-central-2,
il-central-1, ca-west-1, ...), so it cannot reach newer regions at all, and importing it costs
about 0.15 s before the first call of every run (the inventory's listing waits for that).

Each thread keeps one HTTP connection open to the endpoint (a fleet makes many small calls);
when the environment names a proxy for the endpoint, urllib's proxy handling is used instead.
No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import http.client
import re
import select
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlsplit
from urllib.request import HTTPSHandler, Request, build_opener, getproxies, proxy_bypass

API_VERSION = "2016-11-15"
SERVICE = "ec2"
#: aws, aws-cn, aws-us-gov and the isolated partitions: us-east-1, cn-north-1, us-gov-west-1, eu-isoe-west-1
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+\Z")
_ROOT_NAMESPACE = re.compile(rb'\sxmlns="[^"]*"')


def _still_open(connection):
    """True when an idle kept-alive connection can carry the next call.

    Idle, it has nothing to read: readable means the server closed it (EOF) or sent something unasked.
    """
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable = select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):
        return False
    return not readable


class Ec2ApiError(Exception):
    """An EC2 error answer: ``status`` (HTTP), ``code`` ("RequestLimitExceeded" or None), ``message``."""

    def __init__(self, status, code, message, headers=None):
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        super(Ec2ApiError, self).__init__("%s: %s" % (code, message) if code else message)


def default_endpoint(region):
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return "https://ec2.%s.%s" % (region, suffix)


def _hmac(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign_v4(method, host, path, query, headers, body, region, key, secret, amz_date, service=SERVICE):
    """The ``Authorization`` header of AWS Signature Version 4 for one request.

    ``headers`` are the headers to sign besides ``host`` (names in any case); ``query`` is the
    already encoded query string; ``amz_date`` is ``YYYYMMDDTHHMMSSZ`` (also sent as X-Amz-Date).
    """
    signed = dict((name.lower(), " ".join(str(value).split())) for name, value in headers.items())
    signed["host"] = host
    names = sorted(signed)
    canonical_query = "&".join(sorted(query.split("&"))) if query else ""
    canonical = "\n".join([
        method, path or "/", canonical_query,
        "".join("%s:%s\n" % (name, signed[name]) for name in names),
        ";".join(names), hashlib.sha256(body).hexdigest(),
    ])
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    signing_key = ("AWS4" + secret).encode("utf-8")
    for part in (amz_date[:8], region, service, "aws4_request"):
        signing_key = _hmac(signing_key, part)
    signature = hmac.new(signing_key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (key, scope, ";".join(names), signature)


def encode_params(params):
    """A form body of ``params`` (AWS wants %20, not +, and the unreserved characters as they are)."""
    return "&".join("%s=%s" % (quote(str(name), safe="-_.~"), quote(str(value), safe="-_.~"))
                    for name, value in sorted(params.items())).encode("utf-8")


def parse_xml(payload):
    """The answer's root element, without EC2's default namespace (real EC2 and moto spell it differently).

    The namespace is declared once, on the root element: dropping that declaration before parsing
    costs nothing per element, unlike renaming every element afterwards.
    """
    start = payload.find(b"<", payload.find(b"?>") + 1 if payload.lstrip().startswith(b"<?") else 0)
    end = payload.find(b">", start)
    if start < 0 or end < 0:
        raise ValueError("not an XML document")
    head = _ROOT_NAMESPACE.sub(b"", payload[start:end])
    return ET.fromstring(payload[:start] + head + payload[end:])


def error_from_answer(status, payload, headers=None):
    """Ec2ApiError for an error answer: the code and message of an EC2 error document, else the status."""
    try:
        root = parse_xml(payload)
        error = root.find(".//Errors/Error")
        if error is None and root.tag == "Error":
            error = root
        if error is not None and error.findtext("Code"):
            return Ec2ApiError(status, error.findtext("Code"), error.findtext("Message") or "", headers)
    except (ValueError, ET.ParseError):
        pass
    return Ec2ApiError(status, None, "HTTP %d (not an EC2 error document)" % status, headers)


class Ec2QueryClient:
    """Signed EC2 query calls to one region: ``call({"Action": ..., ...})`` returns the answer's root."""

    def __init__(self, region, key, secret, token=None, endpoint=None, timeout=30.0, ca_bundle=None,
                 clock=time.gmtime):
        """``ca_bundle``: a PEM file of the certificate authorities to trust instead of the system's
        (``AWS_CA_BUNDLE``, as the AWS tools read it, for a TLS-inspecting proxy or a private endpoint)."""
        endpoint = endpoint or default_endpoint(region)
        split = urlsplit(endpoint)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError("endpoint %r is not a URL like https://ec2.eu-west-1.amazonaws.com" % (endpoint,))
        self.region = region
        self.endpoint = endpoint
        self.scheme = split.scheme
        self.hostname = split.hostname
        self.port = split.port or (443 if split.scheme == "https" else 80)
        default_port = self.port == (443 if split.scheme == "https" else 80)
        self.host = self.hostname if default_port else "%s:%d" % (self.hostname, self.port)
        self.path = split.path or "/"
        self.key = key
        self.secret = secret
        self.token = token
        self.timeout = timeout
        self.clock = clock
        self._proxy = bool(getproxies().get(self.scheme)) and not proxy_bypass(self.hostname)
        # certificates and host names are always checked; only the trusted authorities may change
        self._tls = ssl.create_default_context(cafile=ca_bundle) if self.scheme == "https" else None
        self._opener = build_opener(HTTPSHandler(context=self._tls)) if self._proxy else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []

    # -- one request ---------------------------------------------------------------
    def call(self, params):
        params = dict(params)
        params.setdefault("Version", API_VERSION)
        body = encode_params(params)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", self.clock())
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Amz-Date": amz_date}
        if self.token:
            headers["X-Amz-Security-Token"] = self.token
        headers["Authorization"] = sign_v4("POST", self.host, self.path, "", headers, body, self.region,
                                           self.key, self.secret, amz_date)
        headers["User-Agent"] = "slipway.cloud"
        status, payload, answer_headers = (self._send_proxied if self._proxy else self._send)(body, headers)
        if status >= 400:
            raise error_from_answer(status, payload, answer_headers)
        try:
            return parse_xml(payload)
        except (ValueError, ET.ParseError) as exc:
            raise Ec2ApiError(502, None, "the answer is not XML (%s): %r" % (exc, payload[:200]))

    def _send(self, body, headers):
        """POST over this thread's kept-alive connection (a fresh one if the server closed the idle one)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and not _still_open(connection):
            self._drop(connection)
            connection = None
        if connection is None:
            connection = self._connect()
        try:
            connection.request("POST", self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        except BaseException:
            # Never re-sent here: the call may have reached the server (a create), so the caller's
            # retry logic decides, and the next call opens a new connection.
            self._drop(connection)
            raise
        if answer.will_close:
            self._drop(connection)
        return answer.status, payload, answer.getheaders()

    def _send_proxied(self, body, headers):
        request = Request("%s://%s%s" % (self.scheme, self.host, self.path), data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return answer.status, answer.read(), answer.getheaders()
        except Exception as exc:  # urllib's HTTPError: an answer with an error status
            if hasattr(exc, "code") and hasattr(exc, "read"):
                return exc.code, exc.read(), list((exc.headers or {}).items())
            raise

    # -- connections -------------------------------------------------------------------
    def _connect(self):
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(self.hostname, self.port, timeout=self.timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(self.hostname, self.port, timeout=self.timeout)
        self._local.connection = connection
        with self._lock:
            self._connections.append(connection)
        return connection

    def _drop(self, connection):
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)

    def close(self):
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


# -- the query API's parameters and answers (shared by every EC2 call) ----------------------------

def text_of(element, path, default=None):
    value = element.findtext(path) if element is not None else None
    return value if value is not None else default


def tags_of(element):
    return {text_of(item, "key"): text_of(item, "value", "") for item in element.findall("tagSet/item")}


def filter_params(filters):
    params = {}
    for index, (name, values) in enumerate(sorted(filters.items()), 1):
        params["Filter.%d.Name" % index] = name
        for value_index, value in enumerate(values if isinstance(values, (list, tuple)) else [values], 1):
            params["Filter.%d.Value.%d" % (index, value_index)] = value
    return params


def id_params(key, ids):
    return {"%s.%d" % (key, index): value for index, value in enumerate(ids, 1)}


def tag_params(prefix, tags):
    params = {}
    for index, (key, value) in enumerate(sorted(tags.items()), 1):
        params["%s.%d.Key" % (prefix, index)] = key
        params["%s.%d.Value" % (prefix, index)] = str(value)
    return params
