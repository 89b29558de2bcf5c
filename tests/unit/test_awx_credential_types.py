# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX credential types in awx/credential_types/: AWX's rules, and what they inject.

Each file is checked by the rules AWX applies when a type is created (tests/support/awx_rules.py), then
rendered the way AWX renders a credential (awx-plugins-interfaces' inject_credential; EC2 jobs use AWX's
own AWS type, whose injector awx-plugins-core carries). The variables they inject are compared with the
ones the shipped catalog's clouds name, computed from the catalog, so a cloud added there needs its type.
"""

import copy
import glob
import os
import sys

import pytest
import yaml

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from awx_plugins.credentials.injectors import aws as awx_aws_injector  # noqa: E402
from awx_plugins.credentials.injectors import openstack as awx_openstack_injector  # noqa: E402
from awx_plugins.interfaces._temporary_private_credential_api import Credential  # noqa: E402
from support import awx_rules  # noqa: E402

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog  # noqa: E402
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import shipped_catalog_dir  # noqa: E402

ROOT = os.path.dirname(TESTS)
TYPES_DIR = os.path.join(ROOT, "awx", "credential_types")
#: the types a job template combines (one credential per type): ours, and AWX's built-in AWS type
JOB_TYPES = ("exoscale", "openstack", "catalog")
INVENTORY_TYPE = "inventory_source"
AWS_INPUTS = {"username": "AKIAEXAMPLE", "password": "aws-secret"}

SAMPLE_INPUTS = {
    "exoscale": {"api_key": "EXOkey", "api_secret": "exo-secret"},
    "openstack": {"auth_url": "https://keystone.example.net:5000/v3", "username": "ops", "password": 'p: "#x',
                  "project_name": "web", "user_domain_name": "Default", "project_domain_name": "Default",
                  "region_name": "RegionOne", "verify_ssl": True},
    "catalog": {"layer": "images:\n  awx-debian:\n    parent: debian-12\n    description: from AWX\n"},
    INVENTORY_TYPE: {"catalog_layer": "images:\n  awx-debian:\n    parent: debian-12\n",
                     "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "aws-secret",
                     "exoscale_api_key": "EXOkey", "exoscale_api_secret": "exo-secret",
                     "os_auth_url": "https://keystone.example.net:5000/v3", "os_username": "ops",
                     "os_password": 'p: "#x', "os_project_name": "web", "os_user_domain_name": "Default",
                     "os_project_domain_name": "Default", "os_verify_ssl": True},
}


@pytest.fixture(autouse=True)
def _private_parse_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))


def shipped_types():
    return {os.path.basename(path)[:-4]: awx_rules.load_type(path)
            for path in sorted(glob.glob(os.path.join(TYPES_DIR, "*.yml")))}


def catalog_variables():
    """Every environment variable a cloud of the shipped catalog names for its credentials."""
    catalog = load_catalog([shipped_catalog_dir()], cache=False)
    return {variable for cloud in catalog.clouds.values() for _argument, variable in cloud.credentials}


def injected(name, private_data_dir, inventory=False):
    definition = shipped_types()[name]
    return awx_rules.inject(definition, SAMPLE_INPUTS[name], str(private_data_dir), inventory=inventory)[0]


def awx_aws_variables(private_data_dir):
    env = {}
    awx_aws_injector(Credential(inputs=AWS_INPUTS), env, str(private_data_dir))
    return env


def test_the_shipped_types_are_the_ones_documented():
    assert sorted(shipped_types()) == sorted(JOB_TYPES + (INVENTORY_TYPE,))
    names = [definition["name"] for definition in shipped_types().values()]
    assert len(set(names)) == len(names)          # AWX needs unique names


@pytest.mark.parametrize("name", sorted(JOB_TYPES + (INVENTORY_TYPE,)))
def test_each_type_passes_awx_rules(name):
    assert awx_rules.problems(shipped_types()[name]) == []


def _mutated(change):
    definition = copy.deepcopy(shipped_types()["openstack"])
    change(definition)
    return definition


@pytest.mark.parametrize("change,expected", [
    (lambda d: d.update(kind="ssh"), "kind: must be 'cloud' or 'net'"),
    (lambda d: d["inputs"]["fields"].append({"id": "tower", "label": "x"}), '"tower" is a reserved field name'),
    (lambda d: d["inputs"]["fields"].append({"id": "username", "label": "again"}), "field IDs must be unique"),
    (lambda d: d["inputs"]["fields"].append({"id": "2fa", "label": "x"}), "invalid variable name"),
    (lambda d: d["inputs"]["fields"].append({"id": "flag", "label": "x", "type": "boolean", "secret": True}),
     "secret not allowed for boolean type"),
    (lambda d: d["inputs"]["fields"].append({"id": "flag", "label": "x", "type": "boolean", "default": "yes"}),
     "'yes' is not a boolean"),
    (lambda d: d["injectors"]["env"].update(ANSIBLE_HOST_KEY_CHECKING="False"), "may affect Ansible configuration"),
    (lambda d: d["injectors"]["env"].update(JOB_ID="1"), "JOB_ID is not allowed"),
    (lambda d: d["injectors"]["file"].update({"template.other": "x"}), "Must use multi-file syntax"),
    (lambda d: d["injectors"]["env"].update(OS_CLOUD="{{ cloud_name }}"), "uses an undefined field"),
    (lambda d: d["injectors"]["env"].update(OS_CLOUD="{{ tower }}"), "reserved `tower` namespace"),
    (lambda d: d["injectors"].update(extra_vars={"x": "{{ username"}), "syntax error"),
    (lambda d: d["injectors"].update(commands={}), "unknown key 'commands'"),
])
def test_the_validator_refuses_what_awx_refuses(change, expected):
    found = awx_rules.problems(_mutated(change))
    assert any(expected in message for message in found), found


def test_single_file_types_may_not_name_a_file():
    definition = _mutated(lambda d: d["injectors"].update(file={"template.clouds": "x"}))
    assert any("tower.filename" in message or "undefined" in message for message in awx_rules.problems(definition))


def _tags_under_injectors(path):
    """(tag, value) of every scalar under `injectors`, as the YAML file tags them."""
    with open(path) as handle:
        root = yaml.compose(handle)
    (injectors,) = [value for key, value in root.value if key.value == "injectors"]
    found = []
    stack = [injectors]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            stack += [value for _key, value in node.value]
        else:
            found.append((node.tag, node.value))
    return found


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(TYPES_DIR, "*.yml"))))
def test_every_injector_template_is_tagged_unsafe(path):
    # Loaded by playbooks/awx_configure.yml, an untagged template would be rendered by Ansible, not by AWX.
    tags = _tags_under_injectors(path)
    assert tags and all(tag == "!unsafe" for tag, _value in tags), tags


def test_job_types_inject_exactly_the_catalog_variables_and_none_twice(tmp_path):
    per_type = {name: injected(name, tmp_path / name) for name in JOB_TYPES}
    per_type["AWX's AWS"] = awx_aws_variables(tmp_path)
    # a job template holds one credential per type: no variable may come from two of them
    owners = {}
    for name, env in per_type.items():
        for variable in env:
            owners.setdefault(variable, []).append(name)
    assert {v: o for v, o in owners.items() if len(o) > 1} == {}
    file_variables = {v for name in JOB_TYPES for v in awx_rules.file_variables(shipped_types()[name])}
    assert file_variables == {"OS_CLIENT_CONFIG_FILE", "SLIPWAY_CATALOG"}
    values = set(owners) - file_variables
    wanted = catalog_variables()
    assert values == wanted, ("a catalog cloud names a variable no credential type injects, or a type injects one "
                              "no cloud reads: missing %s, extra %s" % (sorted(wanted - values), sorted(values - wanted)))


def test_inventory_source_type_injects_what_the_job_types_inject_together(tmp_path):
    together = set(awx_aws_variables(tmp_path))
    for name in JOB_TYPES:
        together |= set(injected(name, tmp_path / name))
    assert set(injected(INVENTORY_TYPE, tmp_path / "inventory", inventory=True)) == together


def _clouds_yaml(env, private_data_dir):
    with open(awx_rules.host_path(env["OS_CLIENT_CONFIG_FILE"], str(private_data_dir))) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("name,prefix", [("openstack", ""), (INVENTORY_TYPE, "os_")])
def test_clouds_yaml_is_the_one_awx_writes_with_the_same_values(tmp_path, name, prefix):
    env = injected(name, tmp_path / "ours", inventory=name == INVENTORY_TYPE)
    ours = _clouds_yaml(env, tmp_path / "ours")
    inputs = SAMPLE_INPUTS[name]
    auth = ours["clouds"]["devstack"]["auth"]
    assert (auth["auth_url"], auth["username"], auth["password"], auth["project_name"]) == \
        (env["OS_AUTH_URL"], env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])
    assert auth["password"] == inputs[prefix + "password"]       # quotes, colon and '#' survive the YAML

    # AWX's own OpenStack type (awx-plugins-core) for the same account: same cloud name and layout
    theirs_env = {}
    (tmp_path / "awx" / "env").mkdir(parents=True)
    awx_openstack_injector(Credential(inputs={"host": inputs[prefix + "auth_url"], "username": inputs[prefix + "username"],
                                              "password": inputs[prefix + "password"],
                                              "project": inputs[prefix + "project_name"],
                                              "project_domain_name": inputs[prefix + "project_domain_name"],
                                              "verify_ssl": True}),
                           theirs_env, str(tmp_path / "awx"))
    theirs = _clouds_yaml(theirs_env, tmp_path / "awx")
    assert set(ours["clouds"]) == set(theirs["clouds"]) == {"devstack"}
    assert set(theirs["clouds"]["devstack"]) <= set(ours["clouds"]["devstack"])
    assert set(theirs["clouds"]["devstack"]["auth"]) <= set(auth)
    assert {k: auth[k] for k in theirs["clouds"]["devstack"]["auth"]} == theirs["clouds"]["devstack"]["auth"]


def test_optional_openstack_fields_left_out_make_no_empty_keys(tmp_path):
    inputs = {k: v for k, v in SAMPLE_INPUTS["openstack"].items() if k not in ("region_name", "user_domain_name")}
    env = awx_rules.inject(shipped_types()["openstack"], inputs, str(tmp_path))[0]
    devstack = _clouds_yaml(env, tmp_path)["clouds"]["devstack"]
    assert "region_name" not in devstack and "user_domain_name" not in devstack["auth"]


@pytest.mark.parametrize("name,inventory", [("catalog", False), (INVENTORY_TYPE, True)])
def test_catalog_layer_is_read_on_top_of_the_shipped_catalog(tmp_path, name, inventory):
    env = injected(name, tmp_path, inventory=inventory)
    layers = awx_rules.host_path(env["SLIPWAY_CATALOG"], str(tmp_path)).split(os.pathsep)
    assert layers[0] == "@shipped" and layers[1].startswith(str(tmp_path))
    catalog = load_catalog(layers, cache=False)
    placement = catalog.resolve("awx-debian", "local-a")
    assert placement.image == "awx-debian" and placement.login_user == "root"    # inherited from debian-12


def test_an_empty_catalog_layer_of_the_inventory_type_still_loads(tmp_path):
    inputs = dict(SAMPLE_INPUTS[INVENTORY_TYPE], catalog_layer="")
    env = awx_rules.inject(shipped_types()[INVENTORY_TYPE], inputs, str(tmp_path), inventory=True)[0]
    layers = awx_rules.host_path(env["SLIPWAY_CATALOG"], str(tmp_path)).split(os.pathsep)
    assert "ec2" in load_catalog(layers, cache=False).clouds
