# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake itself: it must refuse what Exoscale's OpenAPI document does not allow.

If these pass, a provider request that slipped past the document would fail the
provider tests (their fixture asserts the fake saw no violation).
"""

import json
import time
import urllib.request

import pytest
from exoscale_server import DEFAULT_KEY, DEFAULT_SECRET, verify_signature

from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.api import (
    ExoscaleApiError,
    ExoscaleClient,
    sign_request,
)

UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def client(exo):
    return ExoscaleClient(exo.url, DEFAULT_KEY, DEFAULT_SECRET)


@pytest.fixture
def group_id(exo):
    return exo.state.create_security_group({"name": "g"})["reference"]["id"]


REFUSED = [
    ("PUT", "/instance/%(g)s:start", None, None, "request body is required"),
    ("PUT", "/instance/%(g)s:stop", None, {}, "takes no request body"),
    ("POST", "/security-group/%(g)s/rules", None,
     {"flow-direction": "ingress", "protocol": "tcp", "start-port": 1, "end-port": 2, "security-group": {"id": "%(g)s"}},
     "read-only property"),
    ("POST", "/security-group/%(g)s/rules", None,
     {"flow-direction": "ingress", "protocol": "tcp", "start-port": 0, "end-port": 9, "network": "0.0.0.0/0"},
     "less than the minimum of 1"),
    ("POST", "/security-group/%(g)s/rules", None, {"protocol": "tcp", "network": "0.0.0.0/0"},
     "'flow-direction' is a required property"),
    ("POST", "/instance", None, {"instance-type": {"id": "%(g)s"}, "template": {"id": "%(g)s"}},
     "'disk-size' is a required property"),
    ("POST", "/instance", None, {"instance-type": {"name": "standard.tiny"}, "template": {"id": "%(g)s"},
                                 "disk-size": 10}, "'name' was unexpected"),
    ("POST", "/instance", None, {"instance-type": {"id": "%(g)s"}, "template": {"id": "%(g)s"}, "disk-size": 10,
                                 "labels": {"slipway:managed": "true"}}, "label key 'slipway:managed'"),
    ("POST", "/instance", None, {"instance-type": {"id": "%(g)s"}, "template": {"id": "%(g)s"}, "disk-size": 10,
                                 "labels": {"deployment": "2025"}}, "label value '2025'"),
    ("GET", "/instance", {"label": "x"}, None, "unknown query parameter 'label'"),
    ("GET", "/template", {"visibility": "all"}, None, "is not one of ['private', 'public']"),
    ("GET", "/instance/web-1", None, None, "'web-1' is not a 'uuid'"),
    ("POST", "/ssh-key", None, {"name": "slipway:key", "public-key": "ssh-ed25519 AAAA"}, "does not match"),
    ("GET", "/no-such-thing", None, None, "no such path in the OpenAPI document"),
    ("PATCH", "/instance", None, None, "allows only GET, POST"),
]


@pytest.mark.parametrize("method,path,query,body,expected", REFUSED, ids=[r[4][:30] for r in REFUSED])
def test_refuses_what_the_document_does_not_allow(exo, client, group_id, method, path, query, body, expected):
    fill = {"g": group_id}
    if body is not None:
        body = json.loads(json.dumps(body) % fill) if "%(g)s" in json.dumps(body) else body
    with pytest.raises(ExoscaleApiError) as err:
        client.request(method, path % fill, query, body)
    assert err.value.status in (400, 404, 405)
    assert expected in err.value.message
    assert len(exo.violations) == 1
    exo.violations.clear()


def test_accepts_a_valid_request(exo, client):
    assert "instance-types" in client.request("GET", "/instance-type")
    assert exo.violations == []


def _raw(exo, path, headers):
    request = urllib.request.Request(exo.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_signature_is_checked(exo):
    good = sign_request(DEFAULT_KEY, DEFAULT_SECRET, "GET", "/v2/zone")
    assert _raw(exo, "/zone", {"Authorization": good})[0] == 200
    assert _raw(exo, "/zone", {})[1]["message"] == "no Authorization header"
    wrong_path = sign_request(DEFAULT_KEY, DEFAULT_SECRET, "GET", "/v2/instance")
    assert _raw(exo, "/zone", {"Authorization": wrong_path}) == (403, {"message": "invalid request signature"})
    expired = sign_request(DEFAULT_KEY, DEFAULT_SECRET, "GET", "/v2/zone", expires=int(time.time()) - 5)
    assert _raw(exo, "/zone", {"Authorization": expired})[1]["message"] == "request signature expired"
    unsigned_query = sign_request(DEFAULT_KEY, DEFAULT_SECRET, "GET", "/v2/template")
    status, answer = _raw(exo, "/template?visibility=public", {"Authorization": unsigned_query})
    assert status == 403 and "signed-query-args" in answer["message"]
    assert len(exo.auth_failures) == 4


def test_verify_signature_against_exoscales_own_client():
    auth = pytest.importorskip("exoscale_auth")
    requests = pytest.importorskip("requests")
    prepared = requests.Request("PUT", "http://127.0.0.1/v2/instance/%s:start?x=1" % UUID, data=b"{}").prepare()
    auth.ExoscaleV2Auth(DEFAULT_KEY, DEFAULT_SECRET)(prepared)
    assert verify_signature(prepared.headers["Authorization"], {DEFAULT_KEY: DEFAULT_SECRET}, "PUT",
                            "/v2/instance/%s:start" % UUID, "x=1", b"{}") is None
    assert verify_signature(prepared.headers["Authorization"], {DEFAULT_KEY: DEFAULT_SECRET}, "PUT",
                            "/v2/instance/%s:start" % UUID, "x=1", b"{ }") == "invalid request signature"


def test_the_fakes_answers_are_checked_too(exo, client):
    # Break the fake on purpose: an instance state the document does not know.
    exo.state.create_instance({"instance-type": {"id": next(iter(exo.state.instance_types))},
                               "template": {"id": next(iter(exo.state.templates))}, "disk-size": 10})
    next(iter(exo.state.instances.values()))["state"] = "hibernating"
    with pytest.raises(ExoscaleApiError) as err:
        client.request("GET", "/instance")
    assert err.value.status == 500 and "'hibernating' is not one of" in err.value.message
    assert len(exo.violations) == 1
    exo.violations.clear()
