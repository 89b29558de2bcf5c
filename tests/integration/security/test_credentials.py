# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 18, finding 11: credentials never in -vvv output, on the in-process path and through AnsiballZ.

Real ``ansible-playbook -vvv`` runs of slipway.cloud.instance_info against moto on loopback (the module
tests' fixtures, tests/integration/modules/module_helpers.py), with the secret given through the no_log
``credentials`` option or through the task's ``environment:``; and a moto that checks every signature
(INITIAL_NO_AUTH_ACTION_COUNT) refusing a wrong secret.
"""

import os
import sys

import pytest

MODULES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "modules")
if MODULES not in sys.path:
    sys.path.insert(0, MODULES)

from module_helpers import (  # noqa: E402,F401  pylint: disable=unused-import
    FAKE_KEY_ID, Ansible, ansible_moto, moto, shipped_catalog, template_layer,
)

#: the secret of these runs: never in the controller's environment, so every sighting is a leak
SECRET = "SLIPWAYoptionSECRETneverINvvv0123456789xyz"
#: the controller's environment holds no AWS credentials at all: the task gives them
NO_AWS_ENV = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
              "AWS_SECURITY_TOKEN": None}
IN_PROCESS = {"SLIPWAY_IN_PROCESS": None}
ANSIBALLZ = {"SLIPWAY_IN_PROCESS": "0"}
ANSIBALLZ_MARK = "AnsiballZ_instance_info.py"


def listing_task(**extra):
    """instance_info on moto-a, the secret in a task variable (as a vault variable would be)."""
    task = {"name": "list", "vars": {"vault_secret": SECRET}, "ignore_errors": True,
            "slipway.cloud.instance_info": {"cloud": "moto-a"}}
    task.update(extra)
    return task


def with_option(**values):
    task = listing_task()
    task["slipway.cloud.instance_info"]["credentials"] = values
    return task


def output(run):
    return run.stdout + run.stderr


def assert_path(run, ansiballz):
    """The run took the path the test asks for (-vvv shows the AnsiballZ file when one is shipped)."""
    assert (ANSIBALLZ_MARK in output(run)) == ansiballz, run


@pytest.mark.parametrize("path", [IN_PROCESS, ANSIBALLZ], ids=["in-process", "ansiballz"])
def test_the_credentials_option_never_appears_at_vvv(ansible_moto, path):
    """issue 18, finding 11: credentials given through the no_log ``credentials`` option reach the cloud
    and appear nowhere in -vvv output (the invocation shows VALUE_SPECIFIED_IN_NO_LOG_PARAMETER), on both
    paths."""
    task = with_option(AWS_ACCESS_KEY_ID=FAKE_KEY_ID, AWS_SECRET_ACCESS_KEY="{{ vault_secret }}")
    run = ansible_moto.playbook([task], verbosity=3, env=dict(NO_AWS_ENV, **path))
    assert run.ok, run
    assert_path(run, path is ANSIBALLZ)
    assert SECRET not in output(run)
    invocation = run.result()["invocation"]["module_args"]
    assert invocation["credentials"]["AWS_SECRET_ACCESS_KEY"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_image_info_takes_the_credentials_option_too(ansible_moto):
    """issue 18, finding 11: image_info (always AnsiballZ) finds an image by lookup on EC2 with the
    credentials from the option, and -vvv shows none of them."""
    task = {"name": "lookup", "vars": {"vault_secret": SECRET}, "ignore_errors": True,
            "slipway.cloud.image_info": {"image": "trusty-lookup", "cloud": "moto-a", "resolve_lookups": True,
                                         "credentials": {"AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
                                                         "AWS_SECRET_ACCESS_KEY": "{{ vault_secret }}"}}}
    run = ansible_moto.playbook([task], verbosity=3, env=NO_AWS_ENV)
    assert run.ok, run
    assert run.result()["placements"][0]["image_id"].startswith("ami-")
    assert "AnsiballZ_image_info.py" in output(run)
    assert SECRET not in output(run)


@pytest.mark.parametrize("path", [IN_PROCESS, ANSIBALLZ], ids=["in-process", "ansiballz"])
def test_an_unknown_credential_name_is_one_error(ansible_moto, path):
    """issue 18, finding 11: a name the chosen cloud does not read is one error naming it and the valid
    ones, and not the value."""
    task = with_option(AWS_ACCESS_KEY_ID=FAKE_KEY_ID, AWS_SECRET_KEY="{{ vault_secret }}")
    run = ansible_moto.playbook([task], verbosity=3, env=dict(NO_AWS_ENV, **path))
    result = run.result()
    assert result.get("failed"), run
    assert result["msg"].startswith("option credentials: AWS_SECRET_KEY is not read by the chosen clouds (moto-a)")
    assert "AWS_SECRET_ACCESS_KEY" in result["msg"]
    assert SECRET not in output(run)


def test_task_environment_is_not_printed_in_process(ansible_moto):
    """issue 18, finding 11: with the task's ``environment:`` on the in-process path (local connection, no
    become, no async) the environment never reaches a command line, so -vvv does not show it."""
    task = listing_task(environment={"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": "{{ vault_secret }}"})
    run = ansible_moto.playbook([task], verbosity=3, env=dict(NO_AWS_ENV, **IN_PROCESS))
    assert run.ok, run
    assert_path(run, False)
    assert SECRET not in output(run)


def test_task_environment_through_ansiballz_is_printed_and_the_docs_say_so(ansible_moto):
    """issue 18, finding 11: through AnsiballZ, Ansible's connection puts the task's ``environment:`` on
    the command it runs and prints it at -vvv (Ansible's behaviour, not ours): the docs must say so and
    point to the credentials option."""
    task = listing_task(environment={"AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": "{{ vault_secret }}"})
    run = ansible_moto.playbook([task], verbosity=3, env=dict(NO_AWS_ENV, **ANSIBALLZ))
    assert run.ok, run
    assert_path(run, True)
    assert "AWS_SECRET_ACCESS_KEY=%s" % SECRET in output(run)
    from ansible_collections.slipway.cloud.plugins.doc_fragments.credentials import ModuleDocFragment

    notes = " ".join(ModuleDocFragment.DOCUMENTATION.split())
    assert "Ansible prints the task's C(environment) at -vvv" in notes
    assert "O(credentials)" in notes


# -- a moto that checks signatures: a wrong secret ------------------------------------------------------

@pytest.fixture(scope="module")
def signing_moto():
    """A second moto that verifies every SigV4 signature (the first two calls are free: an IAM user and its
    access key); yields (server, access key id)."""
    import boto3

    from support.moto_server import MotoServer

    server = MotoServer(mode="process", environ={"INITIAL_NO_AUTH_ACTION_COUNT": "2"}).start()
    try:
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=server.url,
                           aws_access_key_id="AKIAUNUSED0000000000", aws_secret_access_key="unused")
        iam.create_user(UserName="slipway-test")
        key = iam.create_access_key(UserName="slipway-test")["AccessKey"]["AccessKeyId"]
        yield server, key
    finally:
        server.stop()


@pytest.fixture
def ansible_signing(signing_moto, tmp_path):
    server, key = signing_moto
    layer = template_layer("moto.yml", str(tmp_path), moto_url=server.url)
    return Ansible(str(tmp_path), [shipped_catalog(), layer], {}), key


@pytest.mark.parametrize("how", ["environment", "option"])
def test_a_wrong_secret_names_the_credential_source_not_the_secret(ansible_signing, how):
    """issue 18, finding 11: EC2 refusing a wrong secret (AuthFailure, HTTP 401) is one error that names
    the operation and where the credentials were read from (the variables, or the credentials option),
    and never the secret, even at -vvv."""
    ansible, key = ansible_signing
    env = dict(NO_AWS_ENV, **IN_PROCESS)
    if how == "environment":
        env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=SECRET)
        task = listing_task()
        source = "Check the credentials in environment variable(s) AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"
    else:
        task = with_option(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY="{{ vault_secret }}")
        source = "Check the credentials in the task's credentials option (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    run = ansible.playbook([task], verbosity=3, env=env)
    result = run.result()
    assert result.get("failed"), run
    error = result["clouds"]["moto-a"]["error"]["msg"]
    # EC2 (and moto, as EC2) answers a signature made with the wrong secret with AuthFailure (HTTP 401).
    assert "AuthFailure" in error and "(HTTP 401)" in error, error
    assert "refused the request to list managed machines" in error, error
    assert source in error, error
    assert SECRET not in output(run)
