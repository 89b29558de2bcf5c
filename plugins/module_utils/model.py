# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The values that flow through the engine: catalog -> placement -> provider -> machine.

Plain dataclasses, no Ansible imports, so the engine is testable with pytest alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MANAGED_TAG = "slipway:managed"
IMAGE_TAG = "slipway:image"
DEPLOYMENT_TAG = "slipway:deployment"
NAME_TAG = "slipway:name"
#: written by providers whose machines cannot tell their login user or their create call otherwise
LOGIN_USER_TAG = "slipway:login_user"
REQUEST_TAG = "slipway:request"          # one value per create call: finds its machines after a lost answer


class SlipwayError(Exception):
    """A user-facing error: one clear message, plus where it came from.

    ``details`` is a JSON-able mapping (file, line, key, valid values...) that
    modules return beside ``msg`` so AWX and callers can act on it.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = {k: v for k, v in details.items() if v is not None}


class CatalogError(SlipwayError):
    """Bad catalog content or a request the catalog cannot satisfy."""


class ProviderError(SlipwayError):
    """A cloud refused or failed a request (after retries, where retrying made sense)."""


class InputError(SlipwayError):
    """A task option or value the engine refuses before touching any cloud."""


@dataclass(frozen=True)
class Flavor:
    name: str
    cpu: float
    ram_gb: float
    disk_gb: float | None = None
    price: float | None = None


@dataclass(frozen=True)
class Cloud:
    """One cloud of the catalog (a region of a provider family)."""

    name: str
    provider: str                      # local, ec2, openstack, exoscale, or a libcloud driver name
    region: str | None = None
    endpoint: str | None = None
    credentials: tuple = ()            # ((driver_argument, ENV_VAR_NAME), ...)
    security_groups: bool = True
    sizing: str = "table"              # "table" (flavors) or "explicit" (any cpu/ram)
    flavors: tuple = ()                # (Flavor, ...), in catalog order
    options: tuple = ()                # ((key, value), ...) provider-specific extras
    source: str | None = None          # "file:line" that defined it

    def flavor(self, name):
        for candidate in self.flavors:
            if candidate.name == name:
                return candidate
        return None

    def option(self, key, default=None):
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class Rule:
    """One normalised ingress rule; see rules.py for parsing and comparison."""

    proto: str                         # tcp, udp, icmp, any
    port_from: int | None              # None for any/icmp-all; icmp type for icmp
    port_to: int | None                # icmp code (or None) for icmp
    source: str                        # canonical CIDR, or "group:<name>"

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Placement:
    """Where and how one logical image becomes a machine on one cloud."""

    cloud: Cloud
    image: str
    image_id: str | None
    image_lookup: dict | None          # {"name": pattern, "owner": ...} when no fixed id
    login_user: str
    flavor: str | None                 # None only on explicit-sizing clouds
    cpu: float
    ram_gb: float
    security_groups: tuple = ()        # group names
    ports: tuple = ()                  # declared service ports of the image
    sources: tuple = ()                # ((value_name, "image@layer:file"), ...)

    def to_dict(self):
        return {
            "cloud": self.cloud.name,
            "provider": self.cloud.provider,
            "image": self.image,
            "image_id": self.image_id,
            "image_lookup": self.image_lookup,
            "login_user": self.login_user,
            "flavor": self.flavor,
            "cpu": self.cpu,
            "ram_gb": self.ram_gb,
            "security_groups": list(self.security_groups),
            "ports": list(self.ports),
            "sources": dict(self.sources),
        }


@dataclass
class Machine:
    """A machine as a provider reports it."""

    cloud: str
    name: str
    id: str
    state: str                         # pending, running, stopped, terminated, unknown
    image: str | None = None
    image_id: str | None = None
    flavor: str | None = None
    cpu: float | None = None
    ram_gb: float | None = None
    login_user: str | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    deployment: str | None = None
    tags: dict = field(default_factory=dict)
    host_keys: list = field(default_factory=list)     # "ssh-ed25519 AAAA..." lines
    timings: dict = field(default_factory=dict)       # requested_at, running_at, ssh_ready_at (epoch s)
    fault: str | None = None           # why the cloud says the machine failed (set while waiting)

    @property
    def address(self):
        return self.public_ip or self.private_ip

    @property
    def ssh_url(self):
        if not self.address:
            return None
        user = self.login_user + "@" if self.login_user else ""
        return "ssh://%s%s" % (user, self.address)

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["ssh_url"] = self.ssh_url
        if data["fault"] is None:
            del data["fault"]
        return data
