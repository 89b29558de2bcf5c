# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Where cloud credentials come from; shared by every module that calls a cloud's API."""

    DOCUMENTATION = r"""
options:
  credentials:
    description:
      - "Values for the credential variables the catalog names, for those who cannot set them in the
        controller's environment, for example
        C({AWS_ACCESS_KEY_ID: AKIA..., AWS_SECRET_ACCESS_KEY: '{{ vault_aws_secret }}'})."
      - Each key is the name of an environment variable that a chosen cloud's C(credentials) in the catalog name
        (or its family's default ones, for example E(AWS_ACCESS_KEY_ID) and E(AWS_SECRET_ACCESS_KEY) on EC2,
        with E(AWS_SESSION_TOKEN)); its value is used instead of that variable's. A variable not given here, or
        given empty, is read from the environment.
      - A key no chosen cloud reads is an error that names it and the variables those clouds read.
      - The option is C(no_log). Its values are shown as V(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER), are masked in
        results, warnings and errors, and never appear in -vvv output, whichever way the module runs.
    type: dict
notes:
  - Cloud credentials are read from the environment variables the catalog names per cloud (never from the
    catalog itself), or from the O(credentials) option, which gives values for those variables. A missing variable
    is reported by its name, and no credential value appears in results, warnings or errors; an authentication
    failure names the variables it read (or the O(credentials) option), never a value.
  - "Secrets in a task's C(environment): when M(slipway.cloud.instance), M(slipway.cloud.instance_info) or
    M(slipway.cloud.security_group) run in the action plugin's process (the C(local) connection, no C(become),
    no C(async)), the environment is handed to the engine directly and never printed. When a module runs as an
    AnsiballZ module instead (a connection other than C(local), C(become), C(async), E(SLIPWAY_IN_PROCESS=0);
    M(slipway.cloud.image_info) and M(slipway.cloud.size_info) always do), Ansible prints the task's C(environment) at -vvv,
    as part of the command it runs (C(EXEC /bin/sh -c 'AWS_SECRET_ACCESS_KEY=...')): that is Ansible's behaviour
    for every module. For secrets, use the O(credentials) option (for example from Ansible Vault), or set the
    variables in the controller's environment (AWX and Automation Platform credentials inject them there), not
    C(environment)."
"""
