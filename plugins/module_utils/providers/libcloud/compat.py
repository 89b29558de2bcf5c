# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What slipway.cloud needs of libcloud itself: the version check, and sizes with their vCPU count
(each driver hides it under its own key in ``NodeSize.extra``). Used by the generic libcloud family and
the local cloud's libcloud driver.

libcloud is imported lazily so that importing this file never fails (ansible-doc,
ansible-test's import test); a provider calls ``require_libcloud()`` when it starts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.slipway.cloud.plugins.module_utils.model import Flavor
from ansible_collections.slipway.cloud.plugins.module_utils.providers.versions import LibraryRange

#: the libcloud releases slipway.cloud is tested with (checked at provider start)
LIBCLOUD = LibraryRange("apache-libcloud", (3, 8), (3, 10), "(drivers change between releases)")

#: where each libcloud driver keeps a size's vCPU count in NodeSize.extra
VCPU_KEYS_BY_DRIVER = {
    "ec2": ("vcpu",),
    "openstack": ("vcpus",),
    "digitalocean": ("vcpus",),
    "linode": ("vcpus",),
    "ovh": ("vcpus",),
    "gce": ("guestCpus",),
    "azure_arm": ("numberOfCores",),
    "azure": ("cores",),
    "vultr": ("vcpu_count",),
    "cloudscale": ("vcpu_count",),
    "scaleway": ("cores",),
    "gridscale": ("cores",),
    "equinixmetal": ("cpus",),
    "gig_g8": ("vcpus",),
}
# Tried in order for drivers not listed above. "cpu" comes last: some drivers use it for MHz.
VCPU_KEYS_FALLBACK = ("vcpus", "vcpu", "vcpu_count", "guestCpus", "numberOfCores", "cores", "cpus", "cpu")


# -- version ---------------------------------------------------------------------

def check_version(installed):
    """Raise ProviderError unless ``installed`` is within the tested range."""
    return LIBCLOUD.check(installed)


def require_libcloud():
    """Import libcloud, check its version, return the module."""
    try:
        import libcloud
    except ImportError:
        raise LIBCLOUD.missing()
    check_version(getattr(libcloud, "__version__", "unknown"))
    return libcloud


# -- sizes -----------------------------------------------------------------------

def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*$", value)
        if match:
            number = float(match.group(1))
            return int(number) if number.is_integer() else number
    return None


def size_vcpus(size, driver_name=None):
    """The vCPU count hidden in ``size.extra`` (its key depends on the driver), or None."""
    extra = getattr(size, "extra", None) or {}
    keys = VCPU_KEYS_BY_DRIVER.get(driver_name or "", ()) + VCPU_KEYS_FALLBACK
    for key in keys:
        value = _number(extra.get(key))
        if value is not None and value > 0:
            return value
    return None


def size_to_flavor(size, driver_name=None):
    """A libcloud NodeSize as a model.Flavor (ram in GB; cpu None when the driver hides it)."""
    ram_mb = _number(getattr(size, "ram", None))
    disk = _number(getattr(size, "disk", None))
    price = _number(getattr(size, "price", None))
    return Flavor(
        name=str(getattr(size, "name", None) or size.id),
        cpu=size_vcpus(size, driver_name),
        ram_gb=round(ram_mb / 1024.0, 3) if ram_mb else None,
        disk_gb=disk or None,
        price=price,
    )
