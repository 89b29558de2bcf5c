# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provider families: the one place a family is registered.

Each family is its folder under providers/ and one static import here; AnsiballZ bundles only what a
module imports statically, so a module that may talk to clouds imports this file and every family
travels with it. A family whose library is missing fails only when a cloud of that family is used.
"""

from __future__ import annotations

#: the family a cloud's ``provider`` falls back to: any other name is a libcloud driver
FALLBACK = "libcloud"

FAMILIES = {}

try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.provider import Ec2Provider as _ec2
except ImportError as exc:
    _ec2 = exc
FAMILIES["ec2"] = _ec2

try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider as _exoscale
except ImportError as exc:
    _exoscale = exc
FAMILIES["exoscale"] = _exoscale

try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.libcloud.provider import LibcloudProvider as _libcloud
except ImportError as exc:
    _libcloud = exc
FAMILIES["libcloud"] = _libcloud

try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.local.provider import LocalProvider as _local
except ImportError as exc:
    _local = exc
FAMILIES["local"] = _local

try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack.provider import OpenStackProvider as _openstack
except ImportError as exc:
    _openstack = exc
FAMILIES["openstack"] = _openstack


def provider_class(family):
    """The provider class of ``family``; raises the family's ImportError when its code cannot load here."""
    found = FAMILIES.get(family, FAMILIES[FALLBACK])
    if isinstance(found, ImportError):
        raise found
    return found


def loaded():
    """The provider classes that loaded in this process."""
    return [found for found in FAMILIES.values() if not isinstance(found, ImportError)]
