# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""issue 18, finding 11: the ``credentials`` option (values for the catalog's credential variables, no_log),
its merge with the environment, its unknown-key error, and auth errors that say where credentials came from."""

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.credentials import task_environ
from ansible_collections.slipway.cloud.plugins.module_utils.engine.fanout import secrets_of
from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.calls import Caller
from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.query import Ec2ApiError

SECRET = "SLIPWAYoptionSECRETneverSHOWN0123456789"
LAYER = """\
clouds:
  aws-x:
    provider: ec2
    region: eu-west-1
    endpoint: http://127.0.0.1:9
    credentials: {key: AWS_ACCESS_KEY_ID, secret: AWS_SECRET_ACCESS_KEY}
    flavors: {t3.micro: {cpu: 2, ram_gb: 1}}
  exo-x:
    provider: exoscale
    region: ch-gva-2
    credentials: {key: MY_EXO_KEY, secret: MY_EXO_SECRET}
    flavors: {Tiny: {cpu: 1, ram_gb: 1}}
"""


@pytest.fixture
def catalog(tmp_path):
    layer = tmp_path / "clouds.yml"
    layer.write_text(LAYER)
    return load_catalog([str(layer)])


def test_option_values_win_and_the_environment_fills_the_rest(catalog):
    """issue 18, finding 11: a variable the option gives stands in for the environment's; one it does not
    give (or gives empty) falls back to the environment, as amazon.aws falls back from option to env."""
    base = {"AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": "from-env", "HOME": "/root"}
    params = {"cloud": "aws-x", "credentials": {"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": ""}}
    environ = task_environ(base, params, lambda: catalog)
    assert environ["AWS_SECRET_ACCESS_KEY"] == SECRET
    assert environ["AWS_ACCESS_KEY_ID"] == "AKIAFROMENV" and environ["HOME"] == "/root"
    assert "AWS_SESSION_TOKEN" not in environ
    assert environ.given == frozenset(["AWS_SECRET_ACCESS_KEY"])
    assert base["AWS_SECRET_ACCESS_KEY"] == "from-env"            # the process environment is not touched


def test_without_the_option_the_catalog_is_not_even_loaded():
    """issue 18, finding 11: no option, no check: the environment as it is."""
    def no_catalog():
        raise AssertionError("the catalog was loaded")

    environ = task_environ({"A": "1"}, {"cloud": "aws-x", "credentials": None}, no_catalog)
    assert dict(environ) == {"A": "1"} and environ.given == frozenset()


def test_unknown_names_are_one_error_naming_them_and_the_valid_ones(catalog):
    """issue 18, finding 11: a name no chosen cloud reads is one error naming it and the variables the
    chosen clouds read (EC2's standard key brings its session token), never a value."""
    params = {"clouds": ["aws-x", "exo-x"], "credentials": {"AWS_SECRET_KEY": SECRET, "MY_EXO_KEY": "k" * 20}}
    with pytest.raises(InputError) as err:
        task_environ({}, params, lambda: catalog)
    msg = err.value.msg
    assert msg.startswith("option credentials: AWS_SECRET_KEY is not read by the chosen clouds (aws-x, exo-x)")
    assert ("the variables they read: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
            "AWS_SECURITY_TOKEN, MY_EXO_KEY, MY_EXO_SECRET") in msg
    assert SECRET not in msg + repr(err.value.details)
    assert err.value.details["option"] == "credentials" and err.value.details["unknown"] == ["AWS_SECRET_KEY"]


def test_a_variable_of_a_cloud_not_chosen_is_unknown(catalog):
    """issue 18, finding 11: the check is against the chosen clouds, not the whole catalog."""
    with pytest.raises(InputError) as err:
        task_environ({}, {"cloud": "aws-x", "credentials": {"MY_EXO_SECRET": SECRET}}, lambda: catalog)
    assert "MY_EXO_SECRET is not read by the chosen clouds (aws-x)" in err.value.msg


def test_every_option_value_is_masked_once_the_provider_is_open(catalog):
    """issue 18, finding 11: the option's values join the engine's Masker, a session token too."""
    params = {"cloud": "aws-x", "credentials": {"AWS_ACCESS_KEY_ID": "AKIAOPTION", "AWS_SECRET_ACCESS_KEY": SECRET,
                                                "AWS_SESSION_TOKEN": "token-from-the-option"}}
    provider = get_provider(catalog.cloud("aws-x"), task_environ({}, params, lambda: catalog))
    assert set(secrets_of(provider)) >= {"AKIAOPTION", SECRET, "token-from-the-option"}


@pytest.mark.parametrize("given, source", [
    ({"AWS_ACCESS_KEY_ID": "AKIAOPTION", "AWS_SECRET_ACCESS_KEY": SECRET},
     "Check the credentials in the task's credentials option (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"),
    ({"AWS_SECRET_ACCESS_KEY": SECRET},
     "Check the credentials in the task's credentials option (AWS_SECRET_ACCESS_KEY) and environment "
     "variable(s) AWS_ACCESS_KEY_ID"),
    ({}, "Check the credentials in environment variable(s) AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
])
@pytest.mark.parametrize("status, code", [(401, "AuthFailure"), (403, "SignatureDoesNotMatch"),
                                          (403, "UnauthorizedOperation"), (400, "ExpiredToken")])
def test_an_ec2_auth_failure_names_where_the_credentials_came_from(catalog, given, source, status, code):
    """issue 18, finding 11: EC2's 401/403 names the operation and the variables (or the option) the
    credentials were read from, never the secret, even when the cloud echoes it."""
    base = {"AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": "secret-from-env"}
    environ = task_environ(base, {"cloud": "aws-x", "credentials": given}, lambda: catalog)
    provider = get_provider(catalog.cloud("aws-x"), environ)
    error = provider.caller.error("list machines", Ec2ApiError(status, code, "refused %s" % environ["AWS_SECRET_ACCESS_KEY"]))
    assert isinstance(error, ProviderError)
    assert "refused the request to list machines" in error.msg and code in error.msg
    assert source in error.msg
    assert environ["AWS_SECRET_ACCESS_KEY"] not in error.msg + repr(error.details)


def test_the_session_token_variable_is_named_when_it_was_used(catalog):
    """issue 18, finding 11: with AWS_SESSION_TOKEN set, a refused call names it too."""
    base = {"AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": "tok" * 8}
    provider = get_provider(catalog.cloud("aws-x"), task_environ(base, {"cloud": "aws-x"}, lambda: catalog))
    error = provider.caller.error("list machines", Ec2ApiError(400, "ExpiredToken", "The token has expired"))
    assert "environment variable(s) AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN" in error.msg


def test_the_shared_wording_is_the_callers_default():
    """issue 18, finding 11: families that pass only their variables get the same wording."""
    from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud

    caller = Caller(Cloud(name="c", provider="exoscale"), "the API", [SECRET], credential_variables=["K", "S"])
    error = caller.error("list machines", Ec2ApiError(401, None, "unauthorized"))
    assert "Check the credentials in environment variable(s) K, S" in error.msg


def test_exoscale_uses_the_same_wording(catalog):
    """issue 18, finding 11: one wording for every family: Exoscale's 401 names the option too."""
    params = {"cloud": "exo-x", "credentials": {"MY_EXO_KEY": "EXOkeyFROMoption", "MY_EXO_SECRET": SECRET}}
    provider = get_provider(catalog.cloud("exo-x"), task_environ({}, params, lambda: catalog))
    error = provider.caller.error("list machines", Ec2ApiError(401, None, "invalid signature"))
    assert "Check the credentials in the task's credentials option (MY_EXO_KEY, MY_EXO_SECRET)" in error.msg
    assert SECRET not in error.msg
