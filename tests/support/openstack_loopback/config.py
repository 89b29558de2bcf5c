# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where one loopback cloud keeps its files, and its configuration files from templates/.

A cloud lives in one directory (``Layout``): etc/ (the rendered configuration), data/ (sqlite
databases, key repositories, image files), log/ (each service's log and output), pylib/ (the
services' import path: service_side and its ML2 driver's entry point) and clouds.yaml. The
templates are plain ``string.Template`` files: ``${name}`` is a value, and a value the template
names but the harness does not give is an error naming both.
"""

import os
import string

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")
SERVICE_SIDE = os.path.join(HERE, "service_side")
#: template -> what the service reads it as, under etc/
CONFIG_FILES = ("keystone.conf", "placement.conf", "glance-api.conf", "neutron.conf", "ml2_conf.ini", "nova.conf")

MECHANISM_DRIVER = "slipway_bind_all"
_ENTRY_POINTS = """[neutron.ml2.mechanism_drivers]
%s = service_side.bind_all:BindEveryPort
""" % MECHANISM_DRIVER
_METADATA = "Metadata-Version: 2.1\nName: slipway-loopback-services\nVersion: 1.0\n"


class Layout:
    """The paths of one cloud under ``root``."""

    def __init__(self, root):
        self.root = root
        self.etc = os.path.join(root, "etc")
        self.data = os.path.join(root, "data")
        self.log = os.path.join(root, "log")
        self.pylib = os.path.join(root, "pylib")
        self.clouds_yaml = os.path.join(root, "clouds.yaml")

    def make(self):
        for path in (self.etc, self.log, self.pylib, os.path.join(self.data, "fernet-keys"),
                     os.path.join(self.data, "credential-keys"), os.path.join(self.data, "nova", "lock"),
                     os.path.join(self.data, "neutron", "lock"),
                     *(os.path.join(self.data, "glance", part) for part in ("images", "staging", "tasks", "cache"))):
            os.makedirs(path, mode=0o700, exist_ok=True)
        return self

    def config(self, name):
        return os.path.join(self.etc, name)

    def database(self, name):
        return "sqlite:///" + os.path.join(self.data, name + ".db")

    def log_file(self, name):
        return os.path.join(self.log, name)


def render(layout, values):
    """Write every template into ``layout.etc``; returns the paths written."""
    written = []
    for name in CONFIG_FILES:
        with open(os.path.join(TEMPLATES, name)) as handle:
            template = string.Template(handle.read())
        try:
            text = template.substitute(values)
        except KeyError as missing:
            raise ValueError("templates/%s uses ${%s}, which the harness does not set (it sets: %s)"
                             % (name, missing.args[0], ", ".join(sorted(values))))
        path = layout.config(name)
        with open(path, "w") as handle:
            handle.write(text)
        written.append(path)
    return written


def write_pylib(layout):
    """The services' import path: service_side (linked) and the entry point of its ML2 driver.

    Only this directory goes on the services' PYTHONPATH, never support/openstack_loopback itself, whose
    modules (fixtures, config...) would shadow packages of the same names in the services' venv.
    ML2 finds mechanism drivers by entry point only; a dist-info directory on sys.path is what an
    installed package would add, without installing anything into the shared, cached venv.
    """
    os.symlink(SERVICE_SIDE, os.path.join(layout.pylib, "service_side"))
    dist_info = os.path.join(layout.pylib, "slipway_loopback_services-1.0.dist-info")
    os.makedirs(dist_info, exist_ok=True)
    for name, text in (("METADATA", _METADATA), ("entry_points.txt", _ENTRY_POINTS)):
        with open(os.path.join(dist_info, name), "w") as handle:
            handle.write(text)
    return layout.pylib
