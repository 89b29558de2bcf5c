# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The toolkit every provider shares: states, endpoints, masking, the retrying caller, waits, the SSH probe,
fleet names."""

import dataclasses
import socket
import threading

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.masking import mask
from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Machine, Placement, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers import calls as api_calls
from ansible_collections.slipway.cloud.plugins.module_utils.providers import waiting
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import Provider, normalise_state


@pytest.mark.parametrize("raw, state", [
    ("running", "running"), ("pending", "pending"), ("starting", "pending"), ("stopping", "stopping"),
    ("stopped", "stopped"), ("shutting-down", "terminated"), ("terminated", "terminated"),
    ("error", "unknown"), (None, "unknown"), ("RUNNING", "running"),
])
def test_machine_states(raw, state):
    assert normalise_state(raw) == state


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:5000", (False, "127.0.0.1", 5000)),
    ("https://ec2.eu-west-1.amazonaws.com", (True, "ec2.eu-west-1.amazonaws.com", 443)),
    ("http://localhost/", (False, "localhost", 80)),
    ("http://[::1]:8080", (False, "::1", 8080)),
])
def test_split_endpoint(url, expected):
    assert api_calls.split_endpoint(url) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1:5000", "ftp://x", "http://host/path", "", None])
def test_bad_endpoints(bad):
    with pytest.raises(ProviderError, match="is not a URL"):
        api_calls.split_endpoint(bad)


def test_redact():
    assert mask("key AKID123 secret s3cr3t-value", ["s3cr3t-value", "AKID123", None, ""]) == "key *** secret ***"


def test_caller_errors_are_clear_and_bounded():
    cloud = Cloud(name="c", provider="ec2")
    caller = api_calls.Caller(cloud, "http://127.0.0.1:9", ["topsecret"],
                              {"attempts": 3, "base_delay": 0.0, "max_delay": 0.0}, sleep=lambda s: None)
    calls = []

    class Throttled(Exception):
        code = 503

    def throttled():
        calls.append(1)
        raise Throttled("RequestLimitExceeded: slow down topsecret")

    with pytest.raises(ProviderError) as err:
        caller.call("list things", throttled)
    assert len(calls) == 3 and caller.retries == 2
    assert err.value.msg == ("cloud c: list things failed: RequestLimitExceeded: slow down *** (HTTP 503) "
                             "(gave up after 3 attempts)")
    assert err.value.details["code"] == "RequestLimitExceeded"


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_poll_until_is_bounded_and_backs_off():
    clock = FakeClock()
    checks = []

    def never():
        checks.append(clock.now)
        return False

    assert waiting.poll_until(never, 10, first_delay=0.5, max_delay=2.0, clock=clock.clock, sleep=clock.sleep) is False
    assert clock.now == pytest.approx(10.0)
    gaps = [b - a for a, b in zip(checks, checks[1:])]
    assert gaps[0] == 0.5 and max(gaps) <= 2.0 and gaps[:-1] == sorted(gaps[:-1])   # the last one is cut short


def test_poll_until_stops_when_done():
    clock = FakeClock()
    results = iter([False, False, True])
    assert waiting.poll_until(lambda: next(results), 60, clock=clock.clock, sleep=clock.sleep) is True
    assert clock.now < 2


@pytest.fixture
def banner_server():
    """A loopback TCP server that greets like sshd (or not)."""
    servers = []

    def start(greeting):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        stop = threading.Event()

        def serve():
            sock.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn = sock.accept()[0]
                except OSError:
                    continue
                with conn:
                    conn.sendall(greeting)
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((sock, stop, thread))
        return sock.getsockname()[1]

    yield start
    for sock, stop, thread in servers:
        stop.set()
        thread.join(2)
        sock.close()


def test_ssh_banner(banner_server):
    port = banner_server(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    assert waiting.ssh_banner("127.0.0.1", port=port) == "SSH-2.0-OpenSSH_9.2p1 Debian-2"
    http_port = banner_server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert waiting.ssh_banner("127.0.0.1", port=http_port) is None
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
    assert waiting.ssh_banner("127.0.0.1", port=free, timeout=0.5) is None


def test_probe_ssh_in_parallel(banner_server):
    port = banner_server(b"SSH-2.0-test\n")
    machines = [Machine(cloud="c", name="a", id="i-a", state="running", private_ip="127.0.0.1"),
                Machine(cloud="c", name="b", id="i-b", state="running")]
    assert waiting.probe_ssh(machines, port=port) == {"i-a": "SSH-2.0-test"}


def test_timeout_error_names_late_machines():
    late = [Machine(cloud="c", name="a", id="1", state="pending")]
    err = waiting.timeout_error("c", "ssh", 30, late)
    assert err.msg == "cloud c: 1 machine(s) not answering SSH after 30 s: a (pending)"


def test_fleet_names_are_checked_once_for_every_provider():
    provider = Provider(Cloud(name="c", provider="ec2"), environ={})
    provider.family = "ec2"
    sized = Placement(cloud="c", image="debian-12", image_id="ami-1", image_lookup=None, login_user="admin",
                      flavor="t3.micro", cpu=2, ram_gb=1, security_groups=())
    unsized = dataclasses.replace(sized, flavor=None)
    assert provider.fleet_names(sized, iter(["a", "b"])) == ["a", "b"]
    assert provider.fleet_names(unsized, []) == []
    with pytest.raises(ProviderError, match=r"^cloud c: machine names must be unique in one request: 'a' is given twice$"):
        provider.fleet_names(sized, ["a", "a"])
    with pytest.raises(ProviderError, match=r"^cloud c \(provider ec2\) needs a flavor \(instance type\) for image debian-12$"):
        provider.fleet_names(unsized, ["a"])


@pytest.mark.parametrize("family, options, closest", [
    ("local", (("subnet", "198.18.1.0/24"), ("imgaes", "/tmp/images")), "images"),
    ("exoscale", (("disk_sise", 20),), "disk_size"),
    ("ec2", (("subnet", "subnet-1"),), "subnet_id"),
])
def test_a_misspelt_option_names_the_closest_valid_one(family, options, closest):
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

    cloud = Cloud(name="c", provider=family, region="ch-gva-2" if family == "exoscale" else None, options=options,
                  credentials=(("key", "K"), ("secret", "S")) if family != "local" else ())
    with pytest.raises(ProviderError) as err:
        get_provider(cloud, {"K": "key-value", "S": "secret-value"})
    wrong = options[-1][0]
    assert err.value.msg.startswith("cloud c: unknown option %r for provider %s; valid options: " % (wrong, family))
    assert err.value.msg.endswith("; did you mean %r?" % closest)
    assert err.value.details["key"] == "options." + wrong and closest in err.value.details["valid"]


def test_an_option_of_the_wrong_type_is_named():
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

    cloud = Cloud(name="c", provider="local", options=(("subnet", 24),))
    with pytest.raises(ProviderError, match="cloud c: option subnet must be a str, got 24"):
        get_provider(cloud, {})


@pytest.mark.parametrize("asked, answered, now, pause", [
    (100.0, 101.5, 101.6, 1.4),     # right after the create: until twice its own time has passed since asking
    (100.0, 101.5, 104.0, 0.0),     # the waits took longer: no pause
    (100.0, 160.0, 161.0, 30.0),    # a very slow create: at most MAX_SETTLE_PAUSE
    (None, None, 101.0, 0.0),       # nothing was created
])
def test_the_engine_settles_again_once_other_runs_creates_of_the_moment_have_landed(asked, answered, now, pause):
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import CreatedMachines

    created = CreatedMachines([], token="t", asked_at=asked, answered_at=answered)
    assert created.settle_pause(now=now) == pytest.approx(pause)
