# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real OpenStack on 127.0.0.1 for the tests: Keystone, Placement, Glance, Neutron and Nova
from PyPI, in a venv of their own, one fresh cloud per test session (README.md beside this file).

    install.py   the services' venv (constraints.txt), cached outside the clone
    cloud.py     LoopbackCloud: configure (config.py, templates/), start (processes.py), seed (seed.py)
    proxy.py     the fault proxy every catalog endpoint points at
    leftovers.py what a deployment left behind in the test project
    fixtures.py  the pytest fixtures (session cloud, env, faults, leftovers)
    service_side/ code run by the services' own Python (launcher, ML2 driver, fake host, sqlite locking)
"""
