# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openstack family's reading of answers the loopback OpenStack cannot be made to give: throttling,
a refused connection, version discovery that found nothing, rules of protocols slipway does not manage,
provider networks with public addresses, servers in states the fake driver never reaches, and the
openstacksdk version check. Everything else is tested against the real services (tests/integration/openstack)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import http.client
import socket

import pytest
import requests
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Cloud, Flavor, ProviderError, Rule
from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack import sdk
from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack.provider import (
    OpenStackProvider,
    server_addresses,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack.groups import (
    neutron_canonical,
    rule_body,
    rule_from_api,
)
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.sizing import choose_flavor, flavor_drift


def http_error(status, message="boom", headers=None):
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response.url = "http://cloud.example/v2.1/servers"
    return sdk_exceptions.HttpException(message=message, response=response)


def dropped(cause):
    """keystoneauth's ConnectFailure as a request on a dropped or refused connection raises it."""
    try:
        try:
            raise requests.exceptions.ConnectionError(cause)
        except requests.exceptions.ConnectionError as inner:
            raise ks_exceptions.ConnectFailure("Unable to establish connection: %s" % inner)
    except ks_exceptions.ConnectFailure as exc:
        return exc


@pytest.mark.parametrize("error, retried", [
    (http_error(503), True),
    (http_error(429, headers={"Retry-After": "2"}), True),
    (http_error(500), True),
    (http_error(409, "Security group rule already exists"), False),
    (http_error(404), False),
    (http_error(400, "Invalid key_name provided"), False),
    (ks_exceptions.http.ServiceUnavailable(), True),
    (dropped(http.client.RemoteDisconnected("Remote end closed connection without response")), True),
    (dropped(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")), True),
    (dropped(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")), False),
    (dropped(socket.gaierror(-2, "Name or service not known")), False),
    (ks_exceptions.ConnectTimeout("timed out"), True),
    (ks_exceptions.DiscoveryFailure("Could not find versioned identity endpoints"), True),
    (sdk_exceptions.NotSupported("The image service for x:RegionOne exists but does not have any supported versions."),
     True),
    (sdk_exceptions.NotSupported("The compute service does not support this call"), False),
    (ValueError("not a cloud error"), False),
])
def test_what_is_worth_another_try(error, retried):
    assert sdk.is_retryable(error) is retried


def test_the_status_of_an_answer_and_tolerated_ones():
    assert sdk.status_of(http_error(409)) == 409
    assert sdk.status_of(ks_exceptions.http.Unauthorized()) == 401

    def conflict():
        raise http_error(409)

    def forbidden():
        raise http_error(403)

    assert sdk.tolerate(conflict, 409)() is None
    with pytest.raises(sdk_exceptions.HttpException):
        sdk.tolerate(forbidden, 404, 409)()


@pytest.mark.parametrize("installed", ["4.21.0", "4.23.0", "5.0.0", "3.9.1", "garbage"])
def test_an_openstacksdk_outside_the_tested_range_is_refused(installed):
    with pytest.raises(ProviderError) as refused:
        sdk.OPENSTACKSDK.check(installed)
    assert refused.value.msg == ("openstacksdk %s is installed, but slipway.cloud supports openstacksdk >=4.22,<4.23 "
                                 "(its resources and answers change between releases); install one with: pip install "
                                 "'openstacksdk>=4.22,<4.23'" % installed)
    assert sdk.OPENSTACKSDK.check("4.22.3") == (4, 22, 3)


def test_what_each_auth_type_needs():
    assert sdk._missing({"auth_url": "u", "username": "a", "password": "p", "project_name": "x"}, "password") == []
    assert [what for what, _args in sdk._missing({}, "password")] == ["Keystone", "password auth", "password auth",
                                                                      "a project"]
    assert sdk._missing({"auth_url": "u", "application_credential_id": "i", "application_credential_secret": "s"},
                        "v3applicationcredential") == []
    assert sdk._missing({"auth_url": "u", "application_credential_secret": "s"}, "v3applicationcredential") == [
        ("an application credential", ("application_credential_id", "application_credential_name"))]
    assert sdk._missing({"auth_url": "u"}, "v3token") == [("a token", ("token",))]


# -- Neutron rules -------------------------------------------------------------------------------------

NAMES = {"g1": "web"}


@pytest.mark.parametrize("api, expected", [
    ({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
      "remote_ip_prefix": "0.0.0.0/0"}, Rule("tcp", 22, 22, "0.0.0.0/0")),
    # no prefix: anywhere of the ethertype; no ports: all of them (Neutron has no port 0)
    ({"direction": "ingress", "ethertype": "IPv6", "protocol": "6"}, Rule("tcp", 1, 65535, "::/0")),
    ({"direction": "ingress", "ethertype": "IPv6", "protocol": "ipv6-icmp", "remote_ip_prefix": "2001:db8::/32"},
     Rule("icmp", None, None, "2001:db8::/32")),
    ({"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
     Rule("icmp", 8, 0, "0.0.0.0/0")),
    ({"direction": "ingress", "ethertype": "IPv4", "protocol": None, "remote_group_id": "g1"},
     Rule("any", None, None, "group:web")),
    ({"direction": "egress", "ethertype": "IPv4", "protocol": None}, None),              # the default egress rules
    ({"direction": "ingress", "ethertype": "IPv4", "protocol": "gre"}, None),            # a protocol slipway lacks
    ({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "remote_address_group_id": "ag"}, None),
    ({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "remote_group_id": "elsewhere"}, None),
])
def test_rules_as_neutron_stores_them(api, expected):
    assert rule_from_api(api, NAMES) == expected


def test_rules_written_for_neutron():
    class Group:
        id = "g1"

    assert rule_body("sg", Rule("icmp", None, None, "::/0"), {}) == {
        "security_group_id": "sg", "direction": "ingress", "ether_type": "IPv6", "remote_ip_prefix": "::/0",
        "protocol": "ipv6-icmp"}
    assert rule_body("sg", Rule("tcp", 5432, 5432, "group:web"), {"web": Group()}) == {
        "security_group_id": "sg", "direction": "ingress", "ether_type": "IPv4", "remote_group_id": "g1",
        "protocol": "tcp", "port_range_min": 5432, "port_range_max": 5432}
    assert rule_body("sg", Rule("any", None, None, "10.0.0.0/8"), {})["ether_type"] == "IPv4"
    assert "protocol" not in rule_body("sg", Rule("any", None, None, "10.0.0.0/8"), {})
    assert neutron_canonical(Rule("udp", 0, 65535, "0.0.0.0/0")) == Rule("udp", 1, 65535, "0.0.0.0/0")
    with pytest.raises(ProviderError, match="cannot open port 0"):
        neutron_canonical(Rule("tcp", 0, 0, "0.0.0.0/0"), "security group web")


# -- servers -------------------------------------------------------------------------------------------

def test_addresses_public_is_floating_else_a_routable_fixed_one():
    fixed = {"version": 4, "addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed"}
    floating = {"version": 4, "addr": "203.0.113.7", "OS-EXT-IPS:type": "floating"}
    v6 = {"version": 6, "addr": "2a01:4f8::1", "OS-EXT-IPS:type": "fixed"}
    assert server_addresses({"net": [fixed, floating]}) == ("203.0.113.7", "10.0.0.5")
    assert server_addresses({"net": [fixed]}) == (None, "10.0.0.5")
    # a provider network hands out public addresses directly (no floating IP)
    assert server_addresses({"ext-net": [v6, {"version": 4, "addr": "8.8.4.4", "OS-EXT-IPS:type": "fixed"}]}) == (
        "8.8.4.4", "8.8.4.4")
    assert server_addresses({}) == (None, None)


class Server:
    """The attributes of openstacksdk's Server that the provider reads."""

    def __init__(self, status, task_state=None, fault=None):
        self.id, self.name, self.status, self.task_state, self.fault = "s1", "web-1", status, task_state, fault
        self.metadata = {"slipway:managed": "true", "slipway:name": "web-1", "slipway:deployment": "d"}
        self.flavor = {"original_name": "Basic", "vcpus": 1, "ram": 1536}
        self.addresses, self.image, self.created_at = {}, {"id": "img"}, "2025-01-02T03:04:05Z"


@pytest.mark.parametrize("server, state, fault", [
    (Server("ACTIVE"), "running", None),
    (Server("ACTIVE", task_state="deleting"), "terminated", None),
    (Server("SHELVED_OFFLOADED"), "stopped", None),
    (Server("VERIFY_RESIZE"), "running", None),
    (Server("UNKNOWN"), "unknown", None),
    (Server("ERROR", fault={"message": "Build of instance aborted: disk full", "code": 500}), "unknown",
     "Nova reports ERROR: Build of instance aborted: disk full"),
    (Server("ERROR"), "unknown", "Nova reports ERROR: no fault message"),
])
def test_nova_states_and_faults(server, state, fault):
    provider = OpenStackProvider.__new__(OpenStackProvider)
    provider.cloud = Cloud(name="os", provider="openstack")
    machine = provider._machine(server)
    assert (machine.state, machine.fault) == (state, fault)
    assert (machine.name, machine.flavor, machine.cpu, machine.ram_gb, machine.image_id) == ("web-1", "Basic", 1, 1.5,
                                                                                             "img")
    assert machine.timings["launched_at"] == 1735787045.0


# -- sizing by the cloud's own flavors ---------------------------------------------------------------------

def test_a_cloud_sized_by_its_own_flavors_keeps_what_was_asked_until_they_are_read():
    cloud = Cloud(name="os", provider="openstack", sizing="cloud")
    asked = choose_flavor(cloud, cpu=2, ram_gb=3)
    assert (asked.flavor_name, asked.cpu, asked.ram_gb) == (None, 2, 3)
    named = choose_flavor(cloud, flavor="m1.large")
    assert (named.flavor_name, named.cpu, named.ram_gb) == ("m1.large", None, None)
    with pytest.raises(CatalogError, match="cpu must be greater than 0"):
        choose_flavor(cloud, cpu=0, ram_gb=1)


def test_drift_of_a_table_from_the_clouds_flavors():
    table = (Flavor("Tiny", 1, 1), Flavor("Large", 4, 8, disk_gb=50), Flavor("Gone", 2, 2))
    live = [Flavor("standard.tiny", 1, 1.0, disk_gb=10), Flavor("standard.large", 4, 8, disk_gb=40)]
    drift = flavor_drift(table, live, lambda name: "standard." + name.lower())
    assert [(d["flavor"], d["cloud_name"], d["problem"], d["differs"]) for d in drift] == [
        ("Large", "standard.large", "differs", ["disk_gb"]), ("Gone", "standard.gone", "missing", [])]
    assert flavor_drift(table[:1], live, lambda name: "standard." + name.lower()) == []
