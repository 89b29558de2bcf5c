# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EXO2-HMAC-SHA256 request signing of the Exoscale provider.

The expected signatures below were computed outside Python from the scheme's
definition (the five-line message, HMAC-SHA256 with the secret, base64), with:

    printf 'GET /v2/template\\n\\ndebianpublic\\n\\n1700000000' \\
        | openssl dgst -sha256 -hmac 's3cr3t-test-secret' -binary | base64

Exoscale's own client (requests-exoscale-auth, shipped with the ``exoscale`` package)
is used as a second, independent oracle where it is installed.
"""

import base64
import hashlib
import hmac

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.api import (
    sign_request,
    signature_message,
)

KEY = "EXOtestkey0123"
SECRET = "s3cr3t-test-secret"


def test_message_layout_is_five_lines():
    message, names = signature_message("get", "/v2/template", b"", {"visibility": "public", "family": "debian"},
                                       1700000000)
    assert message == b"GET /v2/template\n\ndebianpublic\n\n1700000000"
    assert names == ["family", "visibility"]


def test_get_with_query_matches_the_openssl_vector():
    header = sign_request(KEY, SECRET, "GET", "/v2/template", b"", {"visibility": "public", "family": "debian"},
                          expires=1700000000)
    assert header == ("EXO2-HMAC-SHA256 credential=EXOtestkey0123,signed-query-args=family;visibility,"
                      "expires=1700000000,signature=q3jlZCmeS05/qU/PmC8YAnBzR04RQ98gaCCfEBZ5kFQ=")


def test_post_with_body_matches_the_openssl_vector():
    body = b'{"description":"web","name":"slipway_managed"}'
    header = sign_request(KEY, SECRET, "POST", "/v2/security-group", body, None, expires=1700000600)
    assert header == ("EXO2-HMAC-SHA256 credential=EXOtestkey0123,expires=1700000600,"
                      "signature=OqnVP91nmwB0N5C+gQ6L3ZCHglOfXFWLkJVE41JiEVk=")


def test_every_part_is_signed():
    base = dict(key=KEY, secret=SECRET, method="PUT", path="/v2/instance/1:stop", body=b"{}",
                query={"a": "1"}, expires=1700000000)
    reference = sign_request(**base)
    for field, other in (("secret", "other"), ("method", "POST"), ("path", "/v2/instance/2:stop"),
                         ("body", b"{ }"), ("query", {"a": "2"}), ("expires", 1700000001)):
        changed = dict(base, **{field: other})
        assert sign_request(**changed).rsplit("signature=", 1)[1] != reference.rsplit("signature=", 1)[1], field


def test_expiry_defaults_to_ten_minutes_ahead():
    header = sign_request(KEY, SECRET, "GET", "/v2/zone", now=lambda: 1000.5)
    assert ",expires=1600," in header


def test_signature_is_plain_hmac_of_the_message():
    message, dummy = signature_message("DELETE", "/v2/instance/x", b"", None, 42)
    expected = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()
    assert sign_request(KEY, SECRET, "DELETE", "/v2/instance/x", expires=42).endswith("signature=" + expected)


def test_agrees_with_exoscales_own_client():
    auth = pytest.importorskip("exoscale_auth")
    requests = pytest.importorskip("requests")
    prepared = requests.Request("POST", "https://api-ch-gva-2.exoscale.com/v2/instance?b=2&a=x y",
                                data=b'{"name":"web-1"}').prepare()
    auth.ExoscaleV2Auth(KEY, SECRET)._sign_request(prepared, 1700000000)
    ours = sign_request(KEY, SECRET, "POST", "/v2/instance", b'{"name":"web-1"}', {"a": "x y", "b": "2"},
                        expires=1700000000)
    assert prepared.headers["Authorization"] == ours
