# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loopback OpenStack itself, through the tests' own openstacksdk: what the openstack provider
and its tests will rely on (auth, microversions, flavors, image filters, servers, errors, groups,
floating IPs, the fault proxy, the leftovers helper, and that nothing outlives a killed session)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import importlib.metadata
import ipaddress
import os
import signal
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import keystoneauth1.exceptions
import openstack
import pytest

from support.openstack_loopback import cloud as cloud_module
from support.openstack_loopback import fixtures, install, processes, seed

pytestmark = [pytest.mark.openstack,
              # openstacksdk 4.22 warns about itself: on every connection (a metrics back end nothing
              # here uses) and inside its own proxies; none of these is a call of ours
              pytest.mark.filterwarnings("ignore:Support for InfluxDB requires the influxdb library"),
              pytest.mark.filterwarnings("ignore:The 'service_type' parameter is unnecesary"),
              pytest.mark.filterwarnings("ignore:The _compute_attributes method is deprecated")]

SERVER_WAIT = 300
# ten builds at once exercise sqlite's locking as well as twenty (two were enough to fail without
# it); that twenty fit the host is checked from its inventory, in a fraction of the time
FLEET = 10
FLEET_THE_HOST_MUST_TAKE = 20


@pytest.fixture
def conn(openstack_cloud):
    """The member user of project slipway, on the public endpoints (through the fault proxy)."""
    connection = openstack_cloud.connect("password")
    yield connection
    connection.close()


def _server(conn, seeded, name, flavor="Basic", **extra):
    return conn.compute.create_server(name=name, image_id=seeded.newest_debian_id, flavor_id=seeded.flavors[flavor],
                                      networks=[{"uuid": seeded.network_id}], **extra)


def _delete_servers(conn, servers):
    for server in servers:
        conn.compute.delete_server(server, ignore_missing=True)
    for server in servers:
        conn.compute.wait_for_delete(server, wait=SERVER_WAIT, interval=1)


# -- identity ------------------------------------------------------------------------------

def test_the_tests_venv_openstacksdk_is_the_pinned_one(openstack_cloud):
    assert openstack_cloud.sdk_version == importlib.metadata.version("openstacksdk")
    assert openstack_cloud.sdk_version.startswith("4.22.")


def test_an_openstacksdk_outside_the_pinned_range_is_refused(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("PyYAML>=6\nopenstacksdk>=9,<10  # a range no release is in\n")
    with pytest.raises(RuntimeError, match=r"openstacksdk 4\.22\.\d+, .* asks for openstacksdk<10,>=9"):
        seed.require_openstacksdk(str(requirements))


def test_password_auth_from_the_os_variables(openstack_cloud, openstack_env, monkeypatch):
    for key in [key for key in os.environ if key.startswith("OS_")]:
        monkeypatch.delenv(key)
    for key, value in openstack_env.items():
        monkeypatch.setenv(key, value)
    connection = openstack.connect()
    assert connection.current_project_id == openstack_cloud.seeded.project_id
    assert connection.current_user_id == openstack_cloud.seeded.user_id
    assert urlsplit(openstack_env["OS_AUTH_URL"]).port == openstack_cloud.proxy.routes[("keystone", "public")]


def test_application_credential_auth_directly_and_through_clouds_yaml(openstack_cloud, monkeypatch):
    direct = openstack_cloud.connect("application_credential")
    assert direct.current_project_id == openstack_cloud.seeded.project_id
    assert direct.current_user_id == openstack_cloud.seeded.user_id
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", openstack_cloud.layout.clouds_yaml)
    by_name = openstack.connect(cloud=cloud_module.CLOUD_NAMES["application_credential"])
    assert by_name.current_project_id == openstack_cloud.seeded.project_id
    assert [server.id for server in by_name.compute.servers()] == [server.id for server in direct.compute.servers()]


def test_a_wrong_password_is_refused(openstack_cloud):
    auth = dict(openstack_cloud.auth("password"), password="not-the-password")
    with pytest.raises(openstack.exceptions.SDKException, match=r"HTTP 401"):
        seed.connect(auth=auth, auth_type="password").authorize()


def test_every_catalog_endpoint_is_a_fault_proxy_listener(openstack_cloud, conn):
    conn.authorize()
    proxy_ports = set(openstack_cloud.proxy.routes.values())
    service_ports = {service.port for service in openstack_cloud.services.values()}
    seen = {}
    for entry in conn.service_catalog:
        for endpoint in entry["endpoints"]:
            seen[(entry["type"], endpoint["interface"])] = urlsplit(endpoint["url"]).port
    assert {service_type for service_type, _interface in seen} == {"identity", "compute", "image", "network",
                                                                   "placement"}
    assert set(seen.values()) <= proxy_ports and not set(seen.values()) & service_ports
    for (service_type, interface), port in seen.items():
        lane = "public" if interface == "public" else "internal"
        assert port == openstack_cloud.proxy.routes[(openstack_cloud.catalog[service_type][0], lane)]


# -- compute -------------------------------------------------------------------------------

def test_compute_microversions_are_negotiated_past_2_37(conn):
    endpoint = conn.compute.get_endpoint_data()
    assert endpoint.max_microversion >= (2, 37)
    assert conn.compute.get("/servers/detail", microversion="2.37").status_code == 200
    beyond = "%d.%d" % (endpoint.max_microversion[0], endpoint.max_microversion[1] + 1)
    assert conn.compute.get("/servers/detail", microversion=beyond).status_code == 406


def test_flavors_carry_the_ultimum_table_and_one_too_big_for_the_host(openstack_cloud, conn):
    flavors = {flavor.name: (flavor.vcpus, flavor.ram, flavor.disk) for flavor in conn.compute.flavors()}
    for name, vcpus, ram_gb in seed.ULTIMUM_FLAVORS:
        assert flavors[name] == (vcpus, ram_gb * 1024, seed.FLAVOR_DISK_GB)
    admin = openstack_cloud.connect("admin", interface="internal")
    provider = next(iter(admin.placement.resource_providers()))
    inventory = admin.placement.get("/resource_providers/%s/inventories" % provider.id).json()["inventories"]
    assert inventory["VCPU"]["total"] == seed.FAKE_HOST["vcpus"]
    assert inventory["MEMORY_MB"]["total"] == seed.FAKE_HOST["memory_mb"]
    too_big = flavors[seed.TOO_BIG_FLAVOR[0]]
    assert too_big[0] > inventory["VCPU"]["total"] and too_big[1] > inventory["MEMORY_MB"]["total"]
    largest = max(vcpus for _name, vcpus, _ram in seed.ULTIMUM_FLAVORS)
    assert largest <= inventory["VCPU"]["total"]
    for name in ("Basic", "Standard", "Standard Plus"):
        vcpus, ram_mb, disk_gb = flavors[name]
        assert FLEET_THE_HOST_MUST_TAKE * vcpus <= inventory["VCPU"]["total"]
        assert FLEET_THE_HOST_MUST_TAKE * ram_mb <= inventory["MEMORY_MB"]["total"]
        assert FLEET_THE_HOST_MUST_TAKE * disk_gb <= inventory["DISK_GB"]["total"]


def test_images_filter_by_owner_and_visibility_and_the_series_has_dates(openstack_cloud, conn):
    seeded = openstack_cloud.seeded

    def names(**filters):
        return sorted(image.name for image in conn.image.images(**filters))

    assert names(owner=seeded.admin_project_id, visibility="public") == sorted(
        seed.DEBIAN_SERIES + (seed.UBUNTU_IMAGE,))
    assert names(owner=seeded.other_project_id) == [seed.OTHER_OWNER_IMAGE]
    assert names(visibility="private") == [seed.PRIVATE_IMAGE]
    debian = [image for image in conn.image.images(visibility="public") if image.name.startswith("Debian 12 bookworm")]
    newest_first = [image.name for image in sorted(debian, key=lambda image: image.created_at, reverse=True)]
    # by name and date alone the look-alike wins; the publisher's newest is what an owner filter finds
    assert newest_first[0] == seed.OTHER_OWNER_IMAGE
    publisher = [name for name in newest_first if name != seed.OTHER_OWNER_IMAGE]
    assert publisher == list(reversed(seed.DEBIAN_SERIES))
    dates = {image.name: image.created_at[:10].replace("-", "") for image in debian}
    assert all(dates[name] == name.rsplit(" ", 1)[1] for name in dates)


def test_a_server_with_a_network_goes_active_with_metadata_and_tags_and_leaves_no_port(
        openstack_cloud, conn, openstack_leftovers):
    seeded = openstack_cloud.seeded
    metadata = {"slipway:managed": "true", "slipway:image": "debian-12"}
    server = _server(conn, seeded, "harness-one", metadata=metadata, tags=["slipway-test"])
    try:
        server = conn.compute.wait_for_server(server, wait=SERVER_WAIT, interval=1)
        assert server.status == "ACTIVE"
        assert server.metadata == metadata
        assert [s.id for s in conn.compute.servers(tags="slipway-test")] == [server.id]
        address = server.addresses[seeded.network][0]["addr"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(seed.SUBNET[1])
        ports = list(conn.network.ports(device_id=server.id))
        assert [(port.status, [ip["ip_address"] for ip in port.fixed_ips]) for port in ports] == [("ACTIVE", [address])]
    finally:
        _delete_servers(conn, [server])
    assert list(conn.network.ports(device_id=server.id)) == []
    assert openstack_leftovers() == {}


def test_a_flavor_too_big_for_the_host_goes_to_error_with_the_fault_message(openstack_cloud, conn, openstack_leftovers):
    server = _server(conn, openstack_cloud.seeded, "harness-too-big", flavor=seed.TOO_BIG_FLAVOR[0])
    try:
        server = conn.compute.wait_for_server(server, status="ERROR", failures=["ACTIVE"], wait=SERVER_WAIT, interval=1)
        assert "No valid host was found" in server.fault["message"]
    finally:
        _delete_servers(conn, [server])
    assert openstack_leftovers() == {}


def test_a_fleet_of_small_servers_goes_active_at_once(openstack_cloud, conn, openstack_leftovers):
    """FLEET builds at once (one multi-create call): the quotas, the host and sqlite's locking take them."""
    started = time.monotonic()
    _server(conn, openstack_cloud.seeded, "harness-fleet", min_count=FLEET, max_count=FLEET)
    servers = list(conn.compute.servers(name="^harness-fleet"))
    try:
        assert len(servers) == FLEET
        servers = [conn.compute.wait_for_server(server, wait=SERVER_WAIT, interval=1) for server in servers]
        print("%d servers ACTIVE in %.1f s" % (FLEET, time.monotonic() - started))
        assert [server.status for server in servers] == ["ACTIVE"] * FLEET
        assert len({server.addresses[openstack_cloud.seeded.network][0]["addr"] for server in servers}) == FLEET
    finally:
        _delete_servers(conn, servers)
    assert openstack_leftovers() == {}


# -- network -------------------------------------------------------------------------------

def test_a_duplicate_security_group_rule_is_a_conflict(conn):
    group = conn.network.create_security_group(name="harness-duplicate", description="harness test")
    try:
        defaults = sorted((rule.direction, rule.ether_type)
                          for rule in conn.network.security_group_rules(security_group_id=group.id))
        assert defaults == [("egress", "IPv4"), ("egress", "IPv6")]
        rule = dict(security_group_id=group.id, direction="ingress", ether_type="IPv4", protocol="tcp",
                    port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0")
        conn.network.create_security_group_rule(**rule)
        with pytest.raises(openstack.exceptions.ConflictException) as conflict:
            conn.network.create_security_group_rule(**rule)
        assert conflict.value.status_code == 409
    finally:
        conn.network.delete_security_group(group)


def test_a_floating_ip_is_allocated_from_the_external_network_and_released(openstack_cloud, conn):
    seeded = openstack_cloud.seeded
    ip = conn.network.create_ip(floating_network_id=seeded.external_network_id)
    try:
        assert ipaddress.ip_address(ip.floating_ip_address) in ipaddress.ip_network(seed.EXTERNAL_SUBNET[1])
        assert [found.id for found in conn.network.ips()] == [ip.id]
    finally:
        conn.network.delete_ip(ip)
    assert list(conn.network.ips()) == []


def test_the_project_has_one_network_of_its_own_beside_the_external_one(openstack_cloud, conn):
    networks = {network.name: network for network in conn.network.networks()}
    assert sorted(networks) == sorted((seed.NETWORK, seed.EXTERNAL_NETWORK))
    assert networks[seed.EXTERNAL_NETWORK].is_router_external and not networks[seed.NETWORK].is_router_external
    assert networks[seed.NETWORK].project_id == openstack_cloud.seeded.project_id


# -- the fault proxy -----------------------------------------------------------------------

def _get(port, path):
    """One GET on a new connection: the status, or "dropped" when the connection closed unanswered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return "dropped"
    finally:
        connection.close()


def test_the_fault_proxy_injects_about_the_share_asked_and_nothing_when_off(openstack_cloud, openstack_faults):
    public = openstack_cloud.proxy.routes[("keystone", "public")]
    internal = openstack_cloud.proxy.routes[("keystone", "internal")]
    openstack_faults(rate=0.3, seed=11)
    answers = [_get(public, "/v3") for _attempt in range(300)]
    inside = [_get(internal, "/v3") for _attempt in range(50)]
    counters = openstack_faults.counters()
    failed = len([answer for answer in answers if answer != 200])
    assert 0.2 <= failed / len(answers) <= 0.4
    assert sum(counters["injected"].values()) == failed
    assert answers.count(503) == counters["injected"]["503"]
    assert answers.count("dropped") == counters["injected"]["drop-before"] + counters["injected"]["drop-after"]
    assert all(counters["injected"][kind] > 0 for kind in ("503", "drop-before", "drop-after"))
    assert set(inside) == {200}, "the internal lane (service to service) is not faulted unless asked"
    assert counters["requests"]["keystone/public"] == 300

    openstack_faults.off()
    assert {_get(public, "/v3") for _attempt in range(50)} == {200}
    assert sum(openstack_faults.counters()["injected"].values()) == failed


def test_a_drop_after_forwarding_loses_the_answer_of_a_call_that_acted(openstack_cloud, conn, openstack_faults):
    conn.authorize()                   # token and catalog first: they come through the same proxy
    openstack_faults(rate=1.0, kinds=("drop-after",), lanes=("public",))
    # what a client sees: keystoneauth's ConnectFailure, which openstacksdk does not wrap
    with pytest.raises(keystoneauth1.exceptions.ConnectFailure, match="Remote end closed connection"):
        conn.compute.create_keypair(name="harness-lost-answer", public_key=_PUBLIC_KEY)
    openstack_faults.off()
    try:
        assert conn.compute.find_keypair("harness-lost-answer", ignore_missing=False), "Nova made the key pair all the same"
        assert openstack_faults.counters()["injected"]["drop-after"] >= 1
    finally:
        conn.compute.delete_keypair("harness-lost-answer", ignore_missing=True)


_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBkTqhP5QzCrHkNV7o3RoO0G53cF0y0nHRQf4Ug6kP3y harness@test"


# -- the harness's own helpers -------------------------------------------------------------

def test_leftovers_lists_what_a_deployment_left_by_kind(openstack_cloud, conn, openstack_leftovers):
    keypair = conn.compute.create_keypair(name="harness-left-key", public_key=_PUBLIC_KEY)
    group = conn.network.create_security_group(name="harness-left-group")
    ip = conn.network.create_ip(floating_network_id=openstack_cloud.seeded.external_network_id)
    try:
        left = openstack_leftovers()
        assert sorted(left) == ["floating_ips", "keypairs", "security_groups"]
        assert left["keypairs"] == ["harness-left-key"]
        assert left["security_groups"] == ["harness-left-group (%s)" % group.id]
        assert left["floating_ips"][0].startswith(ip.floating_ip_address + " ")
    finally:
        conn.compute.delete_keypair(keypair)
        conn.network.delete_security_group(group)
        conn.network.delete_ip(ip)
    assert openstack_leftovers() == {}


_SESSION = """
import os, sys, time
sys.path.insert(0, %(tests)r)
from support.openstack_loopback import processes
service = processes.Service("sleeper", [sys.executable, "-c",
    "import sys; sys.path.insert(0, %(openstack)r); from service_side import lifeline; lifeline.watch();"
    " import time; time.sleep(300)"], processes.child_env(os.environ, {}), %(output)r, "http://127.0.0.1:1/",
    processes.listen_socket())
service.start()
print(service.process.pid, flush=True)
time.sleep(300)
"""


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_service_ends_when_its_session_is_killed(tmp_path):
    """SIGKILL runs no teardown: the lifeline in every service process must end it by itself."""
    tests = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = _SESSION % {"tests": tests, "openstack": os.path.join(tests, "support", "openstack"),
                         "output": str(tmp_path / "sleeper.out")}
    session = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, universal_newlines=True)
    try:
        child = int(session.stdout.readline())
        assert _running(child)
    finally:
        session.send_signal(signal.SIGKILL)
        session.wait(10)
        session.stdout.close()
    deadline = time.monotonic() + 15
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(child), "the service outlived its killed session"


def test_stale_cloud_directories_of_dead_sessions_are_removed():
    base = tempfile.mkdtemp(prefix="slipway-stale-test-")
    try:
        dead, alive, foreign = (os.path.join(base, cloud_module.ROOT_PREFIX + suffix) for suffix in ("dead", "alive", "x"))
        for path, owner in ((dead, "%d 1" % os.getpid()), (alive, "%d %d" % (
                os.getpid(), cloud_module.process_start_time(os.getpid())))):
            os.makedirs(path)
            with open(os.path.join(path, "owner"), "w") as handle:
                handle.write(owner)
        os.makedirs(foreign)              # no owner file: not ours to judge
        assert cloud_module.remove_stale_roots(base) == [dead]
        assert sorted(os.listdir(base)) == sorted(os.path.basename(p) for p in (alive, foreign))
    finally:
        subprocess.run(["rm", "-rf", base], check=True)


_IMMEDIATE_CHECK = """
import sqlite3, sys
from service_side import sqlite_locking
sqlite_locking.install()
from oslo_db.sqlalchemy import engines
engine = engines.create_engine("sqlite:///" + sys.argv[1])
with engine.connect() as connection:
    connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    connection.commit()
    other = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
    for attempt in range(2):
        with connection.begin():
            connection.exec_driver_sql("SELECT * FROM t").fetchall()     # a read only, yet the write lock is held
            try:
                other.execute("BEGIN IMMEDIATE")
                sys.exit("transaction %d did not begin IMMEDIATE" % attempt)
            except sqlite3.OperationalError as error:
                assert "locked" in str(error), error
print(other.execute("PRAGMA journal_mode").fetchone()[0])
"""


def test_the_services_sqlite_transactions_take_the_write_lock_up_front(openstack_cloud, tmp_path):
    """What lets a fleet build at once: oslo.db's engines, in the services' venv, BEGIN IMMEDIATE (and WAL)."""
    env = dict(os.environ, PYTHONPATH=openstack_cloud.layout.pylib)
    result = subprocess.run([openstack_cloud.venv.python, "-c", _IMMEDIATE_CHECK, str(tmp_path / "check.db")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
                            check=False)
    assert (result.returncode, result.stdout.strip().splitlines()[-1:]) == (0, ["wal"]), result.stdout


def test_a_service_that_cannot_start_fails_with_its_log_tail(tmp_path):
    output = str(tmp_path / "broken.out")
    service = processes.Service("broken", [sys.executable, "-c", "import sys; print('no such config'); sys.exit(3)"],
                                processes.child_env(os.environ, {}), output, "http://127.0.0.1:1/",
                                processes.listen_socket()).start()
    with pytest.raises(processes.StartError, match=r"(?s)broken: exited with status 3 while starting.*no such config"):
        service.wait_ready(30)


def test_a_machine_without_the_services_python_skips_with_the_reason_but_ci_fails(monkeypatch):
    monkeypatch.setenv("SLIPWAY_OPENSTACK_PYTHON", "python-not-on-this-machine")
    monkeypatch.delenv("CI", raising=False)
    reason = r"cannot be installed on this machine \(a reason outside slipway.cloud\): no python-not-on-this-machine"
    with pytest.raises(pytest.skip.Exception, match=reason):
        fixtures.services_venv()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI must run the loopback OpenStack tests"):
        fixtures.services_venv()


@pytest.mark.parametrize("output, error", [
    ("ERROR: Could not find a version that satisfies the requirement nova==99", install.InstallError),
    ("WARNING: Retrying after connection broken by 'NewConnectionError(...)'", install.ServicesUnavailable),
])
def test_a_failed_install_step_is_the_projects_fault_unless_the_index_is_unreachable(tmp_path, output, error):
    command = [sys.executable, "-c", "print(%r); raise SystemExit(1)" % output]
    with open(str(tmp_path / "install.log"), "w") as log:
        with pytest.raises(error, match=r"pip install failed \(exit 1; log: .*install.log\)"):
            install._run(log, command, "pip install")  # pylint: disable=protected-access
