# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of ids: machine names, deployment ids, cloud, image and security-group names.

The modules' options (``check_options``), every provider's create and the local cloud's engine
(``check_machine_names``), the catalog schema (``CATALOG_NAME``), rules.py (``GROUP_NAME_RE``) and the
playbooks' test plugin ``slipway.cloud.valid_id`` (``is_valid_id``) all use it. Every pattern ends in
``\\Z``: ``$`` also matches before a final newline, so ``"web-1\\n"`` passed. No Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt

#: a DNS label (and a host name on every cloud): letters, digits, '-' and '.', 1-63 characters
MACHINE_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?"
#: a name of the catalog (cloud, image, catalog security group) and a deployment id: one path component
CATALOG_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
#: a security group as clouds name them (EC2 allows these characters), up to 255 characters
GROUP_NAME = r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}"

NAME_RE = re.compile(r"^%s\Z" % MACHINE_NAME)
CATALOG_NAME_RE = re.compile(r"^%s\Z" % CATALOG_NAME)
GROUP_NAME_RE = re.compile(r"^%s\Z" % GROUP_NAME)

_CATALOG_RULE = "letters, digits, '.', '_' and '-', 1 to 128 characters, starting with a letter or digit"
#: kind -> (pattern, what it is, what is valid)
ID_KINDS = {
    "machine": (NAME_RE, "machine name", "letters, digits, '-' and '.', 1 to 63 characters, starting and "
                                         "ending with a letter or digit"),
    "deployment": (CATALOG_NAME_RE, "deployment id", _CATALOG_RULE),
    "cloud": (CATALOG_NAME_RE, "cloud name", _CATALOG_RULE),
    "image": (CATALOG_NAME_RE, "image name", _CATALOG_RULE),
    "security_group": (GROUP_NAME_RE, "security group name", "1 to 255 letters, digits, spaces or ._-:/()#,@[]+=&;{}!$*"),
}
#: the id options of the modules and the kind of each (security_group's own ``name`` is a group's)
TASK_ID_OPTIONS = {"name": "machine", "names": "machine", "cloud": "cloud", "clouds": "cloud", "image": "image",
                   "deployment": "deployment", "security_groups": "security_group"}


class IdError(InputError, ProviderError):
    """An id that cannot be used. Both kinds: the modules check ids before any cloud is touched, and a
    provider called directly checks what it is given."""


class MachineNameError(IdError):
    """A machine name that cannot be used, or a name given twice."""


def is_valid_id(kind, value):
    """True when ``value`` is a valid id of ``kind`` (one of ID_KINDS)."""
    return isinstance(value, str) and bool(_kind(kind)[0].match(value))


def id_rule(kind):
    """The sentence saying what a valid id of ``kind`` is."""
    dummy, what, rule = _kind(kind)
    return "a %s uses %s" % (what, rule)


def _kind(kind):
    try:
        return ID_KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError("unknown kind of id %r; valid kinds: %s" % (kind, ", ".join(sorted(ID_KINDS)))) from None


def check_id(kind, value, option, where=None, error=IdError):
    """``value`` when it is a valid id of ``kind``; else one error naming ``option`` and what is valid."""
    if is_valid_id(kind, value):
        return value
    dummy, what, rule = _kind(kind)
    raise error("%soption %s: %s %s is not valid: use %s"
                % ("cloud %s: " % where if where else "", option, what, excerpt(value), rule),
                option=option, value=excerpt(value), cloud=where)


def check_options(params, kinds):
    """Check the id options of a task before anything else: ``kinds`` maps option -> kind of id; an option
    that is None is not given; a list option is checked item by item (``option[index]`` in the error)."""
    for option, kind in kinds.items():
        value = params.get(option)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                check_id(kind, item, "%s[%d]" % (option, index))
        else:
            check_id(kind, value, option)


def check_machine_names(names, option="names", where=None):
    """``names`` as a list: each a valid machine name, none twice; else one clear error naming ``option``."""
    names = list(names)
    seen = set()
    for name in names:
        check_id("machine", name, option, where=where, error=MachineNameError)
        if name in seen:
            raise MachineNameError("%smachine names must be unique in one request: %s is given twice"
                                   % ("cloud %s: " % where if where else "", excerpt(name)), option=option,
                                   value=excerpt(name), cloud=where)
        seen.add(name)
    return names
