# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cloud's settings as its provider reads them: the catalog's ``options`` checked against what the family
declares, and the credentials read from the environment variables the catalog names (or from the task's
``credentials`` option, which gives values for those variables). No Ansible imports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
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
            raise ProviderError("cloud %s: option %s must be a %s, got %s"
                                % (cloud.name, key, " or ".join(t.__name__ for t in kinds), excerpt(value)),
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
                "cloud %s needs environment variable %s (for its %r credential); it is not set or empty "
                "(set it on the controller, or give it in the task's credentials option)"
                % (cloud.name, variable, argument),
                cloud=cloud.name, variable=variable)
        values[argument] = environ[variable]
    return values


class TaskEnviron(dict):
    """The environment a task's credentials are read from; ``given`` names the variables whose values
    came from the task's ``credentials`` option rather than from the process environment."""

    def __init__(self, base=(), given=None):
        super(TaskEnviron, self).__init__(base)
        given = dict(given or {})
        self.update(given)
        self.given = frozenset(given)


def with_credentials(environ, credentials):
    """``environ`` with the ``credentials`` option's values over it (a variable the option does not give,
    or gives empty, is read from ``environ``, as amazon.aws falls back from an option to the environment)."""
    given = {str(name): str(value) for name, value in (credentials or {}).items()
             if value is not None and str(value) != ""}
    return TaskEnviron(environ, given)


def credential_source(variables, environ):
    """Where the credentials of these variables were read from, for an authentication error: "the
    credentials option (A, B)", "environment variable(s) A, B", or both. Never a value."""
    given = getattr(environ, "given", frozenset())
    from_option = [v for v in variables if v in given]
    from_environ = [v for v in variables if v not in given]
    parts = []
    if from_option:
        parts.append("the task's credentials option (%s)" % ", ".join(from_option))
    if from_environ:
        parts.append("environment variable(s) %s" % ", ".join(from_environ))
    return " and ".join(parts) or None
