# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory plugin's known_hosts file: the host keys clouds report, pinned for ssh (known_hosts_file).

Keys and addresses are cloud data written into a file ssh parses, so only plain values get in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex
import tempfile

#: what a known_hosts line may hold from a cloud: a key type and base64 data (never a newline or a pattern)
_HOST_KEY_TYPE = re.compile(r"[A-Za-z0-9@._-]+\Z")
_HOST_KEY_DATA = re.compile(r"[A-Za-z0-9+/=]+\Z")
_ADDRESS = re.compile(r"[A-Za-z0-9.:_-]+\Z")


def known_hosts_lines(records):
    """``ADDRESS KEYTYPE KEYDATA`` lines for every record with an ``ansible_host`` and host keys.

    Keys are cloud data written into a file ssh parses: anything but a plain type and base64
    data (a comment is dropped) is left out, so a key can never add a line or a host pattern.
    """
    lines = []
    for record in records:
        hostvars = record["vars"]
        address = hostvars.get("ansible_host")
        keys = hostvars.get("slipway_host_keys")
        if not address or not keys or not _ADDRESS.match(str(address)):
            continue
        for key in keys:
            fields = str(key).split()
            if len(fields) >= 2 and _HOST_KEY_TYPE.match(fields[0]) and _HOST_KEY_DATA.match(fields[1]):
                lines.append("%s %s %s\n" % (address, fields[0], fields[1]))
    return lines


def write_atomically(path, text):
    """Replace ``path`` with ``text`` (mode 0600) so that a concurrent ssh never reads half a file."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    handle, temporary = tempfile.mkstemp(prefix=".known_hosts-", dir=directory)   # mkstemp: mode 0600
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o600)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def ssh_args_for(path):
    """ansible_ssh_common_args pinning ``path``; Ansible splits it with shlex, ssh expands % and splits on spaces."""
    value = path.replace("%", "%%")
    if any(c.isspace() for c in value):
        value = '"%s"' % value
    return "-o %s -o StrictHostKeyChecking=yes" % shlex.quote("UserKnownHostsFile=" + value)
