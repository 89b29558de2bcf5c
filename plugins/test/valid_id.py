# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' check of ids: the engine's own (module_utils/names.py), so playbooks and modules agree."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: valid_id
author: slipway.cloud contributors
version_added: 0.1.0
short_description: Whether a value is a valid slipway.cloud id of a kind (machine name, deployment, cloud...)
description:
  - True when the value is a valid id of the given kind, as the modules of this collection check it, so that a
    playbook can refuse a bad id (for example an C(-e deployment=...) of an AWX survey) before it builds a
    path or a command line from it.
  - A list is valid when every item is. Anything that is not text is not valid.
  - Every rule is anchored at the very end of the text, so a value with a trailing newline is not valid.
positional: kind
options:
  _input:
    description: The value (or a list of values) to check.
    type: raw
    required: true
  kind:
    description:
      - The kind of id.
      - V(machine) is a machine name, letters, digits, V(-) and V(.), 1 to 63 characters, starting and ending
        with a letter or digit.
      - V(deployment), V(cloud) and V(image) are letters, digits, V(.), V(_) and V(-), 1 to 128 characters,
        starting with a letter or digit (so never a path such as V(shop/../victim)).
      - "V(security_group) is 1 to 255 letters, digits, spaces and the characters . _ - : / ( ) # , @ [ ] + = &
        ; { } ! $ *"
    type: str
    required: true
    choices: [machine, deployment, cloud, image, security_group]
"""

EXAMPLES = r"""
- name: Refuse a deployment id that is not one
  ansible.builtin.assert:
    that: deployment is slipway.cloud.valid_id('deployment')
    fail_msg: "deployment must be letters, digits, '.', '_' and '-', 1 to 128 characters"

- name: Every machine name of the request
  ansible.builtin.assert:
    that: names is slipway.cloud.valid_id('machine')
"""

RETURN = r"""
_value:
  description: Whether the value (every item of a list) is a valid id of that kind.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.slipway.cloud.plugins.module_utils.names import ID_KINDS, is_valid_id


def valid_id(value, kind):
    """True when ``value`` (or every item of a list ``value``) is a valid id of ``kind``."""
    if kind not in ID_KINDS:
        raise AnsibleFilterError("slipway.cloud.valid_id: unknown kind %r; valid kinds: %s"
                                 % (kind, ", ".join(sorted(ID_KINDS))))
    if isinstance(value, (list, tuple)):
        return all(is_valid_id(kind, item) for item in value)
    return is_valid_id(kind, value)


class TestModule(object):
    """The slipway.cloud tests."""

    def tests(self):
        return {"valid_id": valid_id}
