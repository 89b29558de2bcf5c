# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provider families: the one place a family is registered.

Each family is its folder under providers/ and one loader here. A family loads only when a cloud of
it is used, so a broken or missing library never hides another family. AnsiballZ bundles the static
imports it finds, function bodies included: a module that may talk to clouds imports this file, and
every family travels with it.
"""

from __future__ import annotations

#: the family a cloud's ``provider`` falls back to: any other name is a libcloud driver
FALLBACK = "libcloud"


def _ec2():
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.ec2.provider import Ec2Provider  # pylint: disable=import-outside-toplevel

    return Ec2Provider


def _exoscale():
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.provider import ExoscaleProvider  # pylint: disable=import-outside-toplevel

    return ExoscaleProvider


def _libcloud():
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.libcloud.provider import LibcloudProvider  # pylint: disable=import-outside-toplevel

    return LibcloudProvider


def _local():
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.local.provider import LocalProvider  # pylint: disable=import-outside-toplevel

    return LocalProvider


def _openstack():
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.openstack.provider import OpenStackProvider  # pylint: disable=import-outside-toplevel

    return OpenStackProvider


#: family -> the loader of its provider class
FAMILIES = {"ec2": _ec2, "exoscale": _exoscale, "libcloud": _libcloud, "local": _local, "openstack": _openstack}
_LOADED = {}


def provider_class(family):
    """The provider class of ``family``; raises the family's ImportError when its code cannot load here."""
    name = family if family in FAMILIES else FALLBACK
    if name not in _LOADED:
        _LOADED[name] = FAMILIES[name]()
    return _LOADED[name]


def loaded():
    """The provider classes this process has loaded."""
    return list(_LOADED.values())
