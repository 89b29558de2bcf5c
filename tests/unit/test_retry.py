# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retries: which errors are transient, backoff bounds, attempts and deadline (fake clock)."""

import http.client
import socket

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.providers import retry
from ansible_collections.slipway.cloud.plugins.module_utils.providers.retry import call_with_retry, is_transient


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class HTTPError(Exception):
    """Shaped like libcloud's BaseHTTPError: an int ``code`` and a text message."""

    def __init__(self, code, message, headers=None):
        super().__init__(message)
        self.code = code
        self.headers = headers


class Flaky:
    """Fails with the given exceptions in order, then returns 'ok'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(fn, clock=None, rng=lambda: 1.0, **kwargs):
    clock = clock or FakeClock()
    kwargs.setdefault("attempts", 5)
    kwargs.setdefault("base_delay", 1.0)
    kwargs.setdefault("max_delay", 8.0)
    kwargs.setdefault("deadline", 1000.0)
    return call_with_retry(fn, sleep=clock.sleep, clock=clock.clock, rng=rng, **kwargs), clock


# -- classification ----------------------------------------------------------

@pytest.mark.parametrize("exc", [
    HTTPError(503, "RequestLimitExceeded: Request limit exceeded."),
    HTTPError(400, "Throttling: Rate exceeded"),
    Exception("RequestLimitExceeded: Request limit exceeded."),
    HTTPError(429, "Too Many Requests"),
    HTTPError(500, "InternalError: An internal error has occurred"),
    HTTPError(502, "Bad Gateway"),
    HTTPError(503, "Service Unavailable"),
    HTTPError(504, "Gateway Timeout"),
    ConnectionResetError(104, "Connection reset by peer"),
    http.client.RemoteDisconnected("Remote end closed connection without response"),
    socket.timeout("timed out"),
    Exception("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"),
])
def test_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    HTTPError(400, "InvalidParameterValue: bad"),
    HTTPError(401, "AuthFailure: AWS was not able to validate the provided access credentials"),
    HTTPError(404, "Not Found"),
    ValueError("bad"),
    ConnectionRefusedError(111, "Connection refused"),
    socket.gaierror(-2, "Name or service not known"),
    KeyError("x"),
])
def test_not_transient(exc):
    assert not is_transient(exc)


def test_wrapped_reset_is_transient_and_wrapped_refusal_is_not():
    class Wrapper(Exception):
        pass

    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as inner:
            raise Wrapper("request failed") from inner
    except Wrapper as outer:
        assert is_transient(outer)

    refused = Wrapper("request failed", ConnectionRefusedError(111, "refused"))
    assert not is_transient(refused)
    assert retry.is_unreachable(refused)


def test_botocore_shaped_error():
    class ClientError(Exception):
        def __init__(self, code, status):
            super().__init__("An error occurred (%s)" % code)
            self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}

    assert is_transient(ClientError("RequestLimitExceeded", 503))
    assert is_transient(ClientError("Whatever", 502))
    assert not is_transient(ClientError("InvalidAMIID.NotFound", 400))


def test_error_code_extraction():
    assert retry.error_code(Exception("InvalidGroup.NotFound: no such group")) == "InvalidGroup.NotFound"
    assert retry.error_code(Exception("no code here")) is None


# -- the loop ------------------------------------------------------------------

def test_success_needs_no_sleep():
    fn = Flaky()
    result, clock = run(fn)
    assert result == "ok" and fn.calls == 1 and clock.sleeps == []


def test_retries_transient_then_succeeds_with_exponential_ceiling():
    fn = Flaky(HTTPError(503, "x"), HTTPError(503, "x"), HTTPError(503, "x"))
    result, clock = run(fn, rng=lambda: 1.0)
    assert result == "ok" and fn.calls == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_full_jitter_uses_rng_times_ceiling():
    fn = Flaky(HTTPError(503, "x"), HTTPError(503, "x"))
    clock = run(fn, rng=lambda: 0.25)[1]
    assert clock.sleeps == [0.25, 0.5]


def test_delay_capped_by_max_delay():
    fn = Flaky(*[HTTPError(503, "x")] * 6)
    clock = run(fn, attempts=10, base_delay=1.0, max_delay=3.0)[1]
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]


def test_non_transient_raised_at_once():
    fn = Flaky(ValueError("bad input"))
    with pytest.raises(ValueError, match="bad input"):
        run(fn)
    assert fn.calls == 1


def test_attempts_bound_and_last_error_raised():
    errors = [HTTPError(503, "first"), HTTPError(503, "second"), HTTPError(503, "third")]
    fn = Flaky(*errors)
    clock = FakeClock()
    with pytest.raises(HTTPError, match="third") as err:
        run(fn, clock=clock, attempts=3)
    assert fn.calls == 3
    assert len(clock.sleeps) == 2
    assert err.value.slipway_attempts == 3


def test_deadline_bound():
    fn = Flaky(*[HTTPError(503, "x")] * 50)
    clock = FakeClock()
    with pytest.raises(HTTPError):
        run(fn, clock=clock, attempts=50, base_delay=1.0, max_delay=4.0, deadline=10.0)
    # never sleeps past the deadline: total slept stays within it
    assert sum(clock.sleeps) <= 10.0
    assert fn.calls < 50


def test_deadline_accounts_for_time_spent_in_calls():
    clock = FakeClock()

    def slow_failure():
        clock.now += 6.0
        raise HTTPError(503, "slow")

    with pytest.raises(HTTPError):
        call_with_retry(slow_failure, attempts=10, base_delay=0.1, max_delay=0.1, deadline=10.0,
                        sleep=clock.sleep, clock=clock.clock, rng=lambda: 1.0)
    assert clock.now - 1000.0 < 10.0 + 6.0 + 0.2


def test_retry_after_header_is_honoured_but_capped():
    fn = Flaky(HTTPError(429, "slow down", headers={"retry-after": "2"}),
               HTTPError(429, "slow down", headers={"retry-after": "60"}))
    clock = run(fn, rng=lambda: 0.0, max_delay=5.0)[1]
    assert clock.sleeps == [2.0, 5.0]


def test_on_retry_callback_and_custom_classifier():
    seen = []
    fn = Flaky(KeyError("custom"), KeyError("custom"))
    result = run(fn, is_transient=lambda exc: isinstance(exc, KeyError),
                 on_retry=lambda attempt, exc, delay: seen.append((attempt, type(exc).__name__)))[0]
    assert result == "ok"
    assert seen == [(1, "KeyError"), (2, "KeyError")]


def test_attempts_must_be_positive():
    with pytest.raises(ValueError):
        call_with_retry(lambda: 1, attempts=0)


def test_real_clock_small_delays():
    fn = Flaky(HTTPError(503, "x"))
    assert call_with_retry(fn, attempts=3, base_delay=0.001, max_delay=0.002) == "ok"
