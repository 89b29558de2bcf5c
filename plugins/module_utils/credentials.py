# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task's ``credentials`` option: values for the credential variables the catalog names, passed as a
``no_log`` module option by those who cannot set them in the controller's environment.

The option maps variable names to values (``{AWS_SECRET_ACCESS_KEY: "{{ vault_secret }}"}``); each value
stands in for that variable, and a variable it does not give is read from the environment, as amazon.aws
falls back from an option to its environment variable. A name that none of the chosen clouds reads is one
error naming it and the variables those clouds read. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.settings import with_credentials

OPTION = "credentials"


def _family(cloud):
    """The provider class of the cloud's family, or None when it cannot be imported here."""
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import provider_class

    try:
        return provider_class(cloud.provider)
    except ImportError:
        return None


def cloud_variables(cloud):
    """The environment variables a cloud's credentials are read from: the catalog's (else the family's
    defaults), and those the family reads besides them (EC2's session token beside AWS_ACCESS_KEY_ID)."""
    family = _family(cloud)
    pairs = tuple(cloud.credentials) or tuple(getattr(family, "DEFAULT_CREDENTIALS", ()))
    variables = [variable for dummy, variable in pairs]
    optional = getattr(family, "optional_credential_variables", None)
    return variables + [v for v in (optional(pairs) if optional else ()) if v not in variables]


def chosen_clouds(catalog, params):
    """The catalog's clouds a task works on: its ``cloud`` or ``clouds`` option, else every cloud (names the
    catalog lacks are left to the module, which reports them)."""
    names = [params["cloud"]] if params.get("cloud") else list(params.get("clouds") or catalog.clouds)
    return [catalog.clouds[name] for name in names if name in catalog.clouds]


def check_names(given, clouds):
    """One clear error for names of ``given`` that no cloud of ``clouds`` reads (never a value)."""
    known = []
    for cloud in clouds:
        known.extend(v for v in cloud_variables(cloud) if v not in known)
    unknown = sorted(str(name) for name in given if name not in known)
    if unknown:
        raise InputError(
            "option credentials: %s %s not read by the chosen clouds (%s); the variables they read: %s"
            % (", ".join(unknown), "is" if len(unknown) == 1 else "are",
               ", ".join(c.name for c in clouds) or "none", ", ".join(known) or "none (they need no credentials)"),
            option=OPTION, unknown=unknown, valid=known)


def task_environ(environ, params, load_catalog):
    """The environment the task's clouds read their credentials from: ``environ`` with the task's
    ``credentials`` option over it, checked against the chosen clouds (``load_catalog()`` gives the catalog,
    loaded only when the option is set). A TaskEnviron: auth errors can say which values came from where."""
    given = params.get(OPTION) or {}
    if given:
        check_names(given, chosen_clouds(load_catalog(), params))
    return with_credentials(environ, given)
