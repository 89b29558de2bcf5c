# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller-side action base that hands modules the default catalog."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import (
    default_catalog_layers, expand_shipped, shipped_catalog_dir as engine_shipped,
)
from ansible_collections.slipway.cloud.plugins.plugin_utils import catalog_action

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_dir_is_the_collections_catalog():
    assert engine_shipped() == os.path.join(os.path.dirname(TESTS), "catalog")
    assert os.path.isfile(os.path.join(engine_shipped(), "images.yml"))


def test_controller_layers_prefer_the_environment():
    env = {"SLIPWAY_CATALOG": os.pathsep.join(["@shipped", "/mine", ""])}
    assert default_catalog_layers(env) == [engine_shipped(), "/mine"]
    assert default_catalog_layers({}) == [engine_shipped()]


def test_expand_shipped_only_replaces_the_word():
    assert expand_shipped(["@shipped", "shipped", "/x"]) == [engine_shipped(), "shipped", "/x"]


def test_finding_the_layers_imports_neither_yaml_nor_the_schema():
    """Every task's action plugin imports catalog_layers: it must stay as cheap as os."""
    code = ("import sys; sys.path.insert(0, %r); import conftest; "
            "from ansible_collections.slipway.cloud.plugins.module_utils.catalog import layers; "
            "layers.default_catalog_layers(); "
            "print(sorted(m for m in sys.modules if m == 'yaml' or m.startswith('yaml.') or '.catalog.' in m))"
            % TESTS)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["['ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers']"], loaded


class _Task:
    def __init__(self, args):
        self.args = args
        self.action = "slipway.cloud.image_info"
        self.resolved_action = "slipway.cloud.image_info"
        self.async_val = 0
        self.check_mode = False
        self.diff = False


def _run(args, monkeypatch, environ=None):
    """Run CatalogAction.run with ActionBase's own run and _execute_module replaced; return the module args."""
    seen = {}
    monkeypatch.setattr(catalog_action.ActionBase, "run", lambda self, tmp=None, task_vars=None: {})

    def execute(self, module_name=None, module_args=None, task_vars=None):
        seen.update(module=module_name, args=module_args)
        return {"changed": False}

    monkeypatch.setattr(catalog_action.CatalogAction, "_execute_module", execute)
    for key in ("SLIPWAY_CATALOG",):
        monkeypatch.delenv(key, raising=False)
    for key, value in (environ or {}).items():
        monkeypatch.setenv(key, value)
    action = object.__new__(catalog_action.CatalogAction)
    action._task = _Task(dict(args))
    assert action.run(task_vars={}) == {"changed": False}
    return seen


def test_run_fills_the_default_catalog(monkeypatch):
    seen = _run({"image": "debian-12"}, monkeypatch)
    assert seen == {"module": "slipway.cloud.image_info", "args": {"image": "debian-12", "catalog": [engine_shipped()]}}


def test_run_uses_the_controllers_environment(monkeypatch):
    seen = _run({"image": "debian-12"}, monkeypatch, {"SLIPWAY_CATALOG": "/a" + os.pathsep + "/b"})
    assert seen["args"]["catalog"] == ["/a", "/b"]


def test_run_keeps_an_explicit_catalog_but_expands_the_word(monkeypatch):
    seen = _run({"catalog": ["@shipped", "/team"]}, monkeypatch, {"SLIPWAY_CATALOG": "/ignored"})
    assert seen["args"]["catalog"] == [engine_shipped(), "/team"]
