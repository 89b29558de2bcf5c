# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a fresh loopback cloud holds before the first test: identity, networks, flavors, images.

Everything goes through the tests' own openstacksdk (the one requirements.txt pins), so the set-up
itself checks that it talks to these services. Only the image dates are written straight into
Glance's database: Glance stamps ``created_at`` itself, and a series published on different days
is what "newest wins" must be tested against.

The data:

* projects ``slipway`` (the tests': user ``slipway-member`` with the member role, password auth,
  and an application credential) and ``slipway-other`` (owns a look-alike image);
* flavors: the seed's Ultimum table (Basic 1/1 ... Extra Large 32/32 cpu/GB) and ``Oversized``,
  bigger than the fake host (FAKE_HOST), so that a server of it goes to ERROR;
* networks: ``slipway-net`` with one subnet (the project's only network), the external network
  ``public`` for floating IPs and a router between them; their addresses are on 127.0.0.0/8, so
  that nothing sent to a fake server's address by mistake leaves this machine;
* images: the public ``Debian 12 bookworm`` series (three dates) and an Ubuntu image, owned by
  the admin project; a newer-looking Debian 12 owned by ``slipway-other``; a private image of
  ``slipway``.
"""

import datetime
import importlib.metadata
import os
import sqlite3
import time

REQUIREMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "requirements.txt")

REGION = "RegionOne"
DOMAIN = "Default"
SERVICE_PROJECT = "service"
SERVICE_USERS = ("nova", "placement", "glance", "neutron")
PROJECT = "slipway"
OTHER_PROJECT = "slipway-other"
USER = "slipway-member"
APP_CREDENTIAL = "slipway-tests"

#: the fake compute host: 20 servers of any normal flavor up to Standard Plus fit, and Extra Large
FAKE_HOST = {"vcpus": 128, "memory_mb": 256 * 1024, "disk_gb": 4096}
#: the seed's Ultimum table (name, vcpus, GB of RAM)
ULTIMUM_FLAVORS = (("Basic", 1, 1), ("Standard", 2, 2), ("Standard Plus", 4, 4), ("Large", 8, 8),
                   ("Large Plus", 16, 16), ("Extra Large", 32, 32))
TOO_BIG_FLAVOR = ("Oversized", 2 * FAKE_HOST["vcpus"], 2 * FAKE_HOST["memory_mb"] // 1024)
FLAVOR_DISK_GB = 10

NETWORK = "slipway-net"
SUBNET = ("slipway-subnet", "127.45.0.0/24")
EXTERNAL_NETWORK = "public"
EXTERNAL_SUBNET = ("public-subnet", "127.44.0.0/24")
EXTERNAL_PHYSNET = "public"
ROUTER = "slipway-router"

DEBIAN_SERIES = ("Debian 12 bookworm 20240115", "Debian 12 bookworm 20250610", "Debian 12 bookworm 20251104")
UBUNTU_IMAGE = "Ubuntu 24.04 noble 20251020"
OTHER_OWNER_IMAGE = "Debian 12 bookworm 20251201"       # newest of all, but not the publisher's
PRIVATE_IMAGE = "slipway golden debian 20250901"
IMAGE_BYTES = b"\0" * 65536

# what Neutron's data migration seeds, which a schema made from the models lacks: egress open in
# every group, and ingress from the members of the same default group
_DEFAULT_GROUP_RULES = tuple(
    rule for ether_type in ("IPv4", "IPv6") for rule in (
        {"direction": "egress", "ether_type": ether_type, "used_in_default_sg": True, "used_in_non_default_sg": True},
        {"direction": "ingress", "ether_type": ether_type, "remote_group_id": "PARENT",
         "used_in_default_sg": True, "used_in_non_default_sg": False}))


class Seeded:
    """Names and ids of what the cloud was seeded with (plain attributes, see seed_*)."""

    def __init__(self):
        self.admin_project_id = None
        self.project_id = None
        self.other_project_id = None
        self.user_id = None
        self.password = None
        self.application_credential_id = None
        self.application_credential_secret = None
        self.network = NETWORK
        self.network_id = None
        self.subnet_id = None
        self.external_network = EXTERNAL_NETWORK
        self.external_network_id = None
        self.router_id = None
        self.flavors = {}           # name -> id
        self.too_big_flavor = TOO_BIG_FLAVOR[0]
        self.images = {}            # name -> id
        self.debian_series = DEBIAN_SERIES
        self.other_owner_image = OTHER_OWNER_IMAGE
        self.private_image = PRIVATE_IMAGE

    @property
    def newest_debian_id(self):
        """The image a lookup of ``Debian 12 bookworm *`` owned by the publisher must find."""
        return self.images[DEBIAN_SERIES[-1]]


def require_openstacksdk(requirements=REQUIREMENTS):
    """The installed openstacksdk's version, if it is in requirements.txt's range; else RuntimeError."""
    from packaging.requirements import Requirement

    with open(requirements) as handle:
        wanted = [Requirement(line.split("#")[0].strip()) for line in handle if line.strip().startswith("openstacksdk")]
    try:
        installed = importlib.metadata.version("openstacksdk")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if not wanted or installed is None or installed not in wanted[0].specifier:
        raise RuntimeError("the tests' venv has openstacksdk %s, %s asks for %s: run make setup"
                           % (installed or "(none)", requirements, wanted[0] if wanted else "(no openstacksdk line)"))
    return installed


def connect(**auth):
    import openstack

    return openstack.connect(region_name=REGION, **auth)


def seed_identity(admin, catalog, service_password, user_password, seeded):
    """Service users, the catalog (``{type: (name, public_url, internal_url)}``), the test projects.

    The cloud is new: everything is created without looking first (keystone-manage bootstrap made
    the roles, the admin user and project, and the identity endpoints).
    """
    identity = admin.identity
    roles = {role.name: role for role in identity.roles()}
    service_project = identity.create_project(name=SERVICE_PROJECT, domain_id="default")
    for name in SERVICE_USERS:
        user = identity.create_user(name=name, password=service_password, domain_id="default",
                                    default_project_id=service_project.id)
        for role in ("admin", "service"):
            identity.assign_project_role_to_user(service_project, user, roles[role])
    for service_type, (name, public, internal) in sorted(catalog.items()):
        if service_type == "identity":
            continue
        service = identity.create_service(name=name, type=service_type)
        for interface, url in (("public", public), ("internal", internal), ("admin", internal)):
            identity.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=REGION)
    project = identity.create_project(name=PROJECT, domain_id="default")
    other = identity.create_project(name=OTHER_PROJECT, domain_id="default")
    user = identity.create_user(name=USER, password=user_password, domain_id="default", default_project_id=project.id)
    identity.assign_project_role_to_user(project, user, roles["member"])
    seeded.admin_project_id = admin.current_project_id
    seeded.project_id, seeded.other_project_id, seeded.user_id = project.id, other.id, user.id
    seeded.password = user_password


def seed_application_credential(member, seeded):
    # the role named, not "every role of the token": that list also holds the implied reader role
    credential = member.identity.create_application_credential(
        user=seeded.user_id, name=APP_CREDENTIAL, description="slipway.cloud tests", roles=[{"name": "member"}])
    seeded.application_credential_id, seeded.application_credential_secret = credential.id, credential.secret


def seed_networks(admin, member, seeded):
    """Default group rules first: a project's default group is made on its first network call."""
    for rule in _DEFAULT_GROUP_RULES:
        admin.network.create_default_security_group_rule(**rule)
    external = admin.network.create_network(name=EXTERNAL_NETWORK, is_router_external=True,
                                            provider_network_type="flat",
                                            provider_physical_network=EXTERNAL_PHYSNET)
    admin.network.create_subnet(network_id=external.id, name=EXTERNAL_SUBNET[0], ip_version=4,
                                cidr=EXTERNAL_SUBNET[1], is_dhcp_enabled=False)
    network = member.network.create_network(name=NETWORK)
    # Neutron takes loopback subnets only without DHCP (there is no DHCP agent here anyway)
    subnet = member.network.create_subnet(network_id=network.id, name=SUBNET[0], ip_version=4, cidr=SUBNET[1],
                                          is_dhcp_enabled=False)
    router = member.network.create_router(name=ROUTER, external_gateway_info={"network_id": external.id})
    member.network.add_interface_to_router(router, subnet=subnet.id)
    seeded.external_network_id, seeded.network_id = external.id, network.id
    seeded.subnet_id, seeded.router_id = subnet.id, router.id


def seed_flavors(admin, seeded):
    for name, vcpus, ram_gb in ULTIMUM_FLAVORS + (TOO_BIG_FLAVOR,):
        flavor = admin.compute.create_flavor(name=name, vcpus=vcpus, ram=ram_gb * 1024, disk=FLAVOR_DISK_GB)
        seeded.flavors[name] = flavor.id


def seed_images(admin, seeded, glance_db):
    """Upload the images, then date them: the series was published on the days its names say."""
    owners = [(name, seeded.admin_project_id, "public") for name in DEBIAN_SERIES + (UBUNTU_IMAGE,)]
    owners += [(OTHER_OWNER_IMAGE, seeded.other_project_id, "public"), (PRIVATE_IMAGE, seeded.project_id, "private")]
    for name, owner, visibility in owners:
        image = admin.image.post("/images", json={
            "name": name, "disk_format": "raw", "container_format": "bare", "visibility": visibility,
            "owner": owner, "os_distro": name.split()[0].lower()}).json()
        admin.image.put("/images/%s/file" % image["id"], data=IMAGE_BYTES,
                        headers={"Content-Type": "application/octet-stream"})
        seeded.images[name] = image["id"]
    with sqlite3.connect(glance_db, timeout=60) as db:
        for name, image_id in seeded.images.items():
            day = datetime.datetime.strptime(name.rsplit(" ", 1)[1], "%Y%m%d")
            stamp = day.strftime("%Y-%m-%d 06:00:00.000000")        # SQLAlchemy's sqlite DateTime text
            db.execute("UPDATE images SET created_at = ?, updated_at = ? WHERE id = ?", (stamp, stamp, image_id))
    _wait(lambda: all(admin.image.get_image(i).status == "active" for i in seeded.images.values()),
          60, "the seeded images never became active")


def wait_for_compute_host(admin, nova_api_db, timeout):
    """Until the fake host is a hypervisor with its inventory in placement and mapped to its cell."""
    def ready():
        if not list(admin.compute.hypervisors()):
            return False
        providers = list(admin.placement.resource_providers())
        if not providers or not admin.placement.get("/resource_providers/%s/inventories" % providers[0].id
                                                    ).json().get("inventories"):
            return False
        with sqlite3.connect(nova_api_db, timeout=60) as db:
            return bool(db.execute("SELECT host FROM host_mappings").fetchall())
    _wait(ready, timeout, "the fake compute host did not register (hypervisor, placement inventory, cell mapping)")


def _wait(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("%s within %.0f s" % (message, timeout))
        time.sleep(0.5)
