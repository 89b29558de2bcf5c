# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Refuse a catalog layer, catalog file or cache that someone else could have written, as OpenSSH refuses a
loose ``~/.ssh``.

A catalog decides where a cloud's credentials are sent, so whoever can write a layer (or the parse cache
that stands in for it) can have the credentials sent anywhere. A path is trusted when it is owned by the
user running (effective uid), by root, or by the owner of this collection's own code (which runs as the
user anyway), and is not writable by its group or by others. Directories are checked once per path per
process; files are checked on the ``os.fstat`` of the handle they are read from. No Ansible imports.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError

_TRUSTED_DIRS = set()
_OWNERS = []   # [frozenset of trusted uids] once computed


def trusted_uids():
    """The uids whose files are trusted: the effective user, root, and the owner of this collection's code."""
    if not _OWNERS:
        uids = {os.geteuid(), 0}
        try:
            uids.add(os.stat(os.path.abspath(__file__)).st_uid)
        except OSError:
            pass        # inside an AnsiballZ zip: no file of its own
        _OWNERS.append(frozenset(uids))
    return _OWNERS[0]


def _user(uid):
    try:
        import pwd  # pylint: disable=import-outside-toplevel  # error path only
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return "uid %d" % uid


def untrusted_reason(status):
    """Why a path with this ``os.stat`` result is not trusted, or None when it is."""
    if status.st_uid not in trusted_uids():
        you = os.geteuid()
        return "is owned by %s, not by %s" % (_user(status.st_uid), "root" if you == 0 else
                                              "you (%s) or root" % _user(you))
    loose = status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if loose:
        who = "its group and others" if loose == (stat.S_IWGRP | stat.S_IWOTH) else \
            "its group" if loose == stat.S_IWGRP else "others"
        return "is writable by %s (mode %04o)" % (who, stat.S_IMODE(status.st_mode))
    return None


def refuse(path, what, reason, key="catalog", fix=None):
    """The CatalogError for an untrusted ``path``: what it is, why, and how to fix it."""
    fix = fix or ("use a copy you own" if reason.startswith("is owned") else "run chmod go-w %s" % path)
    return CatalogError(
        "%s %s %s: anyone who can write it decides what the catalog says, such as where a cloud's credentials "
        "are sent, so it is refused (as OpenSSH refuses a loose ~/.ssh); %s"
        % (what, path, reason, fix), file=path, key=key, reason=reason)


def check_status(path, status, what, key="catalog", fix=None):
    """Raise the CatalogError of ``refuse`` when the ``os.stat`` result ``status`` of ``path`` is not trusted."""
    reason = untrusted_reason(status)
    if reason is not None:
        raise refuse(path, what, reason, key=key, fix=fix)


def check_directory(path, what, key="catalog", fix=None, status=None):
    """Check directory ``path`` once per process (``status``: its os.stat result when the caller has it)."""
    if path in _TRUSTED_DIRS:
        return
    check_status(path, os.stat(path) if status is None else status, what, key=key, fix=fix)
    _TRUSTED_DIRS.add(path)


def forget():
    """Drop what this process remembers (tests change modes and owners of the same paths)."""
    _TRUSTED_DIRS.clear()
    del _OWNERS[:]
