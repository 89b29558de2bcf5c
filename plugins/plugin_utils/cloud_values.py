# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the inventory plugin takes from a cloud: host names from checked parts, every value marked unsafe.

Tags, names and metadata are written by whoever can tag a machine, so they are data, never templates.
ansible-core 2.18 templates any plain string it meets (a tag of ``{{ lookup('pipe', ...) }}`` runs on the
controller); 2.19+ templates only strings trusted as templates. Marking cloud values unsafe here makes
them inert on every core alike. Host names and the group names built from cloud values are text that no
mark survives (an exported inventory, AWX), so they are made only of characters no template can use.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.slipway.cloud.plugins.module_utils import names

#: how much of a rejected value a warning shows (repr, cut)
EXCERPT_CHARS = 40
NAME_RULE = "letters, digits, '-' and '.', 1 to 63 characters, starting and ending with a letter or digit"
#: names Ansible takes for the controller itself: a machine never gets one as its host name
LOCALHOST_NAMES = frozenset(("localhost", "127.0.0.1", "::1"))
_NOT_IN_GROUP_NAMES = re.compile(r"[^A-Za-z0-9_]")


def is_name_part(value):
    """True when ``value`` may be part of a host name: a valid machine name (the rule of module_utils.names)."""
    return isinstance(value, str) and names.NAME_RE.fullmatch(value) is not None


def excerpt(value):
    """A short excerpt of a rejected value for a message: its repr, cut to EXCERPT_CHARS."""
    text = repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 3] + "..."


def shown(value):
    """``value`` itself when it is a valid name part, else its excerpt: what a message may print of it."""
    return value if is_name_part(value) else excerpt(value)


def skip_note(cloud, machine_id, what, value):
    """The warning for a machine left out because its ``what`` (name, id, cloud) cannot be part of a host name."""
    return ("slipway.cloud.instances: machine %s on cloud %s is not listed: its %s %s is not a valid machine "
            "name (%s)" % (shown(machine_id), shown(cloud), what, excerpt(value), NAME_RULE))


def name_problem(parts):
    """``(what, value)`` of the first of ``parts`` (pairs of what and value) that is not a valid name part."""
    for what, value in parts:
        if not is_name_part(value):
            return what, value
    return None


def cached_host_problem(record):
    """Why a host record read back from the cache may not be used (a message), or None.

    The cache is a file: its host names are checked again, as when they were listed, from the parts
    the record keeps (``name_parts``: name, then cloud, then id when the host name has them).
    """
    if not isinstance(record, dict) or not isinstance(record.get("vars"), dict) \
            or not isinstance(record.get("groups"), list):
        return "slipway.cloud.instances: a cached host record is malformed and not listed; run with --flush-cache"
    parts, host, hostvars = record.get("name_parts"), record.get("host"), record["vars"]
    if not isinstance(parts, list) or not parts or host != ".".join(str(part) for part in parts):
        return ("slipway.cloud.instances: cached host %s is not listed: it does not match its name parts; "
                "run with --flush-cache" % excerpt(host))
    problem = name_problem(zip(("name", "cloud", "id"), parts))
    if problem:
        return skip_note(hostvars.get("slipway_cloud"), hostvars.get("slipway_id"), *problem)
    return None


def unsafe_values(hostvars):
    """A copy of ``hostvars`` whose values (nested ones too) are marked unsafe, so that no core templates them."""
    return {key: wrap_var(value) for key, value in hostvars.items()}


def sanitized_group_name(name):
    """``name`` with every character Ansible rejects in a group name turned into ``_``: no template fits in it."""
    return _NOT_IN_GROUP_NAMES.sub("_", name)
