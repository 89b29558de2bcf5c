# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog: reading the layers (YAML within limits), validating them against the schema, the
validated cache, and the entries (images, sizes, clouds, rules) the engine resolves.
"""
