# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad credentials, missing variables, unreachable endpoints, bad zones: one clear error each."""

import socket
import time

import pytest
from exo_helpers import KEY_VAR, SECRET_VAR, make_cloud, shipped_cloud

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider

WRONG_SECRET = "wrong-secret-value-Pz93"


def test_bad_secret_names_the_variables_and_hides_the_secret(exo, cloud):
    provider = get_provider(cloud, {KEY_VAR: "EXOslipwaytest0123456789", SECRET_VAR: WRONG_SECRET})
    with pytest.raises(ProviderError) as err:
        provider.list_machines()
    message = err.value.msg
    assert "HTTP 403" in message and "invalid request signature" in message
    assert KEY_VAR in message and SECRET_VAR in message
    assert WRONG_SECRET not in message and WRONG_SECRET not in repr(err.value.details)
    assert err.value.details["variables"] == [KEY_VAR, SECRET_VAR]
    assert exo.count("list-instances") == 0 and len(exo.auth_failures) == 1     # refused, and not retried


def test_unknown_key(exo, cloud):
    provider = get_provider(cloud, {KEY_VAR: "EXOnobody", SECRET_VAR: WRONG_SECRET})
    with pytest.raises(ProviderError, match="unknown API key.*%s" % KEY_VAR):
        provider.find_images({"name": "x"})


def test_missing_variable_is_named_before_any_call(exo, cloud):
    with pytest.raises(ProviderError) as err:
        get_provider(cloud, {KEY_VAR: "x"})
    assert SECRET_VAR in err.value.msg and err.value.details["variable"] == SECRET_VAR
    assert exo.log == []


def test_shipped_catalog_names_the_exoscale_variables():
    with pytest.raises(ProviderError, match="EXOSCALE_API_KEY"):
        ExoscaleProvider(shipped_cloud(), {})


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_unreachable_endpoint_fails_at_once_with_the_endpoint(env):
    url = "http://127.0.0.1:%d/v2" % _closed_port()
    provider = ExoscaleProvider(make_cloud(url), env)
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        provider.list_machines()
    assert time.monotonic() - started < 2
    assert "cannot reach the Exoscale API at %s" % url in err.value.msg
    assert "Connection refused" in err.value.msg and "list managed machines" in err.value.msg
    assert provider.retries == 0


def test_bad_zone_and_endpoint_are_refused(env):
    import dataclasses

    with pytest.raises(ProviderError, match="region 'Geneva' is not an Exoscale zone"):
        ExoscaleProvider(dataclasses.replace(make_cloud("http://127.0.0.1:1/v2"), region="Geneva", endpoint=None),
                         env)
    with pytest.raises(ProviderError, match="needs its zone as region"):
        ExoscaleProvider(dataclasses.replace(make_cloud("http://127.0.0.1:1/v2"), region=None, endpoint=None), env)
    with pytest.raises(ProviderError, match="is not a URL"):
        ExoscaleProvider(make_cloud("api.example/v2"), env)


def test_bad_ssh_key_is_refused_before_creating(exo, provider, cloud):
    from exo_helpers import make_placement

    with pytest.raises(ProviderError, match="not an OpenSSH public key"):
        provider.create_machines(make_placement(cloud), ["k-1"], "not a key", {})
    assert exo.count("create-instance") == 0


def test_a_misspelt_option_is_one_error_naming_the_closest(exo, cloud):
    import dataclasses

    misspelt = dataclasses.replace(cloud, options=cloud.options + (("paralel_requests", 2),))
    with pytest.raises(ProviderError) as err:
        get_provider(misspelt, {KEY_VAR: "EXOkey", SECRET_VAR: "secret"})
    assert err.value.msg.startswith("cloud exoscale-ch-gva: unknown option 'paralel_requests' for provider exoscale")
    assert err.value.msg.endswith("did you mean 'parallel_requests'?")
    assert exo.count("list-instances") == 0
