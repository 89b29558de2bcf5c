# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every provider family, imported statically.

providers/base.py loads a family lazily by name, which AnsiballZ's bundler cannot follow; a module
that may talk to clouds imports this one, so every adapter travels with it. A family whose library
is missing fails only when a cloud of that family is used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import ec2  # noqa: F401 pylint: disable=unused-import
except ImportError:
    pass
try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import exoscale  # noqa: F401 pylint: disable=unused-import
except ImportError:
    pass
try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import libcloud_generic  # noqa: F401 pylint: disable=unused-import
except ImportError:
    pass
try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import local  # noqa: F401 pylint: disable=unused-import
except ImportError:
    pass
try:
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import openstack  # noqa: F401 pylint: disable=unused-import
except ImportError:
    pass
