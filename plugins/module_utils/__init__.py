# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What modules, action and inventory plugins share: the module base and the helpers every layer uses
(ids, masking, the model, path trust, credentials). Layers: catalog/, engine/, providers/,
local_cloud/; nothing imports upward.
"""
