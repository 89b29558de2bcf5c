# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The clouds a task works on; shared by instance, security_group and instance_info."""

    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - One cloud of the catalog to work on, for example V(local-a) or V(aws-eu).
      - Mutually exclusive with O(clouds).
    type: str
  clouds:
    description:
      - Several clouds of the catalog, worked on in parallel and identically.
      - Each cloud succeeds or fails on its own; the result reports every cloud before the task fails.
      - Mutually exclusive with O(cloud).
    type: list
    elements: str
notes:
  - Cloud credentials are never options. The catalog names, per cloud, the environment variables that hold them;
    a missing variable is reported by its name, and no credential value ever appears in results, warnings,
    errors or verbose output.
  - "These modules call cloud APIs from the controller: run them with C(delegate_to: localhost)
    or against C(localhost)."
  - When the task runs on the controller through the C(local) connection, without C(become) or C(async),
    the action plugin runs the module's engine in its own process (same options, same validation, same
    result), which saves building and starting a module per task. The task's C(environment) is where
    credentials are read from. E(SLIPWAY_IN_PROCESS=0) on the controller runs the module as usual.
"""
