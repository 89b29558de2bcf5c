# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Modules run on localhost through pytest-ansible's ``ansible_module`` fixture, in this pytest process.

This directory is a pytest session of its own (the Makefile's ``modules-adhoc`` target)::

    cd tests/modules_adhoc && python -m pytest -p pytest_ansible.plugin --confcutdir=. .

``--confcutdir=.`` keeps tests/conftest.py out: its alias of the engine as
``ansible_collections.slipway.cloud`` would be met by Ansible's collection finder, which then refuses
every module_utils import ("collection metadata was not loaded for collection slipway.cloud"). Here
Ansible's finder is installed first, on the collection copy this directory belongs to, and whatever the
tests import of the engine (tests/support/local_cloud.py) comes through it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.collection import collections_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INVENTORY = os.path.join(HERE, "inventory.yml")


def _install_collection_finder():
    """Ansible's collection finder on this checkout's copy, before anything imports the engine."""
    if "ansible_collections.slipway.cloud" in sys.modules:
        return ("the engine was imported before Ansible's collection finder (tests/conftest.py's alias?): "
                "run this directory alone: cd tests/modules_adhoc && python -m pytest -p pytest_ansible.plugin "
                "--confcutdir=. .")
    from ansible.plugins.loader import init_plugin_loader  # pylint: disable=import-outside-toplevel

    init_plugin_loader([collections_path()])
    return None


#: Why this session cannot run, or None.
NOT_HERE = _install_collection_finder()
# pytest-ansible looks for molecule scenarios with git at start-up and warns that the copy has no .git;
# this session runs no scenario.
logging.getLogger("pytest_ansible.plugin").setLevel(logging.ERROR)


def pytest_configure(config):
    # pytest-ansible 26.10 marks its host manager (behind ansible_adhoc / ansible_module) deprecated, and
    # calls init_plugin_loader on every run, which warns once the finder is in place: neither is ours to fix.
    config.addinivalue_line("filterwarnings", "ignore:Host management is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:AnsibleCollectionFinder has already been configured")


def pytest_collection_modifyitems(config, items):
    reason = NOT_HERE
    if reason is None and config.pluginmanager.getplugin("ansible") is None:
        reason = "pytest-ansible is not loaded: run with -p pytest_ansible.plugin (the Makefile's modules-adhoc)"
    for item in items:
        if not str(item.path).startswith(HERE + os.sep):
            continue        # a session over more of tests/ (this hook sees all of its items)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        else:
            # what pytest-ansible's ansible_module fixture reads (over its command-line options)
            item.add_marker(pytest.mark.ansible(inventory=INVENTORY, host_pattern="localhost"))


# fixtures: after the finder (they import nothing of the engine themselves)
from adhoc_helpers import *  # noqa: E402,F401,F403  pylint: disable=wildcard-import,unused-wildcard-import,wrong-import-position
