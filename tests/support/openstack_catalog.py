# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A catalog layer for the loopback OpenStack (support/openstack_loopback), for every suite that deploys there.

The shipped ``openstack`` cloud works on it as it is (the OS_* variables of ``openstack_env``; its
flavors read from the cloud). This layer adds clouds that compare tables and reach the cloud other ways:

* ``os-lb``: the seed's Ultimum flavor table (the loopback is seeded with it), the OS_* variables;
* ``os-lb-fip``: the same, and a floating IP from the external network ``public`` for each server;
* ``os-lb-yaml``: the clouds.yaml entry of the application credential (``options.cloud``);

and the image ``os-debian`` (a copy of debian-12) found on them by name, owner (the publisher: the
admin project, so that the newer-looking image of project slipway-other is not taken) and visibility.
Servers are fake (Nova's fake driver): nothing answers SSH, so the clouds turn the SSH probe off.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

CLOUD, FIP_CLOUD, YAML_CLOUD = "os-lb", "os-lb-fip", "os-lb-yaml"
IMAGE = "os-debian"
#: the seed's Ultimum table, as seed.ULTIMUM_FLAVORS has it (cpu, GB)
ULTIMUM = (("Basic", 1, 1), ("Standard", 2, 2), ("Standard Plus", 4, 4), ("Large", 8, 8), ("Large Plus", 16, 16),
           ("Extra Large", 32, 32))
OS_CREDENTIALS = ("{auth_url: OS_AUTH_URL, username: OS_USERNAME, password: OS_PASSWORD, project_name: OS_PROJECT_NAME,"
                  " user_domain_name: OS_USER_DOMAIN_NAME, project_domain_name: OS_PROJECT_DOMAIN_NAME}")
FAST = "retry_base_delay: 0.05, retry_max_delay: 1, retry_attempts: 12, ssh_probe: false"


def layer_text(admin_project_id, extra_options="", flavors=ULTIMUM):
    table = "".join("      %s: {cpu: %s, ram_gb: %s}\n" % row for row in flavors)
    lookup = "{name: 'Debian 12 bookworm *', owner: '%s', visibility: public}" % admin_project_id
    options = FAST + (", " + extra_options if extra_options else "")
    return """\
# the loopback OpenStack of the tests (tests/support/openstack_catalog.py)
clouds:
  {cloud}:
    description: the loopback OpenStack, with the seed's Ultimum flavor table
    provider: openstack
    region: RegionOne
    credentials: {credentials}
    options: {{{options}}}
    flavors:
{table}
  {fip_cloud}:
    description: the loopback OpenStack, a floating IP for every server
    provider: openstack
    credentials: {credentials}
    options: {{{options}, floating_ip_network: public}}
    flavors:
{table}
  {yaml_cloud}:
    description: the loopback OpenStack through a clouds.yaml entry (an application credential)
    provider: openstack
    options: {{{options}, cloud: slipway-loopback-appcred}}
    flavors:
{table}
images:
  {image}:
    description: debian-12 on the loopback OpenStack, the publisher's newest
    parent: debian-12
    clouds:
      {cloud}: {{image_lookup: {lookup}}}
      {fip_cloud}: {{image_lookup: {lookup}}}
      {yaml_cloud}: {{image_lookup: {lookup}}}
""".format(cloud=CLOUD, fip_cloud=FIP_CLOUD, yaml_cloud=YAML_CLOUD, image=IMAGE, credentials=OS_CREDENTIALS,
           options=options, table=table, lookup=lookup)


def write_layer(directory, seeded, extra_options="", flavors=ULTIMUM):
    """The layer as a file in ``directory``; ``seeded`` is the cloud's seed.Seeded."""
    path = os.path.join(directory, "openstack-loopback.yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(layer_text(seeded.admin_project_id, extra_options, flavors))
    return path
