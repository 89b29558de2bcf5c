# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, findings 2 and 4: one check of ids, anchored with \\Z, used by the engine, the catalog and the playbooks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog import schema as catalog_schema, rules
from ansible_collections.slipway.cloud.plugins.module_utils import names
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.engine.deploy import DeployRequest
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, InputError, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.engine.planning import expand_names
from ansible_collections.slipway.cloud.plugins.test import valid_id as valid_id_plugin

valid_id = valid_id_plugin.valid_id

GOOD = {"machine": ["web-1", "a", "web.example", "x" * 63], "deployment": ["shop", "debian-12-1207232300", "a.b_c"],
        "cloud": ["local-a", "exoscale-ch-gva"], "image": ["debian-12", "ubuntu-24.04"],
        "security_group": ["default", "slipway_managed", "web servers (80)"]}
BAD = {"machine": ["web-1\n", "", "-web", "web-", "web 1", "x" * 64, "web_1", "\nweb"],
       "deployment": ["shop\n", "shop/../victim", "..", ".hidden", "", "a b", "x" * 129, "shop\r", "shop\x00"],
       "cloud": ["local-a\n", "..", "a/b", ""], "image": ["debian-12\n", "../etc", ""],
       "security_group": ["default\n", "", "x" * 256, "tab\there"]}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_valid_ids_pass(kind):
    """issue 18, finding 4: the ids every cloud and playbook uses pass, in the engine and the test plugin."""
    for value in GOOD[kind]:
        assert names.is_valid_id(kind, value), value
        assert valid_id(value, kind), value
        assert names.check_id(kind, value, "opt") == value


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_ids_fail_a_trailing_newline_included(kind):
    """issue 18, finding 4: the patterns ended in $, which also matches before a final newline ("web-1\\n" passed);
    now \\Z: a newline, a path such as shop/../victim, an empty or too long id all fail, everywhere."""
    for value in BAD[kind]:
        assert not names.is_valid_id(kind, value), repr(value)
        assert not valid_id(value, kind), repr(value)
        with pytest.raises(names.IdError):
            names.check_id(kind, value, "opt")


def test_every_id_pattern_ends_in_backslash_z():
    """issue 18, finding 4: no pattern of an id is anchored with $."""
    patterns = [names.NAME_RE.pattern, names.CATALOG_NAME_RE.pattern, names.GROUP_NAME_RE.pattern,
                catalog_schema.NAME_PATTERN, catalog_schema.ENV_VAR_PATTERN, rules._GROUP_NAME.pattern,
                catalog_schema.SCHEMA["$defs"]["cloud"]["properties"]["provider"]["pattern"]]
    for pattern in patterns:
        assert pattern.startswith("^") and pattern.endswith(r"\Z"), pattern
        assert re.search(pattern, "web-1\n") is None


def test_the_error_names_the_option_and_what_is_valid_and_shows_only_an_excerpt():
    """issue 18, finding 4: one clear error: the option, the kind, the rule, and a short masked excerpt of the value (a key only described)."""
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----" + "A" * 400
    with pytest.raises(InputError) as info:
        names.check_id("deployment", secret, "deployment")
    msg = info.value.msg
    assert msg.startswith("option deployment: deployment id <a private key, 435 characters> is not valid")
    assert "use letters, digits, '.', '_' and '-', 1 to 128 characters" in msg
    assert "A" * 20 not in msg and "A" * 20 not in str(info.value.details)
    assert isinstance(info.value, ProviderError)


def test_check_options_checks_lists_item_by_item_and_skips_unset_options():
    """issue 18, finding 4: the modules' check (check_options) names the bad item of a list option."""
    names.check_options({"name": None, "clouds": ["a", "b"], "deployment": "shop"}, names.TASK_ID_OPTIONS)
    with pytest.raises(names.IdError, match=r"^option clouds\[1\]: cloud name 'b\\n' is not valid"):
        names.check_options({"clouds": ["a", "b\n"]}, names.TASK_ID_OPTIONS)


def test_machine_names_from_every_option_refuse_a_trailing_newline():
    """issue 18, finding 4: names: ["web-1\\n"] (and name, and a name_pattern that makes one) is refused."""
    for kwargs in ({"names": ["web-1\n"]}, {"name": "web-1\n"}, {"count": 1, "name_pattern": "web-%d\n"}):
        with pytest.raises(names.MachineNameError, match="machine name 'web-1"):
            expand_names(**kwargs)
    assert names.check_machine_names(["web-1", "web-2"]) == ["web-1", "web-2"]


@pytest.mark.parametrize("options, option", [
    ({"deployment": "shop\n"}, "deployment"), ({"deployment": "shop/../victim"}, "deployment"),
    ({"image": "debian-12\n"}, "image"), ({"clouds": ["local-a\n"]}, r"clouds\[0\]"),
    ({"security_groups": ["web\n"]}, r"security_groups\[0\]"),
])
def test_the_engine_request_checks_its_ids_too(options, option):
    """issue 18, finding 4: DeployRequest (the engine behind the instance module) refuses bad ids itself."""
    request = dict({"clouds": ["local-a"], "image": "debian-12", "names": ["web"]}, **options)
    with pytest.raises(names.IdError, match="^option %s: " % option):
        DeployRequest(**request)


@pytest.fixture
def _private_parse_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))


@pytest.mark.parametrize("text, key", [
    ('clouds:\n  "c\\n": {provider: local, sizing: explicit}\n', "clouds"),
    ('images:\n  "debian-12\\n": {login_user: root}\n', "images"),
    ('security_groups:\n  "web\\n": {rules: []}\n', "security_groups"),
    ('images:\n  copy: {parent: "debian-12\\n"}\n', "images.copy.parent"),
    ('images:\n  copy: {security_groups: ["web\\n"]}\n', "images.copy.security_groups[0]"),
    ('clouds:\n  c: {provider: "local\\n", sizing: explicit}\n', "clouds.c.provider"),
    ('clouds:\n  c: {provider: local, sizing: explicit, credentials: {key: "MY_KEY\\n"}}\n', "clouds.c.credentials.key"),
    ("clouds:\n  %s: {provider: local, sizing: explicit}\n" % ("c" * 129), "clouds"),
])
def test_catalog_loader_refuses_names_ending_in_a_newline(tmp_path, _private_parse_cache, text, key):
    """issue 18, finding 4: the catalog's name, provider and variable-name patterns end in \\Z, so a cloud, image or
    group named "c\\n" (or a parent, a provider, a credential variable with a newline) is a clear error."""
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "bad.yml").write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog([str(layer)])
    assert info.value.details["file"] == str(layer / "bad.yml")
    assert info.value.details["key"].startswith(key), info.value.details


def test_test_plugin_is_the_engines_check_and_takes_lists():
    """issue 18, finding 2: slipway.cloud.valid_id, the playbooks' check, is names.is_valid_id; a list is valid
    when every item is; an unknown kind is an error, not False."""
    assert valid_id_plugin.TestModule().tests() == {"valid_id": valid_id}
    assert valid_id(["web-1", "web-2"], "machine") and valid_id([], "machine")
    assert not valid_id(["web-1", "web-2\n"], "machine")
    assert not valid_id(None, "deployment") and not valid_id(7, "deployment")
    with pytest.raises(Exception, match="unknown kind 'deploy'; valid kinds: cloud, deployment"):
        valid_id("shop", "deploy")
