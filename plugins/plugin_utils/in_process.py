# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a controller-side module's engine inside the action plugin, when the task runs on the controller.

instance, security_group and instance_info only call cloud APIs, from the controller. Shipping them
as an AnsiballZ zip to the same machine costs more than their work on an unchanged run (building the
zip, a new Python, importing the module runtime). When the task's connection is ``local`` and there is
no privilege escalation or async, the action plugin validates the options with the module's own
argument spec and calls the module's ``execute(module)`` in its worker process, with the task's
``environment:`` (and its ``credentials`` option over it) as the environment the cloud credentials are
read from: the environment is never put on a command line here, so -vvv never shows it, and the values
of ``no_log`` options are removed from the result as AnsibleModule removes them. Otherwise, or with
``SLIPWAY_IN_PROCESS=0`` on the controller, the module runs as any module does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os

IN_PROCESS_ENV = "SLIPWAY_IN_PROCESS"


class _Failed(Exception):
    def __init__(self, result):
        super(_Failed, self).__init__(result.get("msg"))
        self.result = result


class ControllerModule(object):
    """What a module's ``execute(module)`` uses of AnsibleModule, for a run inside the action plugin."""

    def __init__(self, params, check_mode, diff, environ):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self._base_environ = environ
        self._environ = None
        self.warnings = []
        self._catalog = None

    def load_catalog(self):
        from ansible_collections.slipway.cloud.plugins.module_utils.module_base import load_task_catalog

        if self._catalog is None:
            self._catalog = load_task_catalog(self.params, self._base_environ)
        return self._catalog

    @property
    def environ(self):
        """The task's environment with the ``credentials`` option over it (module_utils/credentials.py)."""
        from ansible_collections.slipway.cloud.plugins.module_utils.credentials import task_environ

        if self._environ is None:
            self._environ = task_environ(self._base_environ, self.params, self.load_catalog)
        return self._environ

    def warn(self, warning):
        self.warnings.append(warning)

    def fail_json(self, msg, **kwargs):
        result = dict(kwargs)
        result.update(failed=True, msg=msg)
        raise _Failed(result)


class InProcessEngine(object):
    """Mixin for an action plugin whose module is ``plugins/modules/<MODULE>.py`` with
    ``argument_spec()``, ``MODULE_RULES`` (mutually_exclusive, required_one_of...) and ``execute(module)``."""

    MODULE = None

    def _runs_here(self, kwargs):
        if os.environ.get(IN_PROCESS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
            return False
        if kwargs.get("wrap_async") or self._task.async_val:
            return False
        if getattr(self._play_context, "become", False):
            return False
        return getattr(self._connection, "transport", None) == "local"

    def _execute_module(self, module_name=None, module_args=None, task_vars=None, **kwargs):
        if not self._runs_here(kwargs):
            return super(InProcessEngine, self)._execute_module(
                module_name=module_name, module_args=module_args, task_vars=task_vars, **kwargs)
        environ = dict(os.environ)
        task_environment = {}
        self._compute_environment_string(task_environment)
        environ.update({str(k): str(v) for k, v in task_environment.items()})
        return run_module(self.MODULE, dict(module_args or {}), bool(self._task.check_mode), bool(self._task.diff),
                          environ)


def run_module(short_name, module_args, check_mode, diff, environ):
    """The result dict ``plugins/modules/<short_name>.py`` would return for ``module_args``; an unexpected
    error anywhere on the way is one failed result, masked as run_execute masks one."""
    try:
        return _run_module(short_name, module_args, check_mode, diff, environ)
    except Exception as error:  # pylint: disable=broad-except
        from ansible_collections.slipway.cloud.plugins.module_utils.module_base import unexpected_result

        return unexpected_result(error, environ=environ)


def _run_module(short_name, module_args, check_mode, diff, environ):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.common.parameters import remove_values
    from ansible.module_utils.errors import UnsupportedError

    from ansible_collections.slipway.cloud.plugins.module_utils.module_base import CATALOG_ARGUMENT_SPEC, run_execute

    module = importlib.import_module("ansible_collections.slipway.cloud.plugins.modules." + short_name)
    spec = dict(CATALOG_ARGUMENT_SPEC)
    spec.update(module.argument_spec())
    validated = ArgumentSpecValidator(spec, **module.MODULE_RULES).validate(module_args)
    invocation = {"module_args": validated.validated_parameters}
    if validated.error_messages:
        # The first error, worded as AnsibleModule words it, so both paths fail alike.
        msg = validated.errors.msg
        if isinstance(validated.errors[0], UnsupportedError):
            msg = "Unsupported parameters for (slipway.cloud.%s) module: %s" % (short_name, msg)
        return remove_values({"failed": True, "msg": msg, "invocation": invocation}, validated._no_log_values)
    shim = ControllerModule(validated.validated_parameters, check_mode, diff, environ)
    result = run_execute(module.execute, shim, failure_type=_Failed)
    if shim.warnings:
        result["warnings"] = list(result.get("warnings") or []) + shim.warnings
    result["invocation"] = invocation
    # As AnsibleModule does on exit: no value of a no_log option (the credentials) anywhere in the result.
    return remove_values(result, validated._no_log_values)
