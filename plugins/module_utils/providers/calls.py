# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calling a cloud's API, for every provider family: the retrying caller, errors without secrets,
endpoints.

``Caller.call(what, fn)`` runs one API call with full-jitter backoff on throttling, 429/5xx, resets and
timeouts (module_utils/providers/retry.py), bounded by attempts and a deadline, and turns any failure into one
ProviderError that names the cloud and what was being done, with every credential masked.
``look_first`` makes a create safe to retry: before the call is sent again, it asks whether the previous
attempt took effect although its answer was lost. No Ansible imports.
"""

from __future__ import annotations

import re
import threading
import time

from ansible_collections.slipway.cloud.plugins.module_utils.masking import mask
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.retry import (
    call_with_retry,
    error_code,
    http_status,
    is_transient,
    is_unreachable,
    iter_causes,
)

#: how hard a call is retried (catalog options retry_attempts, retry_base_delay, ...)
DEFAULT_RETRY = {"attempts": 8, "base_delay": 0.25, "max_delay": 8.0, "deadline": 120.0}
#: options of every family that calls an API over HTTP
API_OPTIONS = {
    "http_timeout": (int, float),
    "retry_attempts": int,
    "retry_base_delay": (int, float),
    "retry_max_delay": (int, float),
    "retry_deadline": (int, float),
}


def retry_options(cloud):
    """DEFAULT_RETRY with the cloud's ``retry_*`` options applied."""
    options = dict(DEFAULT_RETRY)
    for name in DEFAULT_RETRY:
        value = cloud.option("retry_" + name)
        if value is not None:
            options[name] = int(value) if name == "attempts" else float(value)
    return options


#: error codes that mean "these credentials are refused", whatever HTTP status carries them (EC2 answers
#: AuthFailure with 401, UnauthorizedOperation with 403, an expired session token with 400)
AUTH_ERROR_CODES = frozenset((
    "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnauthorizedOperation", "IncompleteSignature",
    "MissingAuthenticationToken", "ExpiredToken", "UnrecognizedClientException",
))


def is_auth_failure(status, code):
    """True for an answer that refuses the caller's credentials (HTTP 401/403, or one of AUTH_ERROR_CODES)."""
    return status in (401, 403) or code in AUTH_ERROR_CODES


def describe_error(exc):
    """A short human description of a failed call, without tracebacks."""
    code = error_code(exc)
    status = http_status(exc)
    text = str(exc).strip()
    if not text or text == code:
        text = code or type(exc).__name__
    if status and ("HTTP %d" % status) not in text:
        text = "%s (HTTP %d)" % (text, status)
    return text


def root_message(exc):
    """The innermost OS-level message: "[Errno 111] Connection refused" -> "Connection refused"."""
    innermost = exc
    for cause in iter_causes(exc):
        if isinstance(cause, OSError):
            innermost = cause
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror
    return str(getattr(innermost, "reason", "") or innermost) or type(innermost).__name__


class Caller:
    """Runs one cloud's API calls with retries; every failure becomes one clear ProviderError.

    ``endpoint_text`` says what is called ("EC2 in us-east-1", "the Exoscale API at https://...");
    ``secrets`` are masked in every message; ``credential_variables`` are the environment variables
    an authentication failure (HTTP 401/403) tells the user to check, or ``credential_source`` says where
    the credentials came from instead ("the clouds.yaml entry mycloud").
    """

    def __init__(self, cloud, endpoint_text, secrets, options=None, credential_variables=(), sleep=time.sleep,
                 credential_source=None):
        self.cloud = cloud
        self.endpoint_text = endpoint_text
        self.secrets = [value for value in secrets if value]
        self.options = dict(DEFAULT_RETRY, **(options or {}))
        self.credential_variables = list(credential_variables)
        self.credential_source = credential_source or (
            "environment variable(s) %s" % ", ".join(self.credential_variables) if self.credential_variables else None)
        self.sleep = sleep
        self.retries = 0            # transient failures retried so far (for tests and reports)
        self._lock = threading.Lock()

    def pause(self, seconds):
        """Sleep between attempts, through ``self.sleep`` as it is now (tests replace it to count delays)."""
        self.sleep(seconds)

    def _count(self, attempt, exc, delay):
        with self._lock:            # parallel creates retry from several threads
            self.retries += 1

    def call(self, what, fn, transient=is_transient, look_first=None):
        """``fn()`` with retries. ``look_first()``, when given, runs before every attempt after the first:
        a result other than None is what the lost attempt made, and is returned instead of calling again."""
        attempts = []

        def attempt():
            attempts.append(1)
            if look_first is not None and len(attempts) > 1:
                found = look_first()
                if found is not None:
                    return found
            return fn()

        try:
            return call_with_retry(attempt, is_transient=transient, on_retry=self._count, sleep=self.pause,
                                   **self.options)
        except ProviderError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise self.error(what, exc)

    def error(self, what, exc):
        """ProviderError for ``exc`` raised while doing ``what`` (secrets masked)."""
        name = self.cloud.name
        status = http_status(exc)
        attempts = getattr(exc, "slipway_attempts", None)
        suffix = " (gave up after %d attempts)" % attempts if attempts and attempts > 1 else ""
        if is_unreachable(exc):
            message = ("cloud %s: cannot reach %s while trying to %s (%s); check the cloud's endpoint/region and "
                       "the network" % (name, self.endpoint_text, what, root_message(exc)))
            return ProviderError(mask(message, self.secrets), cloud=name, endpoint=self.endpoint_text, action=what)
        if is_auth_failure(status, error_code(exc)) and self.credential_source:
            message = ("cloud %s: %s refused the request to %s: %s. Check the credentials in %s (and that they "
                       "allow this)" % (name, self.endpoint_text, what, describe_error(exc), self.credential_source))
            return ProviderError(mask(message, self.secrets), cloud=name, action=what, http_status=status,
                                 code=error_code(exc), variables=self.credential_variables)
        message = "cloud %s: %s failed: %s%s" % (name, what, describe_error(exc), suffix)
        return ProviderError(mask(message, self.secrets), cloud=name, action=what, code=error_code(exc),
                             http_status=status)


_ENDPOINT = re.compile(r"^(https?)://(\[[^\]]+\]|[^:/\s]+)(?::(\d+))?(/\S*)?\Z")


def split_endpoint(endpoint, default_port=None, with_path=False):
    """"http://127.0.0.1:5000" -> (secure, host, port); with_path adds the path ("" when none).

    One clear error for anything that is not an http(s) URL, or has a path when none is expected.
    """
    match = _ENDPOINT.match(str(endpoint or "").strip())
    path = (match.group(4) or "") if match else ""
    if not match or (path.strip("/") and not with_path):
        raise ProviderError("endpoint %r is not a URL like https://host[:port]%s"
                            % (endpoint, "[/path]" if with_path else ""), endpoint=endpoint, key="endpoint")
    secure = match.group(1) == "https"
    port = int(match.group(3)) if match.group(3) else (default_port or (443 if secure else 80))
    result = (secure, match.group(2).strip("[]"), port)
    return result + (path.rstrip("/"),) if with_path else result


def map_calls(fn, items, workers):
    """``fn`` over ``items`` with up to ``workers`` calls at a time.

    Returns ``({index: result}, {index: exception})``: every item is tried, whatever the others do, so a
    caller can say which of several per-machine calls failed and which took effect.
    """
    from concurrent.futures import ThreadPoolExecutor

    items = list(items)
    results, errors = {}, {}

    def run(index):
        try:
            results[index] = fn(items[index])
        except Exception as exc:  # pylint: disable=broad-except
            errors[index] = exc

    if len(items) <= 1 or workers <= 1:
        for index in range(len(items)):
            run(index)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            list(pool.map(run, range(len(items))))
    return results, errors
