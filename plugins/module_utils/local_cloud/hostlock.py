# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's host lock file: private, taken with a bounded wait, its holder named on timeout.

The lock is an flock on ``<root>/lock``. It is created 0600 (so nobody else can open it, not even to
hold it through a read-only handle), refused when it belongs to another user or others may write it,
and taken with LOCK_NB polls and backoff until a deadline; on timeout the error names the file and,
from /proc/locks, the pid and command of whoever holds it. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import random
import stat
import time

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

DEFAULT_TIMEOUT = 300.0
TIMEOUT_ENV = "SLIPWAY_LOCAL_LOCK_TIMEOUT"
_FIRST_PAUSE = 0.02
_LONGEST_PAUSE = 1.0


class LockTimeout(ProviderError):
    """The host lock stayed held by another process for the whole bounded wait."""


def resolve_timeout(option=None, environ=None):
    """Seconds to wait for the lock: the option, else $SLIPWAY_LOCAL_LOCK_TIMEOUT, else 300; or a clear error."""
    environ = os.environ if environ is None else environ
    value = option if option is not None else environ.get(TIMEOUT_ENV)
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise ProviderError("lock_timeout (or $%s) must be a number of seconds from 0 to 86400" % TIMEOUT_ENV,
                            key="lock_timeout", valid="0-86400")
    return seconds


def open_lock_file(path):
    """An O_RDWR descriptor on the lock file, created 0600; refused when another user owns it or others may write it."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise ProviderError("cannot open the local cloud's host lock %s: %s (it must be a regular file owned by "
                            "this user or root, mode 0600)" % (path, exc.strerror or exc), file=path)
    try:
        _check_lock_file(fd, path)
    except Exception:
        os.close(fd)
        raise
    return fd


def _check_lock_file(fd, path):
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ProviderError("the local cloud's host lock %s is not a regular file; remove it" % path, file=path)
    if info.st_uid not in (os.geteuid(), 0):
        raise ProviderError("the local cloud's host lock %s belongs to uid %d, not to this user (uid %d) or root: "
                            "another user could hold it; remove it or fix its owner"
                            % (path, info.st_uid, os.geteuid()), file=path, owner=info.st_uid)
    if info.st_mode & 0o022:
        raise ProviderError("the local cloud's host lock %s is writable by group or others (mode %04o): remove it "
                            "(it is made again 0600)" % (path, stat.S_IMODE(info.st_mode)), file=path)
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o600:
        # Ours, made 0644 by an older version: nobody else may open it, not even read-only to hold it.
        os.fchmod(fd, 0o600)


def acquire(fd, path, timeout=DEFAULT_TIMEOUT, sleep=time.sleep, clock=time.monotonic):
    """flock(LOCK_EX) on ``fd`` within ``timeout`` seconds (LOCK_NB polls, backoff with jitter), or LockTimeout."""
    deadline = clock() + timeout
    pause = _FIRST_PAUSE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (IOError, OSError) as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ProviderError("cannot lock %s: %s" % (path, exc.strerror or exc), file=path)
        left = deadline - clock()
        if left <= 0:
            raise LockTimeout("the local cloud's host lock %s is still held after %g s by %s; wait for that run "
                              "to end, or stop it (lock_timeout or $%s sets the wait)"
                              % (path, timeout, describe_holders(fd), TIMEOUT_ENV),
                              file=path, holders=[pid for pid, _command in holders(fd)])
        sleep(min(pause * random.uniform(0.8, 1.2), left))
        pause = min(pause * 2, _LONGEST_PAUSE)


def holders(fd):
    """[(pid, command)] of the processes /proc/locks shows holding a lock on the file of ``fd``."""
    info = os.fstat(fd)
    wanted = "%02x:%02x:%d" % (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    found = []
    try:
        with open("/proc/locks") as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return found
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters carry "->" and hold nothing.
        if len(fields) < 6 or "->" in fields:
            continue
        if fields[5] == wanted and fields[4].isdigit() and int(fields[4]) != os.getpid():
            found.append((int(fields[4]), process_command(int(fields[4]))))
    return found


def process_command(pid):
    """The short command name of ``pid`` (/proc/<pid>/comm): its arguments may hold secrets, so never them."""
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip() or "?"
    except (IOError, OSError):
        return "?"


def describe_holders(fd):
    found = holders(fd)
    if not found:
        return "another process (its pid is not visible in /proc/locks)"
    return ", ".join("pid %d (%s)" % (pid, command) for pid, command in found)
