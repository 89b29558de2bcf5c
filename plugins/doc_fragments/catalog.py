# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The catalog option shared by every module that reads the catalog.
    DOCUMENTATION = r"""
options:
  catalog:
    description:
      - The catalog layers, in order. Each is a directory of C(*.yml)/C(*.yaml) files (read in name order)
        or a single YAML file. Later layers may derive images from earlier ones (C(parent)) but may not
        redefine any cloud, image or security group name.
      - The layer V(@shipped) stands for the catalog shipped in the collection's C(catalog/) directory,
        so a playbook can put its own layer on top of it.
      - When not set, the layers come from the E(SLIPWAY_CATALOG) environment variable of the controller
        (paths separated by V(:)), else the catalog shipped in the collection's C(catalog/) directory.
      - The format is described in the collection's C(docs/catalog.md); C(docs/catalog.schema.json) is
        its JSON Schema.
    type: list
    elements: path
notes:
  - "This module reads the catalog on the host it runs on: run it on the controller
    (C(hosts: localhost) or C(delegate_to: localhost)). Its action plugin fills in the default
    catalog from the controller."
requirements:
  - PyYAML
"""
