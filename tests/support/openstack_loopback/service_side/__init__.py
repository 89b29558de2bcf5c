# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Code that runs inside the OpenStack services' venv (it imports nova, neutron, keystone...).

The harness (support.openstack_loopback) starts it as ``<services venv>/bin/python -m service_side.<module>``
with this directory's parent on PYTHONPATH; the tests' venv never imports it.
"""
