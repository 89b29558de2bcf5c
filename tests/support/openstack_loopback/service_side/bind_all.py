# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An ML2 mechanism driver that binds every port, on any host, ACTIVE at once.

A real cloud has agents (Open vSwitch, OVN...) that bind ports; the loopback cloud has none, so
without this driver every port stays unbound and Nova's builds fail. The harness registers it
under the entry point name ``slipway_bind_all`` (neutron.ml2.mechanism_drivers).
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindEveryPort(api.MechanismDriver):
    """Binds a port to the first segment offered, as an OVS port that filters (security groups)."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: True}, status=constants.PORT_STATUS_ACTIVE)
            return
