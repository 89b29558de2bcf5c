# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 query transport on real sockets: kept-alive connections, a connection the server
dropped, a proxy from the environment, HTTPS with the certificate checked, and moto checking what
we sign."""

import http.client
import http.server
import os
import ssl
import threading

import pytest
from ec2_helpers import KEY_VALUE, SECRET_VALUE, make_cloud

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2 import query as ec2_query
from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.query import Ec2ApiError, Ec2QueryClient
from ansible_collections.slipway.cloud.plugins.module_utils.providers.retry import is_transient

ANSWER = (b'<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
          b"<regionInfo><item><regionName>us-east-1</regionName></item></regionInfo></DescribeRegionsResponse>")


class _Server:
    """HTTP/1.1 on loopback that answers ANSWER and counts connections and requests."""

    def __init__(self, close_after_each=False, proxy=False):
        owner = self
        self.connections = 0
        self.requests = []
        self.closed = threading.Semaphore(0)      # released each time the server has closed a connection

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                owner.connections += 1
                super().setup()

            def finish(self):
                super().finish()
                self.connection.close()
                owner.closed.release()

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append((self.path, dict(self.headers), body))
                if proxy:          # forward to the origin named by the absolute URL
                    target = http.client.HTTPConnection(self.path.split("/")[2], timeout=10)
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection",)}
                    target.request("POST", "/", body=body, headers=headers)
                    answer = target.getresponse()
                    status, payload = answer.status, answer.read()
                    target.close()
                else:
                    status, payload = 200, ANSWER
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                if close_after_each:
                    self.close_connection = True     # closes without saying so, as an idle timeout does

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_proxy_from_outside(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_one_connection_serves_many_calls():
    with _Server() as server:
        client = Ec2QueryClient("us-east-1", "AKIDEXAMPLE", "secret", endpoint=server.url)
        for dummy in range(5):
            assert client.call({"Action": "DescribeRegions"}).findtext("regionInfo/item/regionName") == "us-east-1"
        client.close()
    assert server.connections == 1 and len(server.requests) == 5
    path, headers, body = server.requests[0]
    assert path == "/" and body == b"Action=DescribeRegions&Version=2016-11-15"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date," in headers["Authorization"]


def test_a_connection_the_server_closed_is_replaced_before_the_next_call():
    with _Server(close_after_each=True) as server:
        client = Ec2QueryClient("us-east-1", "AKIDEXAMPLE", "secret", endpoint=server.url)
        for dummy in range(3):
            client.call({"Action": "DescribeRegions"})
            assert server.closed.acquire(timeout=10)          # as an idle timeout closes it between calls
        client.close()
    assert len(server.requests) == 3 and server.connections == 3


def test_a_call_lost_with_its_connection_is_not_sent_again(monkeypatch):
    with _Server(close_after_each=True) as server:
        client = Ec2QueryClient("us-east-1", "AKIDEXAMPLE", "secret", endpoint=server.url)
        client.call({"Action": "DescribeRegions"})
        connection = client._local.connection
        assert server.closed.acquire(timeout=10)
        monkeypatch.setattr(ec2_query, "_still_open", lambda c: True)     # the server closes just after the check
        with pytest.raises(Exception) as err:
            client.call({"Action": "DescribeRegions"})
        assert is_transient(err.value)        # the caller's retry (with its lost-answer checks) takes over
        assert client._local.connection is None and connection.sock is None
        client.call({"Action": "DescribeRegions"})                         # on a new connection
        client.close()
    assert len(server.requests) == 2 and server.connections == 2


def test_a_proxy_from_the_environment_is_used(monkeypatch, moto):
    with _Server(proxy=True) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        client = Ec2QueryClient("us-east-1", KEY_VALUE, SECRET_VALUE, endpoint=moto.url)
        regions = [e.text for e in client.call({"Action": "DescribeRegions"}).findall("regionInfo/item/regionName")]
        with pytest.raises(Ec2ApiError) as err:
            client.call({"Action": "DescribeInstances", "InstanceId.1": "i-0000000000000000"})
        client.close()
    assert "eu-central-2" in regions and len(proxy.requests) == 2
    assert proxy.requests[0][0] == moto.url + "/"             # the absolute URL: it went through the proxy
    assert err.value.status == 400 and err.value.code == "InvalidInstanceID.NotFound"


def test_moto_accepts_what_we_sign_and_answers_errors_we_can_read(moto):
    client = Ec2QueryClient("eu-west-1", KEY_VALUE, SECRET_VALUE, endpoint=moto.url, token="session-token")
    zones = client.call({"Action": "DescribeAvailabilityZones"}).findall("availabilityZoneInfo/item/zoneName")
    assert zones and all(zone.text.startswith("eu-west-1") for zone in zones)
    with pytest.raises(Ec2ApiError) as err:
        client.call({"Action": "DescribeImages", "ImageId.1": "ami-nothere"})
    client.close()
    assert err.value.status == 400 and err.value.code == "InvalidAMIID.NotFound"


# -- HTTPS: what every call to AWS uses --------------------------------------------------

def _authority_and_server_cert(directory):
    """(CA file, server cert+key file) for 127.0.0.1, made for this test only."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slipway test authority")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file = os.path.join(directory, "ca.pem")
    server_file = os.path.join(directory, "server.pem")
    with open(ca_file, "wb") as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(server_file, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return ca_file, server_file


@pytest.fixture
def tls_server(tmp_path):
    ca_file, server_file = _authority_and_server_cert(str(tmp_path))
    server = _Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_file)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.url = server.url.replace("http://", "https://")
    with server:
        yield server, ca_file


def test_https_with_the_authority_of_aws_ca_bundle(tls_server, env):
    server, ca_file = tls_server
    cloud = make_cloud(server.url)
    provider = get_provider(cloud, dict(env, AWS_CA_BUNDLE=ca_file))
    for dummy in range(3):
        assert provider._call("list regions", {"Action": "DescribeRegions"}).findtext(
            "regionInfo/item/regionName") == "us-east-1"
    provider.close()
    assert server.connections == 1 and len(server.requests) == 3         # one TLS connection, kept alive


def test_https_refuses_a_certificate_nobody_vouches_for(tls_server, env):
    server, dummy_ca = tls_server
    provider = get_provider(make_cloud(server.url), env)                   # the system's authorities only
    with pytest.raises(ProviderError) as err:
        provider._call("list regions", {"Action": "DescribeRegions"})
    provider.close()
    assert "CERTIFICATE_VERIFY_FAILED" in err.value.msg and provider.caller.retries == 0
    assert server.requests == []


def test_aws_ca_bundle_that_is_not_a_file_is_named(env, tmp_path):
    with pytest.raises(ProviderError) as err:
        get_provider(make_cloud("https://127.0.0.1:1"), dict(env, AWS_CA_BUNDLE=str(tmp_path / "missing.pem")))
    assert err.value.msg.startswith("cloud moto-east: environment variable AWS_CA_BUNDLE names '%s', which is not "
                                    "a readable PEM file" % (tmp_path / "missing.pem"))
    assert err.value.details["key"] == "AWS_CA_BUNDLE"
