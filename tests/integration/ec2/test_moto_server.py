# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test server itself: namespace fix, unsigned routing, fault injection, subprocess mode."""

import json
import os
import urllib.error
import urllib.request

import pytest
from moto_server import MotoServer


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_unsigned_calls_reach_ec2_and_namespace_gets_its_slash(moto):
    status, body = get(moto.url + "/?Action=DescribeRegions&Version=2016-11-15")
    assert status == 200
    assert b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"' in body
    assert b"<regionName>us-east-1</regionName>" in body


def test_error_documents_lose_moto_namespace(moto):
    status, body = get(moto.url + "/?Action=DescribeSecurityGroups&GroupName.1=nope&Version=2016-11-15")
    assert status == 400
    assert body.split(b"\n", 1)[1].startswith(b"<Response><Errors><Error><Code>InvalidGroup.NotFound</Code>")


@pytest.mark.parametrize("kind, status, marker", [
    ("throttle", 503, b"<Code>RequestLimitExceeded</Code>"),
    ("unavailable", 503, b"<Code>Unavailable</Code>"),
    ("internal", 500, b"<Code>InternalError</Code>"),
    ("html503", 503, b"<h1>503 Service Unavailable</h1>"),
])
def test_fault_kinds(moto, kind, status, marker):
    moto.set_faults(1.0, kinds=[kind])
    got, body = get(moto.url + "/?Action=DescribeRegions&Version=2016-11-15")
    assert got == status and marker in body
    assert moto.faults()["by_action"] == {"DescribeRegions": 1}


def test_fault_rate_is_about_right_and_reproducible(moto):
    def run(seed):
        moto.set_faults(0.3, seed=seed)
        return [get(moto.url + "/?Action=DescribeRegions&Version=2016-11-15")[0] for dummy in range(100)]

    first = run(7)
    assert run(7) == first
    failed = sum(1 for status in first if status != 200)
    assert 15 <= failed <= 45
    assert moto.faults()["calls"] == 100


def test_moto_api_is_never_faulted(moto):
    moto.set_faults(1.0)
    moto.reset()         # POST /moto-api/reset would fail otherwise
    assert moto.faults()["rate"] == 0.0


def test_bad_fault_settings_are_refused(moto):
    request = urllib.request.Request(moto.url + "/_slipway/faults", data=json.dumps({"rate": 2}).encode(),
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400


def test_subprocess_mode_starts_and_stops_only_its_process():
    server = MotoServer(mode="process", fault_rate=0.0).start()
    pid = server._process.pid
    try:
        status, body = get(server.url + "/?Action=DescribeRegions&Version=2016-11-15")
        assert status == 200 and b"us-east-1" in body
        server.reset()
    finally:
        server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    server.stop()            # twice is fine
