# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every libcloud-based provider shares: the version check, sizes with their
vCPU count, error translation without secrets, bounded waits and the SSH probe.

libcloud is imported lazily so that importing this file never fails (ansible-doc,
ansible-test's import test); a provider calls ``require_libcloud()`` when it starts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.slipway.cloud.plugins.module_utils.model import Flavor, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.retry import (
    call_with_retry,
    error_code,
    http_status,
    is_transient,
    is_unreachable,
    iter_causes,
)

#: the libcloud releases slipway.cloud is tested with (checked at provider start)
SUPPORTED_RANGE = ((3, 8), (3, 10))
SUPPORTED_TEXT = ">=3.8,<3.10"

#: where each libcloud driver keeps a size's vCPU count in NodeSize.extra
VCPU_KEYS_BY_DRIVER = {
    "ec2": ("vcpu",),
    "openstack": ("vcpus",),
    "digitalocean": ("vcpus",),
    "linode": ("vcpus",),
    "ovh": ("vcpus",),
    "gce": ("guestCpus",),
    "azure_arm": ("numberOfCores",),
    "azure": ("cores",),
    "vultr": ("vcpu_count",),
    "cloudscale": ("vcpu_count",),
    "scaleway": ("cores",),
    "gridscale": ("cores",),
    "equinixmetal": ("cpus",),
    "gig_g8": ("vcpus",),
}
# Tried in order for drivers not listed above. "cpu" comes last: some drivers use it for MHz.
VCPU_KEYS_FALLBACK = ("vcpus", "vcpu", "vcpu_count", "guestCpus", "numberOfCores", "cores", "cpus", "cpu")

_STATES = {
    "running": "running",
    "pending": "pending", "starting": "pending", "rebooting": "pending", "reconfiguring": "pending",
    "stopping": "stopping",
    "stopped": "stopped", "suspended": "stopped", "paused": "stopped",
    "terminated": "terminated",
}

DEFAULT_RETRY = {"attempts": 8, "base_delay": 0.25, "max_delay": 8.0, "deadline": 120.0}


# -- version ---------------------------------------------------------------------

def parse_version(text):
    """"3.9.1" -> (3, 9, 1); "3.10.0rc1" -> (3, 10, 0)."""
    numbers = []
    for part in str(text).split(".")[:3]:
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group(0)))
    return tuple(numbers)


def check_version(installed):
    """Raise ProviderError unless ``installed`` is within the tested range."""
    version = parse_version(installed)
    low, high = SUPPORTED_RANGE
    if not version or not low <= version[:2] < high:
        raise ProviderError(
            "apache-libcloud %s is installed, but slipway.cloud supports apache-libcloud %s "
            "(drivers change between releases); install one with: pip install 'apache-libcloud%s'"
            % (installed, SUPPORTED_TEXT, SUPPORTED_TEXT),
            installed=str(installed), supported=SUPPORTED_TEXT)
    return version


def require_libcloud():
    """Import libcloud, check its version, return the module."""
    try:
        import libcloud
    except ImportError:
        raise ProviderError(
            "apache-libcloud is not installed; slipway.cloud needs apache-libcloud %s "
            "(pip install 'apache-libcloud%s')" % (SUPPORTED_TEXT, SUPPORTED_TEXT),
            installed=None, supported=SUPPORTED_TEXT)
    check_version(getattr(libcloud, "__version__", "unknown"))
    return libcloud


# -- sizes -----------------------------------------------------------------------

def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*$", value)
        if match:
            number = float(match.group(1))
            return int(number) if number.is_integer() else number
    return None


def size_vcpus(size, driver_name=None):
    """The vCPU count hidden in ``size.extra`` (its key depends on the driver), or None."""
    extra = getattr(size, "extra", None) or {}
    keys = VCPU_KEYS_BY_DRIVER.get(driver_name or "", ()) + VCPU_KEYS_FALLBACK
    for key in keys:
        value = _number(extra.get(key))
        if value is not None and value > 0:
            return value
    return None


def size_to_flavor(size, driver_name=None):
    """A libcloud NodeSize as a model.Flavor (ram in GB; cpu None when the driver hides it)."""
    ram_mb = _number(getattr(size, "ram", None))
    disk = _number(getattr(size, "disk", None))
    price = _number(getattr(size, "price", None))
    return Flavor(
        name=str(getattr(size, "name", None) or size.id),
        cpu=size_vcpus(size, driver_name),
        ram_gb=round(ram_mb / 1024.0, 3) if ram_mb else None,
        disk_gb=disk or None,
        price=price,
    )


def machine_state(value):
    """libcloud / EC2 state names -> pending, running, stopping, stopped, terminated, unknown."""
    text = str(value or "").lower()
    if text in ("shutting-down", "terminating"):
        return "terminated"
    return _STATES.get(text, "unknown")


# -- errors ----------------------------------------------------------------------

def redact(text, secrets):
    """``text`` with every secret value replaced by ``***``."""
    text = str(text)
    for secret in secrets or ():
        if secret and len(str(secret)) >= 4:
            text = text.replace(str(secret), "***")
    return text


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


class Caller:
    """Runs provider API calls with retries and turns failures into one clear ProviderError."""

    def __init__(self, cloud, endpoint_text, secrets, retry_options=None, sleep=time.sleep):
        self.cloud = cloud
        self.endpoint_text = endpoint_text
        self.secrets = [value for value in secrets if value]
        options = dict(DEFAULT_RETRY)
        options.update({key: float(value) if key != "attempts" else int(value)
                        for key, value in (retry_options or {}).items() if value is not None})
        self.retry_options = options
        self.sleep = sleep
        self.retries = 0            # transient failures retried so far (for tests and reports)

    def _count(self, attempt, exc, delay):
        self.retries += 1

    def call(self, what, fn, transient=is_transient):
        try:
            return call_with_retry(fn, is_transient=transient, on_retry=self._count, sleep=self.sleep,
                                   **self.retry_options)
        except ProviderError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise self.error(what, exc)

    def error(self, what, exc):
        """ProviderError for ``exc`` raised while doing ``what`` (secrets redacted)."""
        name = self.cloud.name
        if is_unreachable(exc):
            return ProviderError(
                redact("cloud %s: cannot reach %s while trying to %s (%s); check the cloud's endpoint/region "
                       "and the network" % (name, self.endpoint_text, what, _root_message(exc)), self.secrets),
                cloud=name, endpoint=self.endpoint_text, action=what)
        attempts = getattr(exc, "slipway_attempts", None)
        suffix = ""
        if attempts and attempts > 1:
            suffix = " (gave up after %d attempts)" % attempts
        code = error_code(exc)
        message = "cloud %s: %s failed: %s%s" % (name, what, describe_error(exc), suffix)
        return ProviderError(redact(message, self.secrets), cloud=name, action=what, code=code,
                             http_status=http_status(exc))


def _root_message(exc):
    """The innermost OS-level message: "[Errno 111] Connection refused"."""
    innermost = exc
    for cause in iter_causes(exc):
        if isinstance(cause, OSError):
            innermost = cause
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror
    return str(innermost) or type(innermost).__name__


#: options every libcloud-based provider reads (a provider adds its own)
COMMON_OPTIONS = {
    "ssh_probe": bool,          # false: wait=ssh is refused (clouds whose addresses must not be probed)
    "http_timeout": (int, float),
    "retry_attempts": int,
    "retry_base_delay": (int, float),
    "retry_max_delay": (int, float),
    "retry_deadline": (int, float),
}


def check_options(cloud, known):
    """One clear error for an option this provider does not know or of the wrong type."""
    allowed = dict(COMMON_OPTIONS)
    allowed.update(known)
    for key, value in cloud.options:
        if key not in allowed:
            raise ProviderError("cloud %s: unknown option %r for provider %s; valid options: %s"
                                % (cloud.name, key, cloud.provider, ", ".join(sorted(allowed))),
                                cloud=cloud.name, key="options." + str(key))
        kind = allowed[key]
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise ProviderError("cloud %s: option %s must be a %s, got %r" % (cloud.name, key, names, value),
                                cloud=cloud.name, key="options." + str(key))


def split_endpoint(endpoint, default_port=None):
    """"http://127.0.0.1:5000" -> (secure, host, port)."""
    match = re.match(r"^(https?)://(\[[^\]]+\]|[^:/]+)(?::(\d+))?/?$", str(endpoint or "").strip())
    if not match:
        raise ProviderError("endpoint %r is not a URL like https://host[:port]" % (endpoint,), endpoint=endpoint)
    secure = match.group(1) == "https"
    port = int(match.group(3)) if match.group(3) else (default_port or (443 if secure else 80))
    return secure, match.group(2).strip("[]"), port


# -- waiting -----------------------------------------------------------------------

def ssh_banner(address, port=22, timeout=2.0):
    """The SSH server's banner line ("SSH-2.0-OpenSSH_9.2p1 ...") or None."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return line if line.startswith("SSH-") else None


def probe_ssh(machines, timeout=2.0, workers=16, port=22):
    """{machine.id: banner or None} for machines with an address, probed in parallel."""
    todo = [m for m in machines if m.address]
    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        banners = list(pool.map(lambda m: ssh_banner(m.address, port=port, timeout=timeout), todo))
    return {machine.id: banner for machine, banner in zip(todo, banners)}


def poll_until(check, timeout, first_delay=0.5, max_delay=5.0, clock=time.monotonic, sleep=time.sleep):
    """Call ``check()`` until it returns True or ``timeout`` seconds pass; returns the last result.

    The interval grows from ``first_delay`` to ``max_delay`` so a slow cloud is
    not hammered; the wait never outlasts ``timeout`` by more than one call.
    """
    deadline = clock() + max(0.0, float(timeout))
    delay = first_delay
    while True:
        if check():
            return True
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        sleep(min(delay, remaining))
        delay = min(max_delay, delay * 1.5)


def timeout_error(cloud_name, until, timeout, machines):
    """The one error for machines that did not get to ``until`` within ``timeout``."""
    late = ["%s (%s)" % (m.name, m.state) for m in machines]
    return ProviderError(
        "cloud %s: %d machine(s) not %s after %s s: %s" % (
            cloud_name, len(machines), "answering SSH" if until == "ssh" else until, timeout, ", ".join(late)),
        cloud=cloud_name, until=until, timeout=timeout, machines=[m.name for m in machines])
