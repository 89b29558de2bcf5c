# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one small interface every cloud family implements.

Modules, the inventory plugin and the report speak only this interface; each
provider adapts one family (local, ec2, generic libcloud, ...). No Ansible imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError


class Provider:
    """Base class. Subclasses set ``family`` and implement the methods below.

    Every call is bounded in time; transient failures (throttling, 5xx) are
    retried inside the provider with backoff (see module_utils/retry.py), so a
    ProviderError reaching the caller is final.
    """

    family = None
    #: what the cloud can do: "security_groups", "stop_start", "host_keys", "image_lookup"
    capabilities = frozenset()

    def __init__(self, cloud, environ=None):
        self.cloud = cloud
        self.credentials = resolve_credentials(cloud, os.environ if environ is None else environ)

    # -- machines ---------------------------------------------------------
    def list_machines(self):
        """Every machine tagged slipway:managed on this cloud, in one listing call."""
        raise NotImplementedError

    def create_machines(self, placement, names, ssh_public_key, tags):
        """Create one machine per name (in one call where the API allows).

        ``tags`` already holds the slipway:* tags. Returns the Machine records
        (state may still be pending), with timings["requested_at"] set.
        """
        raise NotImplementedError

    def fleet_names(self, placement, names):
        """``names`` as a list, checked as every fleet create needs: unique, and a flavor to size them."""
        names = list(names)
        if len(set(names)) != len(names):
            raise ProviderError("cloud %s: machine names must be unique, got %s" % (self.cloud.name, names),
                                cloud=self.cloud.name)
        if names and not placement.flavor:
            raise ProviderError("cloud %s (provider %s) needs a flavor (instance type) for image %s"
                                % (self.cloud.name, self.family, placement.image), cloud=self.cloud.name)
        return names

    def check_wait(self, until):
        """One clear error for a wait this cloud cannot do: ``until`` must be running or ssh, and
        ssh needs a cloud whose addresses may be probed (``options.ssh_probe``)."""
        if until not in ("running", "ssh"):
            raise ProviderError("wait must be running or ssh, got %r" % (until,), option="wait")
        if until == "ssh" and not self.cloud.option("ssh_probe", True):
            raise ProviderError("cloud %s does not offer SSH to probe (options.ssh_probe is false); "
                                "wait for running instead" % self.cloud.name, cloud=self.cloud.name, option="wait")

    def destroy_machines(self, machines):
        raise NotImplementedError

    def start_machines(self, machines):
        raise NotImplementedError

    def stop_machines(self, machines):
        raise NotImplementedError

    def wait_machines(self, machines, until, timeout):
        """Wait, bounded by ``timeout`` seconds, until each machine is running
        (``until="running"``) or answers SSH (``until="ssh"``). Fills
        timings running_at / ssh_ready_at, addresses and host_keys. Raises
        ProviderError naming the machines that did not get there in time."""
        raise NotImplementedError

    # -- security groups --------------------------------------------------
    def list_security_groups(self):
        """{name: [Rule, ...]} for every group on the cloud."""
        raise NotImplementedError

    def ensure_security_group(self, name, description, rules, purge_rules=True, check_mode=False):
        """Make the group exist with ``rules`` (normalised Rules).

        Returns {"changed": bool, "before": [Rule]|None, "after": [Rule]}.
        """
        raise NotImplementedError

    def delete_security_group(self, name, check_mode=False):
        raise NotImplementedError

    # -- catalog helpers --------------------------------------------------
    def resolve_image_lookup(self, lookup):
        """Native image id for {"name": glob, "owner": ...}: the newest match wins."""
        raise ProviderError("cloud %s (%s) cannot look images up by name; give image_id in the catalog"
                            % (self.cloud.name, self.family), cloud=self.cloud.name)

    def close(self):
        """Release connections; safe to call twice."""


def resolve_credentials(cloud, environ):
    """Read each credential from the environment variable the catalog names.

    A missing variable is an error that names the variable, never a value.
    """
    values = {}
    for argument, variable in cloud.credentials:
        if not environ.get(variable):
            raise ProviderError(
                "cloud %s needs environment variable %s (for its %r credential); it is not set or empty"
                % (cloud.name, variable, argument),
                cloud=cloud.name, variable=variable)
        values[argument] = environ[variable]
    return values


def ssh_key_name(public_key):
    """(name, "type base64") for an OpenSSH public key: slipway-<sha256 of the key blob>."""
    parts = str(public_key or "").strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise ProviderError("ssh_public_key is not an OpenSSH public key line (\"ssh-ed25519 AAAA... comment\")",
                            option="ssh_public_key")
    try:
        blob = base64.b64decode(parts[1].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ProviderError("ssh_public_key: the key data after %s is not valid base64" % parts[0],
                            option="ssh_public_key")
    return "slipway-" + hashlib.sha256(blob).hexdigest()[:24], "%s %s" % (parts[0], parts[1])


_REGISTRY = {}


def register(family, factory):
    """Register a provider class (or factory) for a cloud's ``provider`` family."""
    _REGISTRY[family] = factory


def get_provider(cloud, environ=None):
    """The provider for ``cloud``; imported lazily so one broken family never hides another."""
    if cloud.provider not in _REGISTRY:
        _load_builtin(cloud.provider)
    factory = _REGISTRY.get(cloud.provider) or _REGISTRY.get("libcloud")
    if factory is None:
        raise ProviderError("no provider for family %r of cloud %s" % (cloud.provider, cloud.name),
                            cloud=cloud.name)
    return factory(cloud, environ)


def _load_builtin(family):
    # Each module registers itself on import.
    import importlib

    module = {"local": "local", "ec2": "ec2", "exoscale": "exoscale"}.get(family, "libcloud_generic")
    importlib.import_module("ansible_collections.slipway.cloud.plugins.module_utils.providers." + module)
