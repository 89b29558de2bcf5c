# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exoscale's v2 API on the wire, with the standard library only: signing, the JSON client, labels.

* every request is signed with EXO2-HMAC-SHA256 (``sign_request``);
* ``ExoscaleClient`` sends one signed JSON request to one v2 endpoint and raises ``ExoscaleApiError``
  for a non-2xx answer (its ``status`` and ``headers`` are what the retrying caller reads);
* Exoscale label keys and values allow only letters, digits and ``* + ! - _ ?`` and must not start
  with a digit, so ``slipway:managed`` is written ``slipway+managed`` (``encode_label``; reading
  decodes it back exactly).

The provider (exoscale.py) speaks the API through these; nothing here retries or knows slipway's model
beyond ProviderError for a label that cannot be written. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import json
import string
import time
from urllib.error import HTTPError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, build_opener

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

ENDPOINT_TEMPLATE = "https://api-%s.exoscale.com/v2"
SIGNATURE_VALIDITY = 600                 # seconds a signed request stays valid


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


def api_path(template, *values):
    return template % tuple(quote(str(v), safe="") for v in values)
