# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One loopback OpenStack: started fresh in a temporary directory, seeded, stopped and removed.

    cloud = LoopbackCloud(ensure_venv()).start()     # about a minute
    cloud.connect()                                   # openstacksdk, as the tests' member user
    cloud.stop()                                      # processes ended, directory removed

The order of ``start()``: free ports (sockets bound here and handed to the services), the fault
proxy's listeners (every catalog endpoint points at one), configuration from templates/, each
service's database set-up (in parallel), Keystone and its bootstrap, the catalog and service
users, Placement/Glance/Neutron, then Nova, the seed (seed.py) and the wait for the fake compute
host. A cloud is never restarted in place: the fake driver names its compute node per process.
"""

import base64
import concurrent.futures
import os
import secrets
import shutil
import sqlite3
import tempfile
import time

from . import config, processes, seed
from .proxy import FaultProxy
from .schemas import SchemaCache

ROOT_PREFIX = "slipway-openstack-"
ADMIN_USER = "admin"

#: name, catalog type, path of the catalog URL, path that answers once the service is up
SERVICES = (("keystone", "identity", "/v3", "/v3"),
            ("placement", "placement", "", "/"),
            ("glance", "image", "", "/versions"),
            ("neutron", "network", "", "/"),
            ("nova", "compute", "/v2.1", "/"))
#: clouds.yaml entries written for every cloud
CLOUD_NAMES = {"password": "slipway-loopback", "application_credential": "slipway-loopback-appcred",
               "admin": "slipway-loopback-admin"}
#: each service's databases (files under data/, without .db)
DATABASES = {"keystone": ("keystone",), "placement": ("placement",), "glance": ("glance",), "neutron": ("neutron",),
             "nova": ("nova_api", "nova", "nova_cell0")}
STEP_TIMEOUT = 300
SERVICE_TIMEOUT = 180


def process_start_time(pid):
    """The kernel's start time of ``pid`` (clock ticks since boot), None when it is not running."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def remove_stale_roots(base=None):
    """Remove the directories of clouds whose test session is gone (killed before its teardown)."""
    base = base or tempfile.gettempdir()
    removed = []
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if not name.startswith(ROOT_PREFIX) or not os.path.isdir(path):
            continue
        try:
            with open(os.path.join(path, "owner")) as handle:
                pid, start = (int(part) for part in handle.read().split())
        except (OSError, ValueError):
            continue           # being created right now, or not ours
        if process_start_time(pid) != start:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def write_key_repository(path):
    """What ``keystone-manage fernet_setup`` / ``credential_setup`` write, without a process each:
    key 0 (staged) and key 1 (primary), each 32 random bytes in URL-safe base64, readable by us only."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    for index in (0, 1):
        descriptor = os.open(os.path.join(path, str(index)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)))


class LoopbackCloud:
    """A real OpenStack on 127.0.0.1 (see the module's docstring)."""

    def __init__(self, venv, report=None):
        self.venv = venv
        self.report = report or (lambda text: None)
        self.proxy = FaultProxy()
        self.seeded = seed.Seeded()
        self.layout = None
        self.services = {}
        self.catalog = {}           # type -> (name, public URL, internal URL)
        self.schemas = None
        # hex: a URL-safe token may start with '-', which keystone-manage's argument parser takes for an option
        self.admin_password = secrets.token_hex(18)
        self.service_password = secrets.token_hex(18)
        self.timings = {}
        self.sdk_version = None
        self._started = None

    # -- where clients go ---------------------------------------------------
    @property
    def auth_url(self):
        """Keystone's public endpoint (through the fault proxy), with /v3."""
        return self.proxy.url("keystone", "public") + "/v3"

    def auth(self, kind="password"):
        """The auth dict of openstack.connect(auth=...) for ``kind`` (password, application_credential, admin)."""
        if kind == "password":
            return {"auth_url": self.auth_url, "username": seed.USER, "password": self.seeded.password,
                    "project_name": seed.PROJECT, "user_domain_name": seed.DOMAIN, "project_domain_name": seed.DOMAIN}
        if kind == "application_credential":
            return {"auth_url": self.auth_url, "application_credential_id": self.seeded.application_credential_id,
                    "application_credential_secret": self.seeded.application_credential_secret}
        if kind == "admin":
            return {"auth_url": self.auth_url, "username": ADMIN_USER, "password": self.admin_password,
                    "project_name": "admin", "user_domain_name": seed.DOMAIN, "project_domain_name": seed.DOMAIN}
        raise ValueError("kind must be one of %s, got %r" % (", ".join(CLOUD_NAMES), kind))

    def auth_type(self, kind):
        return "v3applicationcredential" if kind == "application_credential" else "password"

    def env(self, kind="password"):
        """OS_* variables for ``kind``, as a shell or AWX's credential types would set them."""
        variables = {"OS_AUTH_TYPE": self.auth_type(kind), "OS_IDENTITY_API_VERSION": "3",
                     "OS_REGION_NAME": seed.REGION, "OS_INTERFACE": "public"}
        variables.update({"OS_" + key.upper(): value for key, value in self.auth(kind).items()})
        return variables

    def connect(self, kind="password", interface="public", **options):
        """An openstacksdk Connection; ``interface="internal"`` bypasses injected faults (the harness's own view)."""
        return seed.connect(auth=self.auth(kind), auth_type=self.auth_type(kind), interface=interface, **options)

    # -- lifecycle ------------------------------------------------------------
    def start(self):
        self._started = time.monotonic()
        try:
            self.sdk_version = seed.require_openstacksdk()
        except RuntimeError as error:
            raise processes.StartError(str(error)) from error
        remove_stale_roots()
        root = tempfile.mkdtemp(prefix=ROOT_PREFIX)
        with open(os.path.join(root, "owner"), "w") as handle:
            handle.write("%d %d\n" % (os.getpid(), process_start_time(os.getpid())))
        self.layout = config.Layout(root).make()
        self.venv.hold()
        self.schemas = SchemaCache(self.venv.path)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - self._started
        self.report("loopback OpenStack up in %.0f s (%s); steps: %s" % (
            self.timings["start"], root, ", ".join("%s %.0f s" % item for item in sorted(self.timings.items()))))
        return self

    def _start(self):
        env = self._prepare()
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            self._bring_up(pool, env)
        self._write_clouds_yaml()

    def _prepare(self):
        """Ports, proxy listeners, the catalog, configuration and the services' processes (not started)."""
        listeners = {name: processes.listen_socket() for name, *_rest in SERVICES}
        catalog = {}
        for name, service_type, path, _health in SERVICES:
            port = listeners[name].getsockname()[1]
            public = self.proxy.add(name, "public", port)
            internal = self.proxy.add(name, "internal", port)
            catalog[service_type] = (name, "http://127.0.0.1:%d%s" % (public, path),
                                     "http://127.0.0.1:%d%s" % (internal, path))
        self.catalog = catalog
        config.render(self.layout, self._template_values())
        config.write_pylib(self.layout)
        env = self._service_env()
        for name, _type, _path, health in SERVICES:
            port = listeners[name].getsockname()[1]
            self.services[name] = processes.Service(
                name, [self.venv.python, "-m", "service_side.launch", name], env,
                self.layout.log_file(name + ".out"), "http://127.0.0.1:%d%s" % (port, health), listeners[name],
                logs=(self.layout.log_file(name + ".log"),))
        return env

    def _bring_up(self, pool, env):
        """Databases in parallel; each service as soon as what it needs is there; the seed meanwhile."""
        databases = {name: pool.submit(self._timed, name + " database", self._database, name, env)
                     for name, *_rest in SERVICES}
        databases["keystone"].result()
        self._timed("keystone bootstrap", self._keystone_bootstrap, env)
        self.services["keystone"].start()
        self._wait_up("keystone")
        identity = pool.submit(self._timed, "identity", seed.seed_identity, self.connect("admin", interface="internal"),
                               self.catalog, self.service_password, secrets.token_hex(18), self.seeded)
        for name in ("placement", "glance", "neutron"):
            databases[name].result()
            self.services[name].start()
        for name in ("placement", "glance", "neutron"):
            self._wait_up(name)
        identity.result()
        databases["nova"].result()
        self.schemas.publish()
        self.services["nova"].start()
        seeding = [pool.submit(self._timed, "networks", self._as, ("admin", "password"), seed.seed_networks),
                   pool.submit(self._timed, "images", self._as, ("admin",), seed.seed_images,
                               os.path.join(self.layout.data, "glance.db")),
                   pool.submit(self._timed, "application credential", self._as, ("password",),
                               seed.seed_application_credential)]
        self._wait_up("nova")
        seeding.append(pool.submit(self._timed, "flavors", self._as, ("admin",), seed.seed_flavors))
        for future in seeding:
            future.result()
        nova_api_db = os.path.join(self.layout.data, "nova_api.db")
        self._timed("compute host", self._as, ("admin",),
                    lambda admin, _seeded: seed.wait_for_compute_host(admin, nova_api_db, SERVICE_TIMEOUT))

    def _as(self, kinds, function, *args):
        """function(*connections, self.seeded, *args), with a connection of its own per kind.

        Made now, not earlier: a token issued before the catalog was complete would lack it; and
        one per task, since the seed's tasks run in parallel threads.
        """
        connections = [self.connect(kind, interface="internal") for kind in kinds]
        try:
            return function(*connections, self.seeded, *args)
        finally:
            for connection in connections:
                connection.close()

    def _timed(self, what, function, *args):
        started = time.monotonic()
        try:
            return function(*args)
        except processes.StartError:
            raise
        except Exception as error:
            raise processes.StartError("loopback OpenStack: %s failed: %s: %s\n%s"
                                       % (what, type(error).__name__, error, self.log_tails())) from error
        finally:
            self.timings[what] = time.monotonic() - started

    def _wait_up(self, name):
        self._timed(name, self.services[name].wait_ready, SERVICE_TIMEOUT)

    def log_tails(self, names=None):
        """The last lines of the services' logs (for failures that do not name one service)."""
        parts = []
        for name in names or sorted(self.services):
            for path in (self.layout.log_file(name + ".log"), self.layout.log_file(name + ".out")):
                text = processes.tail(path, 8)
                if text:
                    parts.append("--- %s\n%s" % (path, text))
        return "\n".join(parts)

    def stop(self, keep=False):
        """End every service (by process group), close the proxy; remove the directory unless ``keep``."""
        for name in reversed([name for name, *_rest in SERVICES]):
            if name in self.services:
                self.services[name].stop()
        if self.schemas is not None:
            self.schemas.discard()
        self.proxy.close()
        self.venv.release()
        if self.layout is not None and not keep:
            shutil.rmtree(self.layout.root, ignore_errors=True)

    # -- set-up steps -----------------------------------------------------------
    def _template_values(self):
        layout = self.layout
        return {"data": layout.data, "log": layout.log, "venv_etc": self.venv.etc(), "region": seed.REGION,
                "keystone_public": self.proxy.url("keystone", "public"),
                "keystone_internal": self.proxy.url("keystone", "internal"),
                "glance_internal": self.proxy.url("glance", "internal"),
                "service_password": self.service_password, "compute_host": "loopback-compute",
                "mechanism_driver": config.MECHANISM_DRIVER, "external_physnet": seed.EXTERNAL_PHYSNET}

    def _service_env(self):
        layout = self.layout
        base = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
        return processes.child_env(base, {
            "PYTHONPATH": layout.pylib,
            "PYTHONDONTWRITEBYTECODE": "1",
            "XDG_CACHE_HOME": os.path.join(layout.root, "cache"),     # stevedore's entry point cache
            "OS_KEYSTONE_CONFIG_FILES": layout.config("keystone.conf"),
            "OS_PLACEMENT_CONFIG_DIR": layout.etc,
            "OS_GLANCE_CONFIG_DIR": layout.etc,
            "OS_NEUTRON_CONFIG_DIR": layout.etc,
            "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini",
            # nova's WSGI loader reads its paste pipeline from the first file: the wheel's own
            "OS_NOVA_CONFIG_DIR": layout.etc,
            "OS_NOVA_CONFIG_FILES": self.venv.etc("nova", "api-paste.ini") + ";nova.conf",
            "OS_NOVA_DISABLE_EVENTLET_PATCHING": "1",
            "SLIPWAY_FAKE_HOST": "%(vcpus)d,%(memory_mb)d,%(disk_gb)d" % seed.FAKE_HOST,
        })

    def _step(self, name, argv, env):
        processes.run_step(name, argv, env, self.layout.log_file("setup.out"), STEP_TIMEOUT)

    def _manage(self, tool, conf, *args):
        files = []
        for name in conf:
            files += ["--config-file", self.layout.config(name)]
        return [self.venv.bin(tool)] + files + list(args)

    def _database(self, name, env):
        """Service ``name``'s empty databases: copied from the schema cache, else migrated (and stored)."""
        files = DATABASES[name]
        if not self.schemas.restore(files, self.layout.data):
            getattr(self, "_migrate_" + name)(env)
            self.schemas.store(files, self.layout.data)
        if name == "nova":
            self._point_cells_at_this_cloud()

    def _migrate_keystone(self, env):
        self._step("keystone-manage db_sync", self._manage("keystone-manage", ("keystone.conf",), "db_sync"), env)

    def _keystone_bootstrap(self, env):
        for repository in ("fernet-keys", "credential-keys"):
            write_key_repository(os.path.join(self.layout.data, repository))
        _name, public, internal = self.catalog["identity"]
        self._step("keystone-manage bootstrap", self._manage(
            "keystone-manage", ("keystone.conf",), "bootstrap", "--bootstrap-password", self.admin_password,
            "--bootstrap-username", ADMIN_USER, "--bootstrap-project-name", "admin",
            "--bootstrap-region-id", seed.REGION, "--bootstrap-public-url", public,
            "--bootstrap-internal-url", internal, "--bootstrap-admin-url", internal), env)

    def _migrate_placement(self, env):
        self._step("placement-manage db sync", self._manage("placement-manage", ("placement.conf",), "db", "sync"), env)

    def _migrate_glance(self, env):
        self._step("glance-manage db_sync", self._manage("glance-manage", ("glance-api.conf",), "db_sync"), env)

    def _migrate_neutron(self, env):
        self._step("neutron schema", [self.venv.python, "-m", "service_side.neutron_schema",
                                      self.layout.database("neutron")], env)
        self._step("neutron-db-manage stamp heads", self._manage(
            "neutron-db-manage", ("neutron.conf", "ml2_conf.ini"), "stamp", "heads"), env)

    def _migrate_nova(self, env):
        conf = ("nova.conf",)
        for args in (("api_db", "sync"),
                     ("cell_v2", "map_cell0", "--database_connection", self.layout.database("nova_cell0")),
                     ("cell_v2", "create_cell", "--name", "cell1"),
                     ("db", "sync")):
            self._step("nova-manage " + " ".join(args[:2]), self._manage("nova-manage", conf, *args), env)

    def _point_cells_at_this_cloud(self):
        """The cell mappings name their databases by path: this cloud's (a restored copy names another's)."""
        with sqlite3.connect(os.path.join(self.layout.data, "nova_api.db"), timeout=60) as db:
            for cell, database in (("cell0", "nova_cell0"), ("cell1", "nova")):
                db.execute("UPDATE cell_mappings SET database_connection = ? WHERE name = ?",
                           (self.layout.database(database), cell))

    def _write_clouds_yaml(self):
        import yaml

        clouds = {}
        for kind, name in CLOUD_NAMES.items():
            clouds[name] = {"auth": self.auth(kind), "auth_type": self.auth_type(kind), "region_name": seed.REGION,
                            "interface": "public", "identity_api_version": 3}
        with open(self.layout.clouds_yaml, "w") as handle:
            yaml.safe_dump({"clouds": clouds}, handle, default_flow_style=False)
        os.chmod(self.layout.clouds_yaml, 0o600)
