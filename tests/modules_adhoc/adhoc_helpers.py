# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and helpers of tests/modules_adhoc (conftest.py imports them; test files import them by this
name, which no other test directory's module shares, unlike ``conftest``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import string

import pytest

from support.collection import collection_root

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session", autouse=True)
def module_environment(tmp_path_factory):
    """The modules inherit this process's environment: no user's catalog, a parse cache of the session's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SLIPWAY_CATALOG", raising=False)
        patch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path_factory.mktemp("parse-cache")))
        yield


def _set_cli_flags(patch, check_mode, diff):
    """Make the next ad-hoc runs behave as ``ansible --check`` / ``--diff`` would, until ``patch`` is undone.

    pytest-ansible 26.10 has an --ansible-check option but never passes it on: each ad-hoc run parses a
    command line of connection, user, become and module path only. And that parse cannot carry more: it
    ends in GlobalCLIArgs, a singleton, so the first run's arguments hold for the whole process. A task's
    check_mode and diff default to context.CLIARGS['check'] / ['diff'], read when the task runs: this
    replaces CLIARGS with the same arguments plus these two right after each parse.
    """
    from ansible import context  # pylint: disable=import-outside-toplevel
    from ansible.utils.context_objects import CLIArgs  # pylint: disable=import-outside-toplevel

    parse = context._init_global_context  # pylint: disable=protected-access

    def init_global_context(cli_args):
        parse(cli_args)
        context.CLIARGS = CLIArgs(dict(context.CLIARGS, check=check_mode, diff=diff))

    patch.setattr(context, "CLIARGS", context.CLIARGS)     # the global one comes back afterwards
    patch.setattr(context, "_init_global_context", init_global_context)


@pytest.fixture
def slipway(ansible_module, monkeypatch):
    """slipway("image_info", image="debian-12") -> the result of slipway.cloud.image_info on localhost.

    check_mode=True / diff=True run it as ``ansible --check`` / ``--diff`` would.
    """

    def run(module, check_mode=False, diff=False, **options):
        with monkeypatch.context() as patch:
            if check_mode or diff:
                _set_cli_flags(patch, check_mode, diff)
            result = getattr(ansible_module, "slipway.cloud." + module)(**options)
        return dict(result["localhost"])

    return run


def shipped_catalog():
    """The catalog/ directory of the collection copy Ansible loads."""
    return os.path.join(collection_root(), "catalog")


# -- moto's EC2 API server, with the module tests' catalog layer on it ------------------------------------
MOTO_LAYER = os.path.join(TESTS, "integration", "modules", "catalog", "moto.yml")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIASLIPWAYADHOC0001", "AWS_SECRET_ACCESS_KEY": "slipway-adhoc-secret"}


@pytest.fixture(scope="session")
def moto():
    from support.moto_server import MotoServer  # pylint: disable=import-outside-toplevel

    # a process: the modules' workers are forked from this one, which should hold no server thread
    server = MotoServer(mode="process").start()
    yield server
    server.stop()


@pytest.fixture
def moto_catalog(moto, tmp_path, monkeypatch):
    """A fresh moto; the shipped catalog plus tests/integration/modules/catalog/moto.yml on it, given to
    the modules as SLIPWAY_CATALOG with fake credentials. Returns the layer's path."""
    moto.reset()
    with open(MOTO_LAYER, encoding="utf-8") as handle:
        (tmp_path / "moto.yml").write_text(string.Template(handle.read()).substitute(moto_url=moto.url))
    layer = str(tmp_path / "moto.yml")
    monkeypatch.setenv("SLIPWAY_CATALOG", os.pathsep.join([shipped_catalog(), layer]))
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return layer


def ec2_instances(moto, **tags):
    """{slipway:name: instance id} of the live instances on moto-a (us-east-1) with these tags, read with
    boto3: what is on the cloud, independent of slipway."""
    import boto3  # pylint: disable=import-outside-toplevel

    client = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url,
                          aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    filters = [{"Name": "tag:%s" % key, "Values": [value]} for key, value in tags.items()]
    filters.append({"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]})
    found = {}
    for page in client.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                names = [t["Value"] for t in instance.get("Tags", []) if t["Key"] == "slipway:name"]
                found[names[0] if names else instance["InstanceId"]] = instance["InstanceId"]
    return found
