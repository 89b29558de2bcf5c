# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenStack services' own venv: built once from PyPI, cached outside the clone.

The services (keystone, placement, glance, neutron, nova) pull 170 packages that must not mix
with the tests' venv, so they get a venv of their own, pinned by ``constraints.txt`` beside this
file and cached under ``$SLIPWAY_OPENSTACK_CACHE`` (else ``$SLIPWAY_CI_CACHE``, else
``~/.cache/slipway.cloud/tooling``) as ``openstack-venv-<hash>``: the hash covers the
constraints, the package list and the interpreter's version, so a changed pin builds a new venv
and a second run costs one stat. Builds take an exclusive lock (two sessions never build at
once); a session holds a shared lock on its venv while it runs, and older venvs are removed
only when no session holds them.

Stdlib only: ``make setup`` runs it (``python -m support.openstack_loopback install``) before the tests'
venv has anything else the harness needs.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONSTRAINTS = os.path.join(HERE, "constraints.txt")
#: what gets installed; every version comes from CONSTRAINTS
SERVICES = ("keystone", "openstack-placement", "glance", "neutron", "nova")
#: the import names checked once the venv is built
IMPORTS = ("keystone", "placement", "glance", "neutron", "nova")
#: the services declare Requires-Python >= 3.11
MIN_PYTHON = (3, 11)
DEFAULT_PYTHON = "python3.11"
STAMP = ".slipway-complete"
PREFIX = "openstack-venv-"
INSTALL_TIMEOUT = 1800

# pip's words for "the index cannot be reached" and "the disk is full": not the project's fault.
_OUTSIDE_MARKERS = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                    "Name or service not known", "Network is unreachable", "ConnectTimeoutError",
                    "ReadTimeoutError", "No space left on device")
# Some machines list package-index folders that do not exist: pip warns once per package.
_PIP_NOISE = "is ignored: it is neither a file nor a directory"


class ServicesUnavailable(Exception):
    """The services cannot be installed here for a reason outside the project (no Python 3.11,
    no package index, a full disk): the tests skip with this message, except in CI."""


class InstallError(Exception):
    """The install failed for a reason the project must fix (a pin that does not resolve...)."""


def in_ci():
    """CI=true (as .ci/run's CI sets it): there the OpenStack tests must run, never skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def cache_dir():
    return (os.environ.get("SLIPWAY_OPENSTACK_CACHE") or os.environ.get("SLIPWAY_CI_CACHE")
            or os.path.join(os.path.expanduser("~"), ".cache", "slipway.cloud", "tooling"))


def find_python(explicit=None):
    """(path, (major, minor)) of the interpreter the services' venv is made with."""
    name = explicit or os.environ.get("SLIPWAY_OPENSTACK_PYTHON") or DEFAULT_PYTHON
    path = shutil.which(name)
    if path is None:
        raise ServicesUnavailable("no %s on this machine: the OpenStack services need Python >= %d.%d "
                                  "(Debian 12's python3; set SLIPWAY_OPENSTACK_PYTHON to use another)"
                                  % ((name,) + MIN_PYTHON))
    probe = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                           timeout=60, check=False)
    try:
        version = tuple(int(part) for part in probe.stdout.strip().split("."))
    except ValueError:
        raise ServicesUnavailable("%s does not run: %s" % (path, probe.stdout.strip()[-300:]))
    if version < MIN_PYTHON:
        raise ServicesUnavailable("%s is Python %d.%d; the OpenStack services need >= %d.%d"
                                  % ((path,) + version + MIN_PYTHON))
    return path, version


def venv_key(version):
    """The cache key: the pins of the constraints (not their comments), package list and interpreter version."""
    with open(CONSTRAINTS) as handle:
        pins = sorted(line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#"))
    text = "\n".join(pins + list(SERVICES) + ["python%d.%d" % version])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ServicesVenv:
    """A built venv: ``bin(tool)`` paths, and ``hold()`` for the time a cloud uses it."""

    def __init__(self, path):
        self.path = path
        self.python = os.path.join(path, "bin", "python")
        self._held = None

    def bin(self, tool):
        return os.path.join(self.path, "bin", tool)

    def etc(self, *parts):
        """Files the services' wheels install under <venv>/etc (api-paste.ini...)."""
        return os.path.join(self.path, "etc", *parts)

    def hold(self):
        """Take a shared lock so that no later install removes this venv while it is in use."""
        if self._held is None:
            self._held = open(os.path.join(self.path, STAMP), "rb")  # pylint: disable=consider-using-with
            fcntl.flock(self._held, fcntl.LOCK_SH)
        return self

    def release(self):
        if self._held is not None:
            self._held.close()
            self._held = None


def ensure_venv(python=None, report=None):
    """The services' venv for this constraints file, built if missing; returns a ServicesVenv.

    ``report(text)`` hears about a build (it takes minutes); nothing is said when the cache hits.
    Raises ServicesUnavailable or InstallError.
    """
    report = report or (lambda text: sys.stderr.write(text + "\n"))
    interpreter, version = find_python(python)
    root = cache_dir()
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, PREFIX + venv_key(version))
    if not os.path.exists(os.path.join(path, STAMP)):
        with open(os.path.join(root, "openstack-venv.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(os.path.join(path, STAMP)):  # another session may have built it meanwhile
                _build(interpreter, path, report)
            _prune(root, keep=path)
    return ServicesVenv(path)


def _build(interpreter, path, report):
    started = time.monotonic()
    shutil.rmtree(path, ignore_errors=True)         # a build that died half-way
    report("building the OpenStack services venv %s (once per constraints file; 1-3 minutes)" % path)
    log_path = path + ".log"
    with open(log_path, "w") as log:
        _run(log, [interpreter, "-m", "venv", path], "creating the venv",
             outside_hint="Debian's %s needs python3-venv for that (make setup installs it)" % interpreter)
        _run(log, [os.path.join(path, "bin", "python"), "-m", "pip", "install", "--no-input",
                   "--disable-pip-version-check", "-c", CONSTRAINTS] + list(SERVICES), "pip install")
        _run(log, [os.path.join(path, "bin", "python"), "-c", "import " + ", ".join(IMPORTS)],
             "importing the installed services")
    with open(os.path.join(path, STAMP), "w") as stamp:
        stamp.write("built in %.0f s from %s\n" % (time.monotonic() - started, CONSTRAINTS))
    report("OpenStack services venv ready in %.0f s" % (time.monotonic() - started))


def _run(log, command, what, outside_hint=None):
    """Run one build step; a failure raises ServicesUnavailable when it is the machine's
    (``outside_hint`` given, or pip could not reach the index), else InstallError."""
    log.write("$ %s\n" % " ".join(command))
    log.flush()
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                universal_newlines=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ServicesUnavailable("%s took more than %d s (a slow or unreachable package index?); log: %s"
                                  % (what, INSTALL_TIMEOUT, log.name))
    output = "\n".join(line for line in result.stdout.splitlines() if _PIP_NOISE not in line)
    log.write(output + "\n")
    log.flush()
    if result.returncode == 0:
        return
    tail = "\n".join(output.splitlines()[-15:])
    message = "%s failed (exit %d; log: %s):\n%s" % (what, result.returncode, log.name, tail)
    if outside_hint:
        raise ServicesUnavailable(message + "\n" + outside_hint)
    if any(marker in output for marker in _OUTSIDE_MARKERS):
        raise ServicesUnavailable("the package index cannot be reached or the disk is full: " + message)
    raise InstallError(message)


def _prune(root, keep):
    """Remove other openstack-venv-* builds no running session holds."""
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if not name.startswith(PREFIX) or path == keep or name.endswith(".log") or not os.path.isdir(path):
            continue
        stamp = os.path.join(path, STAMP)
        if os.path.exists(stamp):
            with open(stamp, "rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue                     # a session is using it
                shutil.rmtree(path, ignore_errors=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        if os.path.exists(path + ".log"):
            os.unlink(path + ".log")
