# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded retries with full-jitter exponential backoff for cloud API calls.

Clouds throttle (EC2 refills RunInstances at about 2/s) and answer 5xx now and
then; a provider retries those, and only those, with backoff and jitter, never
past a number of attempts nor past a deadline. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import random
import re
import socket
import time

#: error codes clouds use for "slow down" or "try again" (EC2, AWS query APIs and kin)
TRANSIENT_CODES = frozenset((
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "EC2ThrottledException",
    "SlowDown",
    "ServiceUnavailable",
    "Unavailable",
    "InternalError",
    "InternalFailure",
    "InsufficientInstanceCapacity",
    "PriorRequestNotComplete",
))

#: HTTP statuses worth another try
TRANSIENT_STATUS = frozenset((429, 500, 502, 503, 504))

# "RequestLimitExceeded: Request limit exceeded." is how libcloud words an EC2 error.
_CODE_IN_TEXT = re.compile(r"(?:^|[\s(\[])([A-Z][A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*):")

_TRANSIENT_OS_ERRORS = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    socket.timeout,
)
# An endpoint that refuses connections or does not resolve will not heal in seconds:
# fail at once with one clear error instead of retrying until the deadline.
_PERMANENT_OS_ERRORS = (ConnectionRefusedError, socket.gaierror)


def iter_causes(exc, limit=12):
    """``exc`` and what it wraps (``__cause__``, ``__context__``, ``reason``, args)."""
    seen = set()
    todo = [exc]
    while todo and len(seen) < limit:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.append(getattr(current, "__cause__", None))
        todo.append(getattr(current, "__context__", None))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        for arg in getattr(current, "args", ()) or ():
            if isinstance(arg, BaseException):
                todo.append(arg)


def error_code(exc):
    """The cloud's error code carried by ``exc`` ("RequestLimitExceeded"), or None."""
    for candidate in (getattr(exc, "error_code", None), getattr(exc, "code", None)):
        if isinstance(candidate, str) and candidate:
            return candidate
    response = getattr(exc, "response", None)
    if isinstance(response, dict):                 # botocore ClientError
        code = (response.get("Error") or {}).get("Code")
        if code:
            return code
    match = _CODE_IN_TEXT.search(str(exc))
    return match.group(1) if match else None


def http_status(exc):
    """The HTTP status carried by ``exc`` (libcloud ``code``, requests ``response``), or None."""
    for attribute in ("status", "http_status", "code", "status_code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    if isinstance(value, int):
        return value
    if isinstance(response, dict):
        value = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def is_unreachable(exc):
    """True when the endpoint refused the connection or its name does not resolve."""
    return any(isinstance(cause, _PERMANENT_OS_ERRORS) for cause in iter_causes(exc))


def is_transient(exc):
    """Throttling, 429/5xx, a reset or dropped connection, a timeout: worth retrying."""
    if is_unreachable(exc):
        return False
    for cause in iter_causes(exc):
        if isinstance(cause, _TRANSIENT_OS_ERRORS):
            return True
        code = error_code(cause)
        if code in TRANSIENT_CODES:
            return True
        if http_status(cause) in TRANSIENT_STATUS:
            return True
        text = str(cause)
        if "Connection reset by peer" in text or "RemoteDisconnected" in text or "Read timed out" in text:
            return True
    return False


def retry_after(exc):
    """Seconds the server asked us to wait (HTTP Retry-After), or None."""
    for attribute in ("retry_after",):
        value = getattr(exc, attribute, None)
        if isinstance(value, (int, float)) and value >= 0:
            return float(value)
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def backoff_delay(attempt, base_delay, max_delay, rng=random.random):
    """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(attempt-1))]."""
    ceiling = min(max_delay, base_delay * (2 ** max(0, attempt - 1)))
    return rng() * ceiling


def call_with_retry(fn, attempts=8, base_delay=0.25, max_delay=8.0, deadline=120.0,
                    is_transient=is_transient, on_retry=None,
                    sleep=time.sleep, clock=time.monotonic, rng=random.random):
    """Call ``fn()`` until it returns, retrying transient errors.

    Bounded twice: at most ``attempts`` calls, and no sleep that would end past
    ``deadline`` seconds from the first call. A non-transient error is raised at
    once; when the budget is spent the last transient error is raised, with
    ``exc.slipway_attempts`` set to the number of calls made. ``on_retry(attempt,
    exc, delay)`` is called before each sleep (for logging or counting).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1, got %r" % (attempts,))
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:  # pylint: disable=broad-except
            if not is_transient(exc):
                raise
            delay = backoff_delay(attempt, base_delay, max_delay, rng)
            hinted = retry_after(exc)
            if hinted is not None:
                delay = min(max(delay, hinted), max_delay)
            out_of_time = deadline is not None and clock() + delay - started > deadline
            if attempt >= attempts or out_of_time:
                try:
                    exc.slipway_attempts = attempt
                except Exception:  # pylint: disable=broad-except
                    pass
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
