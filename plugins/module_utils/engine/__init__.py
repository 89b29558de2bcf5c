# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine: planning a task, converging machines and groups across clouds at once, listing, and the
records modules return. No Ansible imports.
"""
