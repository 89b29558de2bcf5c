# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin Ansible glue every slipway.cloud module shares.

A module builds ``SlipwayModule(argument_spec=..., supports_check_mode=True)``
(the common ``catalog`` option is added here) and calls ``module.run(main)``,
where ``main(module)`` returns the result dict. A SlipwayError raised by the
engine becomes ``fail_json(msg=..., **details)`` so callers see the file, line,
key and valid values as fields, not only in the message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import default_catalog_layers
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.yaml_reader import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.slipway.cloud.plugins.module_utils.credentials import task_environ
from ansible_collections.slipway.cloud.plugins.module_utils.masking import Masker, redact_keys, seen_secrets
from ansible_collections.slipway.cloud.plugins.module_utils.model import SlipwayError

#: Options every catalog-reading module takes (documented by the slipway.cloud.catalog doc fragment).
CATALOG_ARGUMENT_SPEC = dict(
    catalog=dict(type="list", elements="path"),
)
#: the most of an unexpected error's own text its one-line message shows
UNEXPECTED_MSG_CHARS = 500

#: Options every module that calls clouds' APIs takes beside its ``cloud``/``clouds`` (documented by the
#: slipway.cloud.credentials doc fragment): values for the catalog's credential variables, never logged.
CREDENTIALS_ARGUMENT_SPEC = dict(
    credentials=dict(type="dict", no_log=True),
)


def load_task_catalog(params, environ=None):
    """The catalog a task asks for: its ``catalog`` option, else SLIPWAY_CATALOG, else the shipped catalog."""
    return load_catalog(list(params.get("catalog") or default_catalog_layers(environ)))


def error_result(error):
    """A SlipwayError as a failed result: its message, and its details (file, line, key, valid...) as fields."""
    result = dict(error.details)
    for reserved in ("msg", "failed", "changed", "exception", "invocation"):
        result.pop(reserved, None)
    result.update(failed=True, msg=error.msg)
    return result


def run_execute(execute, module, failure_type=()):
    """The result of ``execute(module)``, whichever way the module runs (AnsiballZ or in the action plugin):
    ``changed`` defaults to False, an engine error becomes one failed result with its details, anything
    else one clear line (the traceback under ``exception``, shown with -vvv). ``failure_type`` is the
    exception a module's own fail_json raises on the path that must not exit the process."""
    try:
        result = execute(module)
        result.setdefault("changed", False)
        return result
    except failure_type as failure:    # pylint: disable=catching-non-exception
        return failure.result
    except SlipwayError as error:
        return error_result(error)
    except Exception as error:  # pylint: disable=broad-except
        return unexpected_result(error, module)


def unexpected_result(error, module=None, environ=None):
    """The failed result of an exception the engine did not expect: one line, and the traceback under
    ``exception`` (shown with -vvv), both masked with every secret this process collected and the values of
    the catalog's credential variables, keys redacted. Call it while handling ``error``."""
    masker = Masker(seen_secrets())
    environ = environ if environ is not None else getattr(module, "environ", None) or os.environ
    masker.add(credential_values(getattr(module, "_catalog", None), environ))
    text = masker.text(redact_keys("%s: %s" % (type(error).__name__, error)))
    if len(text) > UNEXPECTED_MSG_CHARS:
        text = text[:UNEXPECTED_MSG_CHARS] + "... (%d characters)" % len(text)
    return {"failed": True, "msg": "unexpected error: %s" % text,
            "exception": masker.text(redact_keys(traceback.format_exc()))}


def credential_values(catalog, environ):
    """The values of the credential variables of ``catalog``'s clouds (and of every provider family this
    process loaded), from ``environ``: what an unexpected error must never show."""
    # Imported on the error path only (the providers' registry).
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # pylint: disable=import-outside-toplevel

    variables = set()
    for family in families.loaded():
        variables.update(variable for dummy, variable in getattr(family, "DEFAULT_CREDENTIALS", ()) or ())
    for cloud in (getattr(catalog, "clouds", None) or {}).values():
        variables.update(variable for dummy, variable in cloud.credentials)
    return [environ[variable] for variable in variables if environ.get(variable)]


class SlipwayModule(AnsibleModule):
    """AnsibleModule plus the catalog option and SlipwayError -> fail_json."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(CATALOG_ARGUMENT_SPEC)
        spec.update(argument_spec)
        super(SlipwayModule, self).__init__(argument_spec=spec, **kwargs)
        if not HAS_YAML:
            self.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
        self._catalog = None
        self._environ = None

    def load_catalog(self):
        """The Catalog of this run, loaded once."""
        if self._catalog is None:
            self._catalog = load_task_catalog(self.params)
        return self._catalog

    @property
    def environ(self):
        """The environment the clouds' credentials are read from: this process's, with the ``credentials``
        option over it (module_utils/credentials.py)."""
        if self._environ is None:
            self._environ = task_environ(os.environ, self.params, self.load_catalog)
        return self._environ

    def run(self, main):
        """exit_json(**main(self)); engine errors fail cleanly (fail_json exits the process itself)."""
        result = run_execute(main, self)
        if result.get("failed"):
            result.pop("failed")
            self.fail_json(**result)
        self.exit_json(**result)
