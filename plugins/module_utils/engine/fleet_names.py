# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names of a ``count`` fleet, within bounds checked before anything is formatted or allocated.

``count`` is at most MAX_NAMES_PER_TASK, and ``name_pattern`` holds one integer conversion (``%d``,
``%02d``, ``%x``...) whose width and text fit a machine name (63 characters), so that neither
``count: 100000000`` nor ``%1500000000d`` can cost memory before the error. No Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError

#: the most machines one task may name (count, or the names list)
MAX_NAMES_PER_TASK = 10000
#: the longest machine name (a DNS label)
MAX_NAME_CHARS = 63
#: one printf conversion: flags, width, precision, type (a mapping key or '*' is not allowed)
_CONVERSION = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\d*)(?:\.(?P<precision>\d*))?(?P<type>.?)", re.DOTALL)
_INTEGER_TYPES = "diouxXs"


class FleetNameError(InputError):
    """A count or name_pattern the engine refuses before any name is made."""


def check_count(count, option="count"):
    """``count`` as a whole number from 0 to MAX_NAMES_PER_TASK, else one clear error naming ``option``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise FleetNameError("%s must be a whole number >= 0, got %s" % (option, excerpt(count)), option=option)
    if count > MAX_NAMES_PER_TASK:
        raise FleetNameError("%s is %d, more than the %d machines one task may ask for; split the fleet over "
                             "several tasks or deployments" % (option, count, MAX_NAMES_PER_TASK),
                             option=option, limit=MAX_NAMES_PER_TASK)
    return count


def check_names_count(names, option="names"):
    """Refuse a names list longer than MAX_NAMES_PER_TASK."""
    if len(names) > MAX_NAMES_PER_TASK:
        raise FleetNameError("%s lists %d machines, more than the %d one task may ask for; split the fleet over "
                             "several tasks" % (option, len(names), MAX_NAMES_PER_TASK),
                             option=option, limit=MAX_NAMES_PER_TASK)


def _pattern_error(pattern, problem):
    return FleetNameError("name_pattern %s %s; give text with exactly one integer conversion such as %%d or %%02d, "
                          "the names it makes %d characters at most (e.g. web-%%02d)"
                          % (excerpt(pattern), problem, MAX_NAME_CHARS), option="name_pattern")


def check_pattern(pattern, count):
    """Refuse ``pattern`` unless it has one integer conversion and its names for 1..``count`` fit a machine
    name; checked on the pattern's text, before any name is formatted."""
    if not isinstance(pattern, str):
        raise _pattern_error(pattern, "is not text")
    if len(pattern) > 4 * MAX_NAME_CHARS:
        raise _pattern_error(pattern, "is longer than any machine name")
    conversions = [m for m in _CONVERSION.finditer(pattern) if m.group(0) != "%%"]
    if len(conversions) != 1:
        raise _pattern_error(pattern, "has %d conversions" % len(conversions))
    match = conversions[0]
    if not match.group("type") or match.group("type") not in _INTEGER_TYPES:
        raise _pattern_error(pattern, "has the conversion %s, not an integer one" % excerpt(match.group(0)))
    for part in ("width", "precision"):
        if len(match.group(part) or "") > 2 or int(match.group(part) or 0) > MAX_NAME_CHARS:
            raise _pattern_error(pattern, "pads its number wider than a machine name")
    longest = pattern % max(count, 1)
    if len(longest) > MAX_NAME_CHARS:
        raise _pattern_error(pattern, "makes names of %d characters (%s)" % (len(longest), excerpt(longest)))


def pattern_names(pattern, count):
    """The names ``pattern`` % 1..``count``, after check_count and check_pattern."""
    check_count(count)
    check_pattern(pattern, count)
    return [pattern % index for index in range(1, count + 1)]
