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
  - "These modules call cloud APIs from the controller: run them with C(delegate_to: localhost)
    or against C(localhost)."
  - Each cloud's provider family reads its own keys of the catalog's C(options) (the collection's
    C(docs/providers.md) describes every family); a misspelt key is one error naming the closest valid one.
    Every family reads C(ssh_probe) and C(survivor_rule); those that call an HTTP API also C(http_timeout),
    C(retry_attempts), C(retry_base_delay), C(retry_max_delay) and C(retry_deadline).
  - "OpenStack clouds (C(provider: openstack), openstacksdk 4.22): the credentials come from the clouds.yaml entry
    that C(options.cloud) or E(OS_CLOUD) names, else from the environment variables the catalog's C(credentials)
    name (by default the standard ones: E(OS_AUTH_URL), E(OS_USERNAME), E(OS_PASSWORD), E(OS_PROJECT_NAME), the
    domains, E(OS_APPLICATION_CREDENTIAL_ID) and E(OS_APPLICATION_CREDENTIAL_SECRET), E(OS_REGION_NAME)...).
    Its C(options): C(cloud) (a clouds.yaml entry), C(network) (name or id; default the project's only
    network), C(floating_ip_network) (an external network: each server gets a floating IP, released on
    destroy), C(interface) (V(public), V(internal) or V(admin) endpoints), C(availability_zone),
    C(parallel_requests) (concurrent per-server calls, default 8) and C(operation_timeout) (seconds a delete
    or a stop may take, default 300)."
  - When the task runs on the controller through the C(local) connection, without C(become) or C(async),
    the action plugin runs the module's engine in its own process (same options, same validation, same
    result), which saves building and starting a module per task. The task's C(environment), with
    O(credentials) over it, is where credentials are read from. E(SLIPWAY_IN_PROCESS=0) on the controller
    runs the module as usual.
"""
