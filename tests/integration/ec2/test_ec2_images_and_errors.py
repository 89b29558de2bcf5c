# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 image lookup (newest first) and the clear errors: credentials, endpoint, region, secrets."""

import socket
import time

import pytest
from ec2_helpers import KEY_VALUE, KEY_VAR, SECRET_VALUE, SECRET_VAR, make_cloud

from ansible_collections.slipway.cloud.plugins.module_utils.model import MANAGED_TAG, ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.provider import Ec2Provider


def create_image(provider, instance_id, name):
    root = provider._call("create image %s" % name, {"Action": "CreateImage", "InstanceId": instance_id, "Name": name})
    return root.findtext("imageId")


def test_lookup_takes_the_newest_match_not_the_last_name(provider, placement):
    [machine] = provider.create_machines(placement, ["builder"], None, {MANAGED_TAG: "true"})
    ids = {}
    # moto dates images to the second: space them so their creation dates differ
    for index, name in enumerate(["app-2024-b", "app-2024-c", "app-2024-a"]):
        if index:
            time.sleep(1.05)
        ids[name] = create_image(provider, machine.id, name)
    images = provider.find_images({"name": "app-2024-*", "owner": "self"})
    assert [i["name"] for i in images] == ["app-2024-a", "app-2024-c", "app-2024-b"]
    assert provider.resolve_image_lookup({"name": "app-2024-*", "owner": "self"}) == ids["app-2024-a"]
    assert provider.resolve_image_lookup({"name": "app-2024-[bc]", "owner": "self"}) == ids["app-2024-c"]


def test_lookup_used_when_placement_has_no_image_id(provider, placement, image_id):
    from dataclasses import replace

    lookup = {"name": "ubuntu/images/*", "owner": "amazon"}
    [machine] = provider.create_machines(replace(placement, image_id=None, image_lookup=lookup), ["l"], None, {})
    assert machine.image_id == image_id


def test_lookup_with_no_match(provider):
    with pytest.raises(ProviderError) as err:
        provider.resolve_image_lookup({"name": "no-such-image-*", "owner": "self"})
    assert err.value.msg == "cloud moto-east: no available image in us-east-1 matches name 'no-such-image-*' owned by self"


@pytest.mark.parametrize("lookup, message", [
    ({"owner": "self"}, "needs at least a name pattern"),
    ({"name": "x", "region": "eu-west-1"}, "unknown image lookup key(s) region; valid: name, owner, architecture"),
])
def test_bad_lookups(provider, lookup, message):
    with pytest.raises(ProviderError) as err:
        provider.resolve_image_lookup(lookup)
    assert message in err.value.msg


def test_no_image_at_all(provider, placement):
    from dataclasses import replace

    with pytest.raises(ProviderError, match="neither an image_id nor an image lookup"):
        provider.create_machines(replace(placement, image_id=None), ["x"], None, {})


# -- errors -------------------------------------------------------------------

def test_missing_credential_names_the_variable_not_a_value(moto):
    cloud = make_cloud(moto.url)
    with pytest.raises(ProviderError) as err:
        get_provider(cloud, {KEY_VAR: KEY_VALUE})
    assert SECRET_VAR in err.value.msg
    assert err.value.details["variable"] == SECRET_VAR
    assert KEY_VALUE not in err.value.msg and KEY_VALUE not in repr(err.value.details)


def test_default_credential_variables_when_the_catalog_names_none(moto):
    from dataclasses import replace

    cloud = replace(make_cloud(moto.url), credentials=())
    with pytest.raises(ProviderError, match="AWS_ACCESS_KEY_ID"):
        Ec2Provider(cloud, {})
    provider = Ec2Provider(cloud, {"AWS_ACCESS_KEY_ID": KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_VALUE})
    assert provider.list_machines() == []


@pytest.mark.parametrize("variable", ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"])
def test_the_standard_variables_take_an_optional_session_token(moto, env, variable):
    """AWX's AWS credential injects the STS token beside the keys; the catalog need not name it."""
    from dataclasses import replace

    cloud = replace(make_cloud(moto.url), credentials=(("key", "AWS_ACCESS_KEY_ID"),
                                                       ("secret", "AWS_SECRET_ACCESS_KEY")))
    environ = {"AWS_ACCESS_KEY_ID": KEY_VALUE, "AWS_SECRET_ACCESS_KEY": SECRET_VALUE, variable: "FQoGsts-token"}
    provider = Ec2Provider(cloud, environ)
    assert provider.client.token == "FQoGsts-token"
    assert provider.list_machines() == []          # moto accepts the signed request with its token
    assert "FQoGsts-token" in provider.caller.secrets
    # A catalog with its own variable names gets no token it did not name.
    assert Ec2Provider(make_cloud(moto.url), dict(environ, **env)).client.token is None


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_is_one_clear_error_without_retries(env):
    url = "http://127.0.0.1:%d" % _closed_port()
    provider = get_provider(make_cloud(url), env)
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        provider.list_machines()
    assert time.monotonic() - started < 5
    assert err.value.msg == ("cloud moto-east: cannot reach %s while trying to list managed machines "
                             "(Connection refused); check the cloud's endpoint/region and the network" % url)
    assert provider.caller.retries == 0


def test_unknown_region(env, moto):
    with pytest.raises(ProviderError) as err:
        get_provider(make_cloud(moto.url, region="mars-north-1"), env)
    assert err.value.msg == ("cloud moto-east: region 'mars-north-1' is not an EC2 region name like us-east-1, "
                             "eu-central-2 or us-gov-west-1")
    assert err.value.details["key"] == "region"


@pytest.mark.parametrize("region, endpoint", [
    ("eu-central-2", "https://ec2.eu-central-2.amazonaws.com"),       # newer than libcloud 3.9's region table
    ("il-central-1", "https://ec2.il-central-1.amazonaws.com"),
    ("us-gov-east-1", "https://ec2.us-gov-east-1.amazonaws.com"),
    ("cn-northwest-1", "https://ec2.cn-northwest-1.amazonaws.com.cn"),
])
def test_every_region_has_its_endpoint(env, region, endpoint):
    provider = get_provider(make_cloud(None, region=region), env)
    assert provider.client.endpoint == endpoint and provider.endpoint == "EC2 in %s" % region


def test_bad_endpoint(env):
    with pytest.raises(ProviderError, match="is not a URL like https://host"):
        get_provider(make_cloud("127.0.0.1:5000"), env)


def test_secrets_never_in_errors(provider, placement, moto):
    """Every error path seen here: no credential value in message or details."""
    errors = []
    moto.set_faults(1.0, kinds=["throttle"], seed=3)
    try:
        provider.list_machines()
    except ProviderError as exc:
        errors.append(exc)
    moto.set_faults(0.0)
    try:
        provider.ensure_security_group("app", "app", [{"ports": 1, "source": "missing-group"}])
    except ProviderError as exc:
        errors.append(exc)
    try:
        provider._call("revoke from a missing group", {"Action": "DeleteSecurityGroup", "GroupId": "sg-00000000"})
    except ProviderError as exc:
        errors.append(exc)
    assert len(errors) == 3
    assert "RequestLimitExceeded" in errors[0].msg and "gave up after 12 attempts" in errors[0].msg
    for exc in errors:
        text = exc.msg + repr(exc.details)
        assert SECRET_VALUE not in text and KEY_VALUE not in text


def test_redaction_of_a_secret_echoed_by_the_cloud(provider):
    exc = provider.caller.error("do something", Exception("AuthFailure: key %s secret %s" % (KEY_VALUE, SECRET_VALUE)))
    assert SECRET_VALUE not in exc.msg and KEY_VALUE not in exc.msg and "***" in exc.msg


@pytest.mark.parametrize("option, message", [
    (("ssh_prob", False), "unknown option 'ssh_prob' for provider ec2; valid options: availability_zone,"),
    (("ssh_probe", "no"), "option ssh_probe must be a bool, got 'no'"),
    (("retry_attempts", 2.5), "option retry_attempts must be a int, got 2.5"),
    (("retry_deadline", True), "option retry_deadline must be a int or float, got True"),
])
def test_bad_options(moto, env, option, message):
    with pytest.raises(ProviderError) as err:
        get_provider(make_cloud(moto.url, options=(option,)), env)
    assert message in err.value.msg
