# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cloud's settings as its provider reads them: the catalog's ``options`` checked against what the family
declares, and the credentials read from the environment variables the catalog names. No Ansible imports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError


def check_options(cloud, known):
    """One clear error for an option the family does not know (naming the closest valid one),
    or one of the wrong type."""
    for key, value in cloud.options:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            raise ProviderError("cloud %s: unknown option %r for provider %s; valid options: %s%s"
                                % (cloud.name, key, cloud.provider, ", ".join(sorted(known)),
                                   "; did you mean %r?" % close[0] if close else ""),
                                cloud=cloud.name, key="options." + str(key), valid=sorted(known))
        kind = known[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise ProviderError("cloud %s: option %s must be a %s, got %r"
                                % (cloud.name, key, " or ".join(t.__name__ for t in kinds), value),
                                cloud=cloud.name, key="options." + str(key))


def resolve_credentials(cloud, environ, optional=False):
    """Read each credential from the environment variable the catalog names.

    A missing variable is an error that names the variable, never a value (with ``optional``, it is left
    out: the family checks that what is set is enough).
    """
    values = {}
    for argument, variable in cloud.credentials:
        if not environ.get(variable):
            if optional:
                continue
            raise ProviderError(
                "cloud %s needs environment variable %s (for its %r credential); it is not set or empty"
                % (cloud.name, variable, argument),
                cloud=cloud.name, variable=variable)
        values[argument] = environ[variable]
    return values
