# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openstacksdk for the openstack family: the version check, the connection, and what its answers mean.

* The connection comes from a clouds.yaml entry (``options.cloud``, else ``OS_CLOUD`` in the task's
  environment) or from the OS_* variables the catalog's ``credentials`` name (all of them optional:
  which are needed depends on the auth type). Keystone v3, password or application credential.
  openstacksdk reads neither ``os.environ`` nor any file it was not told to: the environment is the
  task's, which the in-process action plugin passes down.
* openstacksdk's own retries are off (``connect_retries``, ``*_status_code_retries``: 0), so that the one
  budget of ``calls.Caller`` (``options.retry_*``) applies to every call.
* openstacksdk is imported lazily (``require_openstacksdk``), so that importing this file never fails
  (ansible-doc, ansible-test's import test), and checked against the range its tests proved.

No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import warnings

from ansible_collections.slipway.cloud.plugins.module_utils.masking import mask
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.settings import credential_source
from ansible_collections.slipway.cloud.plugins.module_utils.providers.versions import LibraryRange
from ansible_collections.slipway.cloud.plugins.module_utils.providers.retry import (
    http_status,
    is_transient,
    is_unreachable,
    iter_causes,
)

#: the openstacksdk releases the tests against the loopback OpenStack proved (requirements.txt pins the same)
OPENSTACKSDK = LibraryRange("openstacksdk", (4, 22), (4, 23), "(its resources and answers change between releases)")

#: catalog credential arguments that go into openstacksdk's ``auth`` (each names an environment variable)
AUTH_ARGUMENTS = ("auth_url", "username", "user_id", "password", "project_name", "project_id",
                  "user_domain_name", "user_domain_id", "project_domain_name", "project_domain_id",
                  "domain_name", "domain_id", "application_credential_id", "application_credential_name",
                  "application_credential_secret", "token", "system_scope")
#: catalog credential arguments that are connection settings
SETTING_ARGUMENTS = ("auth_type", "region_name", "interface", "cacert")
SECRET_ARGUMENTS = ("password", "application_credential_secret", "token")
#: what a cloud that names no credentials reads: the variables openstack's own tools read
STANDARD_VARIABLES = tuple((argument, "OS_" + argument.upper()) for argument in AUTH_ARGUMENTS + SETTING_ARGUMENTS)
AUTH_TYPES = ("password", "v3password", "v3applicationcredential", "token", "v3token")
#: services whose calls go through the one retry budget (openstacksdk retries images 5 times by default)
_SERVICES = ("compute", "network", "image", "identity", "placement", "block_storage", "volume")
#: openstacksdk's warnings about itself, on every connection (none is about a call of ours)
_SDK_NOISE = ("Support for InfluxDB requires the influxdb library", "The 'service_type' parameter is unnecesary",
              "The _compute_attributes method is deprecated")


def require_openstacksdk():
    """Import openstacksdk, check its version, return the ``openstack`` package."""
    try:
        import openstack
        from openstack import version
    except ImportError:
        raise OPENSTACKSDK.missing()
    OPENSTACKSDK.check(getattr(version, "__version__", "unknown"))
    for text in _SDK_NOISE:
        warnings.filterwarnings("ignore", message=text)
    for name in ("openstack", "keystoneauth"):
        # Their warnings ("Failed to discover available identity versions", while a retry is still to come)
        # would reach stderr through logging's last resort; slipway reports what failed itself.
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
    return openstack


class Connected:
    """An openstacksdk Connection and where its credentials came from (for errors and masking)."""

    def __init__(self, connection, source, secrets, auth_url):
        self.connection = connection
        self.source = source          # "environment variables OS_AUTH_URL, ..." or "clouds.yaml entry x (file)"
        self.secrets = secrets        # every secret value, to mask
        self.auth_url = auth_url


def retry_settings(timeout):
    """openstacksdk settings: ``timeout`` seconds per call, and none of its own retries."""
    settings = {"api_timeout": timeout, "connect_retries": 0, "status_code_retries": 0}
    for service in _SERVICES:
        settings["%s_status_code_retries" % service] = 0
        settings["%s_connect_retries" % service] = 0
    return settings


def connect(cloud, environ, credentials, variables, timeout):
    """A Connected for catalog ``cloud``: its clouds.yaml entry, else the OS_* ``credentials`` (argument ->
    value, only those set; ``variables`` maps each argument to its environment variable)."""
    require_openstacksdk()
    from openstack import connection, exceptions
    from openstack.config import loader

    settings = retry_settings(timeout)
    if cloud.region:
        settings["region_name"] = cloud.region
    if cloud.option("interface"):
        settings["interface"] = cloud.option("interface")
    entry = cloud.option("cloud") or environ.get("OS_CLOUD")
    try:
        if entry:
            config, source = _from_clouds_yaml(cloud, environ, entry, settings, loader)
        else:
            config, names = _from_variables(cloud, credentials, variables, settings, loader)
            source = credential_source(names, environ) or "the catalog"
        auth = dict(config.config.get("auth") or {})
        secrets = [str(auth[key]) for key in SECRET_ARGUMENTS if auth.get(key)]
        return Connected(connection.Connection(config=config), source, secrets, auth.get("auth_url"))
    except (exceptions.SDKException, ValueError, KeyError) as exc:
        raise ProviderError(mask("cloud %s: openstacksdk refused the connection settings of %s: %s"
                                 % (cloud.name, entry and "clouds.yaml entry %s" % entry or "the catalog", exc),
                                 [credentials[key] for key in SECRET_ARGUMENTS if credentials.get(key)]),
                            cloud=cloud.name)


def _from_clouds_yaml(cloud, environ, entry, settings, loader):
    files = [environ["OS_CLIENT_CONFIG_FILE"]] if environ.get("OS_CLIENT_CONFIG_FILE") else []
    secure = [environ["OS_CLIENT_SECURE_FILE"]] if environ.get("OS_CLIENT_SECURE_FILE") else []
    config = loader.OpenStackConfig(config_files=files + list(loader.CONFIG_FILES),
                                    secure_files=secure + list(loader.SECURE_FILES), load_envvars=False)
    known = sorted(config.cloud_config.get("clouds") or {})
    where = "options.cloud" if cloud.option("cloud") else "OS_CLOUD"
    if entry not in known:
        raise ProviderError(
            "cloud %s: %s names the clouds.yaml entry %r, which %s; entries: %s. openstacksdk reads "
            "OS_CLIENT_CONFIG_FILE, else ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml"
            % (cloud.name, where, entry, "is not in %s" % config.config_filename if config.config_filename
               else "cannot be read: no clouds.yaml was found", ", ".join(known) or "none"),
            cloud=cloud.name, key="options.cloud", valid=known, file=config.config_filename)
    source = "the clouds.yaml entry %s (%s, from %s)" % (entry, config.config_filename, where)
    return config.get_one(cloud=entry, **settings), source


def _from_variables(cloud, credentials, variables, settings, loader):
    auth = {key: credentials[key] for key in AUTH_ARGUMENTS if credentials.get(key)}
    if cloud.endpoint and "auth_url" not in auth:
        auth["auth_url"] = str(cloud.endpoint)
    auth_type = credentials.get("auth_type") or (
        "v3applicationcredential" if auth.get("application_credential_secret") else "password")
    if auth_type not in AUTH_TYPES:
        raise ProviderError("cloud %s: auth type %r (from %s) is not one slipway.cloud uses; valid: %s"
                            % (cloud.name, auth_type, variables.get("auth_type"), ", ".join(AUTH_TYPES)),
                            cloud=cloud.name, key="credentials.auth_type", valid=list(AUTH_TYPES))
    missing = _missing(auth, auth_type)
    if missing:
        raise ProviderError(
            "cloud %s: no OpenStack credentials: %s. Set them (the catalog maps %s), or name a clouds.yaml "
            "entry in OS_CLOUD or options.cloud" % (
                cloud.name, "; ".join("%s needs %s" % (what, " or ".join(
                    variables.get(argument, argument) for argument in arguments)) for what, arguments in missing),
                ", ".join("%s to %s" % (argument, variables[argument]) for argument in sorted(variables)) or
                "nothing: credentials is empty"),
            cloud=cloud.name, key="credentials", missing=[list(arguments) for dummy, arguments in missing])
    if auth_type in ("password", "v3password"):
        # Keystone v3 needs the domains; nearly every cloud uses the default one, as the openstack CLI assumes.
        if not (auth.get("user_domain_name") or auth.get("user_domain_id") or auth.get("user_id")):
            auth["user_domain_name"] = "Default"
        if not (auth.get("project_domain_name") or auth.get("project_domain_id") or auth.get("project_id")):
            auth["project_domain_name"] = "Default"
    for key in ("region_name", "interface", "cacert"):
        if credentials.get(key) and key not in settings:
            settings[key] = credentials[key]
    config = loader.OpenStackConfig(load_yaml_config=False, load_envvars=False)
    names = sorted(variables[argument] for argument in variables if credentials.get(argument))
    return config.get_one(auth=auth, auth_type=auth_type, identity_api_version="3", **settings), names


def _missing(auth, auth_type):
    """[(what, (arguments, one of which is needed))] that ``auth`` lacks for ``auth_type``."""
    needs = [("Keystone", ("auth_url",))]
    if auth_type == "v3applicationcredential":
        needs += [("an application credential", ("application_credential_secret",)),
                  ("an application credential", ("application_credential_id", "application_credential_name"))]
    elif auth_type in ("token", "v3token"):
        needs += [("a token", ("token",))]
    else:
        needs += [("password auth", ("username", "user_id")), ("password auth", ("password",)),
                  ("a project", ("project_name", "project_id", "domain_name", "domain_id", "system_scope"))]
    return [(what, arguments) for what, arguments in needs if not any(auth.get(a) for a in arguments)]


# -- answers -----------------------------------------------------------------------------

def status_of(exc):
    """The HTTP status an openstacksdk or keystoneauth error carries, or None."""
    for cause in iter_causes(exc):
        status = http_status(cause)
        if status:
            return status
    return None


def is_retryable(exc):
    """Worth another try: what retry.is_transient says (5xx, 429, resets), keystoneauth's dropped or
    timed-out connections (``RetriableConnectionFailure``; a refused one is not retried), and a version
    discovery that failed on them (openstacksdk swallows the cause: a cloud that really offers no
    version fails the same, once the retry budget is spent)."""
    if is_transient(exc):
        return True
    if is_unreachable(exc):
        return False
    from keystoneauth1.exceptions.connection import RetriableConnectionFailure
    from keystoneauth1.exceptions.discovery import DiscoveryFailure

    for cause in iter_causes(exc):
        if isinstance(cause, (RetriableConnectionFailure, DiscoveryFailure)):
            return True
        # what openstacksdk says when a service's version discovery got a 503 or a dropped connection
        if "does not have any supported versions" in str(cause):
            return True
    return False


def tolerate(fn, *statuses):
    """``fn`` whose failure with one of ``statuses`` (a 404 on delete, a 409 for a rule that is there) is
    the wanted result: None is returned instead."""
    def run():
        try:
            return fn()
        except Exception as exc:  # pylint: disable=broad-except
            if status_of(exc) in statuses:
                return None
            raise
    return run


def fault_message(server):
    """Nova's fault message of a server in ERROR ("No valid host was found."), or a plain one."""
    fault = getattr(server, "fault", None) or {}
    message = str(fault.get("message") or "").strip() if isinstance(fault, dict) else ""
    return "Nova reports ERROR: %s" % (message or "no fault message")
