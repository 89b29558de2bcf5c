# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which local directories the local cloud trusts: its state root and its image cache.

As OpenSSH refuses a loose ``~/.ssh``: a directory (and every directory above it) must belong to this
user or root and must not be writable by group or others (a sticky directory such as /tmp may be above
it). Whoever could write there could plant records that teardown acts on, or the image machines boot.
No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError

#: the state root holds records, host keys and machines' file systems: nobody else may look in
ROOT_MODE = 0o700
#: the image cache is a plain Debian tree with no secret: readable, writable only by its owner
IMAGES_MODE = 0o755


def _problem(path, info, own):
    """Why ``path`` (its lstat ``info``) cannot be trusted, or None."""
    if stat.S_ISLNK(info.st_mode):
        info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid not in (os.geteuid(), 0):
        return "belongs to uid %d, not to this user (uid %d) or root" % (info.st_uid, os.geteuid())
    if own and info.st_mode & 0o022:
        return "is writable by group or others (mode %04o)" % stat.S_IMODE(info.st_mode)
    if not own and info.st_mode & 0o002 and not info.st_mode & stat.S_ISVTX:
        return "is writable by others without the sticky bit (mode %04o)" % stat.S_IMODE(info.st_mode)
    if not own and info.st_mode & 0o020 and info.st_gid != 0 and not info.st_mode & stat.S_ISVTX:
        return "is writable by group %d (mode %04o)" % (info.st_gid, stat.S_IMODE(info.st_mode))
    return None


def check_trusted_dir(path, what, option=None):
    """Raise one clear error unless ``path`` (when it exists) and the directories above it are trustworthy.

    Both the path as given and, when a symlink is on it, where it really leads are checked.
    """
    path = os.path.abspath(path)
    for spelling in sorted(set((path, os.path.realpath(path)))):
        _check_chain(spelling, what, option)
    return path


def _check_chain(path, what, option):
    current, own = path, True
    while True:
        try:
            info = os.lstat(current)
        except OSError:
            info = None
        if info is not None:
            problem = _problem(current, info, own)
            if problem:
                which = ("%s %s" % (path, problem) if current == path
                         else "%s is inside %s, which %s" % (path, current, problem))
                raise ProviderError("the local cloud's %s %s: it must belong to this user or root and be writable by "
                                    "nobody else (chmod go-w, or choose another %s)" % (what, which, option or what),
                                    path=current, key=option)
        parent = os.path.dirname(current)
        if parent == current:
            return
        current, own = parent, False


def ensure_dir(path, mode, what, option=None):
    """``path`` exists with ``mode`` (tightened when looser and ours), after the trust check. True if changed."""
    check_trusted_dir(path, what, option)
    changed = False
    if not os.path.isdir(path):
        os.makedirs(path, mode=IMAGES_MODE, exist_ok=True)
        changed = True
    info = os.stat(path)
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)
        changed = True
    return changed
