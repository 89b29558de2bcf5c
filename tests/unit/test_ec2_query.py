# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 query transport: SigV4 against AWS's worked example and botocore, XML without namespaces, errors."""

import time

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2 import query
from ansible_collections.slipway.cloud.plugins.module_utils.providers.retry import error_code, http_status, is_transient

AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def test_signature_matches_the_aws_documentation_example():
    # The worked example of AWS's "Signature Version 4 signing process" (IAM ListUsers, 2015-08-30).
    header = query.sign_v4(
        "GET", "iam.amazonaws.com", "/", "Action=ListUsers&Version=2010-05-08",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Amz-Date": "20150830T123600Z"},
        b"", "us-east-1", "AKIDEXAMPLE", AWS_EXAMPLE_SECRET, "20150830T123600Z", service="iam")
    assert header == ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date, "
                      "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


@pytest.mark.parametrize("host, token", [("ec2.eu-central-2.amazonaws.com", None), ("127.0.0.1:5000", "FQoGZXIvYXdzEXAMPLE")])
def test_signature_agrees_with_botocore(host, token):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = query.encode_params({"Action": "DescribeInstances", "Version": query.API_VERSION,
                                "Filter.1.Name": "tag-key", "Filter.1.Value.1": "slipway:managed",
                                "Filter.2.Value.1": "a b+c/é~"})
    amz_date = "20261128T101500Z"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Amz-Date": amz_date}
    if token:
        headers["X-Amz-Security-Token"] = token
    ours = query.sign_v4("POST", host, "/", "", headers, body, "eu-central-2", "AKIDEXAMPLE", AWS_EXAMPLE_SECRET,
                         amz_date)

    auth = SigV4Auth(Credentials("AKIDEXAMPLE", AWS_EXAMPLE_SECRET, token), "ec2", "eu-central-2")
    request = AWSRequest(method="POST", url="http://%s/" % host, data=body, headers=dict(headers))
    request.context["timestamp"] = amz_date
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert ours.endswith("Signature=" + signature)
    assert "SignedHeaders=%s," % auth.signed_headers(auth.headers_to_sign(request)) in ours


def test_form_body_is_sorted_and_percent_encoded():
    assert query.encode_params({"b": "x y", "a": "1+2/é"}) == b"a=1%2B2%2F%C3%A9&b=x%20y"


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<reservationSet><item><instancesSet><item><instanceId>i-1</instanceId></item></instancesSet></item>"
    b"</reservationSet></DescribeInstancesResponse>",
    # moto 5.2 writes the namespace without the trailing slash
    b'<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><reservationSet><item>'
    b"<instancesSet><item><instanceId>i-1</instanceId></item></instancesSet></item></reservationSet>"
    b"</DescribeInstancesResponse>",
])
def test_answers_parse_without_namespace(payload):
    root = query.parse_xml(payload)
    assert root.tag == "DescribeInstancesResponse"
    assert [e.text for e in root.findall("reservationSet/item/instancesSet/item/instanceId")] == ["i-1"]


@pytest.mark.parametrize("payload, code, message", [
    (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
     b"</Error></Errors><RequestID>r</RequestID></Response>", "RequestLimitExceeded", "Request limit exceeded."),
    (b'<Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><Errors><Error><Code>InvalidKeyPair.Duplicate'
     b"</Code><Message>exists</Message></Error></Errors></Response>", "InvalidKeyPair.Duplicate", "exists"),
    (b"<html><body><h1>503 Service Unavailable</h1></body></html>", None, "HTTP 503 (not an EC2 error document)"),
    (b"", None, "HTTP 503 (not an EC2 error document)"),
])
def test_error_answers_keep_code_and_status(payload, code, message):
    error = query.error_from_answer(503, payload, [("Retry-After", "2")])
    assert (error.status, error.code, error.message) == (503, code, message)
    assert error_code(error) == code and http_status(error) == 503 and is_transient(error)
    assert str(error) == ("%s: %s" % (code, message) if code else message)


def test_client_error_is_not_transient():
    error = query.error_from_answer(400, b"<Response><Errors><Error><Code>InvalidParameterValue</Code>"
                                         b"<Message>bad</Message></Error></Errors></Response>")
    assert error_code(error) == "InvalidParameterValue" and not is_transient(error)


@pytest.mark.parametrize("region, ok", [
    ("us-east-1", True), ("eu-central-2", True), ("us-gov-west-1", True), ("cn-north-1", True),
    ("eu-isoe-west-1", True), ("ap-southeast-7", True), ("mars-north-1", False), ("us-east", False),
    ("US-EAST-1", False), ("us-east-1\n", False), ("", False),
])
def test_region_names(region, ok):
    assert bool(query.REGION_PATTERN.match(region)) is ok


def test_client_refuses_an_endpoint_that_is_not_a_url():
    with pytest.raises(ValueError, match="is not a URL like https://ec2"):
        query.Ec2QueryClient("us-east-1", "k", "s", endpoint="ec2.example:443")


def test_client_signs_with_its_clock_and_endpoint_host():
    client = query.Ec2QueryClient("eu-west-1", "AKIDEXAMPLE", "secret", endpoint="http://127.0.0.1:8080",
                                  clock=lambda: time.gmtime(0))
    assert (client.host, client.port, client.path) == ("127.0.0.1:8080", 8080, "/")
    default = query.Ec2QueryClient("eu-west-1", "k", "s")
    assert (default.host, default.port, default.scheme) == ("ec2.eu-west-1.amazonaws.com", 443, "https")
