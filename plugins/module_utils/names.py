# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of machine names: what a name may look like, and that a request names each once.

The task's options, every provider's create and the local cloud's engine use it. No Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError, ProviderError

#: a DNS label (and a host name on every cloud): letters, digits, '-' and '.', 1-63 characters
NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$")


class MachineNameError(InputError, ProviderError):
    """A machine name that cannot be used, or a name given twice. Both kinds: the modules check names
    before any cloud is touched, and a provider called directly checks what it is given."""


def check_machine_names(names, option="names", where=None):
    """``names`` as a list: each a valid machine name, none twice; else one clear error naming ``option``."""
    names = list(names)
    seen = set()
    for name in names:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise MachineNameError("%smachine name %r is not valid: use letters, digits, '-' and '.', 1 to 63 "
                                   "characters, starting and ending with a letter or digit"
                                   % ("cloud %s: " % where if where else "", name), option=option, value=str(name),
                                   cloud=where)
        if name in seen:
            raise MachineNameError("%smachine names must be unique in one request: %r is given twice"
                                   % ("cloud %s: " % where if where else "", name), option=option, value=name,
                                   cloud=where)
        seen.add(name)
    return names
