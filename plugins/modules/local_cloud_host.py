#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: local_cloud_host
short_description: Set this host up for the local clouds (real machines on one Linux box), or tear it down
version_added: 0.1.0
description:
  - Prepares the host it runs on for the C(local) cloud provider, whose machines are Debian 12 systems booted
    with systemd under C(systemd-nspawn), each in its own network namespace on a bridge of its cloud.
  - V(present) starts C(lxcfs) if it is not running, builds and caches the Debian 12 base image with
    C(debootstrap) (once, about a minute), brings up one bridge per local cloud holding the first address of
    the cloud's subnet, runs an apt proxy (C(apt-cacher-ng)) on those addresses that forwards only to the
    host's configured Debian mirror, and writes the nftables table that enforces the security groups.
  - V(absent) destroys every machine of the clouds, then removes the bridges, the proxy, the nft table and
    the records. The cached base image and the apt proxy's package cache are kept unless O(purge_images=true).
  - Teardown removes only what set-up recorded, inside the state root; a bridge only when it carries the mark
    set-up gave it (the interface alias C(slipway:<root>:<cloud>)) and the recorded ifindex. A cloud record
    that fails these checks is refused with an error, and nothing is removed.
  - The state root and the image cache must belong to this user or root and be writable by nobody else
    (as OpenSSH requires of C(~/.ssh)); V(present) makes the state root private (C(0700)) and the image
    cache C(0755). The host lock file is C(0600).
  - The host packages are not installed here; the C(slipway.cloud.local_cloud) role installs them first and
    is the usual way to call this module (C(playbooks/local_cloud.yml)).
author:
  - slipway.cloud contributors (@slipway-cloud)
extends_documentation_fragment:
  - slipway.cloud.catalog
attributes:
  check_mode:
    support: full
    description: Reports what would be set up or removed; nothing is changed.
  diff_mode:
    support: full
    description: Shows the local clouds set up before and after.
options:
  state:
    description:
      - V(present) sets the host up; V(absent) tears it down.
    type: str
    choices: [present, absent]
    default: present
  clouds:
    description:
      - Names of the catalog's local clouds (those with V(local) as provider) to set up or tear down.
      - When not set, every local cloud of the catalog (V(present)), or every local cloud set up on the host
        (V(absent)).
    type: list
    elements: str
  cloud_definitions:
    description:
      - Local clouds given directly instead of read from the catalog (for isolated test set-ups).
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The cloud's name, as in the catalog (1-63 letters, digits, C(.), C(_) or C(-), starting with a letter
            or digit).
        type: str
        required: true
      subnet:
        description: Its subnet, inside C(198.18.0.0/15) (one C(/24) per cloud is usual).
        type: str
        required: true
      bridge:
        description:
          - The host bridge's interface name; derived from the name if unset.
          - It must start with C(slw) and have at most 15 characters (letters, digits, C(-), C(_)), so that no
            other interface of the host (C(eth0), C(docker0)) is ever taken, or deleted by V(absent).
        type: str
  root:
    description:
      - The state root where machines, clouds and groups are recorded.
      - Defaults to the clouds' C(root) option, else E(SLIPWAY_LOCAL_ROOT), else C(/var/lib/slipway/local).
    type: path
  images:
    description:
      - Where the base image is cached. Defaults to the clouds' C(images) option, else E(SLIPWAY_LOCAL_IMAGES),
        else C(<root>/images).
    type: path
  apt_proxy_port:
    description:
      - TCP port of the apt proxy on each bridge address (not 3142, so a distribution's own apt-cacher-ng
        service can keep its port).
    type: int
    default: 3143
  build_image:
    description:
      - Build the base image when it is missing or its definition changed.
    type: bool
    default: true
  purge_images:
    description:
      - With O(state=absent), also delete the cached base images and the apt proxy's package cache.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the host lock (C(<root>/lock)) that serialises set-up, teardown and machine
        changes of one state root. When another process holds it longer, the task fails with an error naming
        the lock file and, when the kernel shows it, the holder's pid and command.
      - Defaults to E(SLIPWAY_LOCAL_LOCK_TIMEOUT), else 300.
    type: float
notes:
  - Needs root, Linux with cgroups (v1 or v2), overlayfs, nftables and the packages C(debootstrap),
    C(systemd-container), C(lxcfs), C(nftables), C(apt-cacher-ng), C(iproute2).
  - Addresses come only from C(198.18.0.0/15); a subnet outside it is refused.
seealso:
  - module: slipway.cloud.instance
"""

EXAMPLES = r"""
- name: Set up the catalog's local clouds (local-a, local-b)
  slipway.cloud.local_cloud_host:
    state: present

- name: An isolated local cloud with its own state root
  slipway.cloud.local_cloud_host:
    root: /var/lib/slipway/sandbox
    cloud_definitions:
      - {name: sandbox, subnet: 198.18.40.0/24}

- name: Tear everything down again (keeps the cached image)
  slipway.cloud.local_cloud_host:
    state: absent
"""

RETURN = r"""
clouds:
  description: The local clouds handled, with their subnet, gateway (the host's address on the bridge) and bridge.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "local-a", "subnet": "198.18.1.0/24", "gateway": "198.18.1.1", "bridge": "slw-local-a"}]
changes:
  description: What was (or, in check mode, would be) changed, one line each.
  returned: always
  type: list
  elements: str
  sample: ["bridge slw-local-a up with 198.18.1.1", "apt proxy on port 3143"]
image:
  description: The base image (V(present) only).
  returned: when state is present and build_image is true
  type: dict
  sample: {"changed": false, "path": "/var/lib/slipway/local/images/debian-12-6bf0ada79634", "seconds": 0.0}
root:
  description: The state root used.
  returned: always
  type: str
  sample: /var/lib/slipway/local
nft_table:
  description: The nftables table (family C(inet)) holding the security groups.
  returned: always
  type: str
  sample: slipway_local
seconds:
  description: Time this call took.
  returned: always
  type: float
"""

import time

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
from ansible_collections.slipway.cloud.plugins.module_utils.module_base import SlipwayModule


def _definitions(module, state):
    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup

    given = module.params["cloud_definitions"]
    if given:
        return [hostsetup.cloud_definition(d["name"], d["subnet"], d.get("bridge"), state) for d in given]
    return hostsetup.catalog_definitions(module.load_catalog(), module.params["clouds"], state)


def _catalog_paths(module):
    """(root, images) the catalog's local clouds name in their options, when they agree; else (None, None).

    Only the clouds this run handles count (O(clouds), else every local cloud of the catalog): another
    local cloud of the catalog may live in a state root of its own.
    """
    if module.params["root"] or module.params["cloud_definitions"]:
        return module.params["root"], None
    try:
        catalog = module.load_catalog()
    except CatalogError:
        if module.params["state"] == "absent":
            return None, None
        raise
    wanted = module.params["clouds"]
    local = [c for name, c in catalog.clouds.items() if c.provider == "local" and (not wanted or name in wanted)]
    roots = set(c.option("root") for c in local if c.option("root"))
    images = set(c.option("images") for c in local if c.option("images"))
    return (roots.pop() if len(roots) == 1 else None), (images.pop() if len(images) == 1 else None)


def main(module):
    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud import hostsetup
    from ansible_collections.slipway.cloud.plugins.module_utils.local_cloud.state import (
        StateRoot, resolve_images, resolve_root,
    )

    started = time.time()
    catalog_root, catalog_images = _catalog_paths(module)
    root = resolve_root(catalog_root)
    state = StateRoot(root, resolve_images(root, module.params["images"] or catalog_images),
                      lock_timeout=module.params["lock_timeout"])
    before = sorted(state.clouds())
    if module.params["state"] == "present":
        definitions = _definitions(module, state)
        result = hostsetup.ensure_host(state, definitions, proxy_port=module.params["apt_proxy_port"],
                                       build_image=module.params["build_image"], check_mode=module.check_mode)
        clouds = definitions
        after = sorted(set(before) | set(d["name"] for d in definitions))
    else:
        names = None
        if module.params["clouds"] is not None or module.params["cloud_definitions"]:
            names = module.params["clouds"] or [d["name"] for d in module.params["cloud_definitions"]]
        recorded = state.clouds()
        clouds = [recorded[n] for n in sorted(recorded) if names is None or n in names]
        result = hostsetup.teardown_host(state, names, purge_images=module.params["purge_images"],
                                         check_mode=module.check_mode)
        after = sorted(set(before) - set(c["name"] for c in clouds))
    result.update({
        "clouds": [{k: c[k] for k in ("name", "subnet", "gateway", "bridge")} for c in clouds],
        "root": state.root,
        "nft_table": state.nft_table,
        "seconds": round(time.time() - started, 2),
    })
    if module._diff:
        result["diff"] = {"before": {"local_clouds": before}, "after": {"local_clouds": after}}
    return result


def run_module():
    module = SlipwayModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            clouds=dict(type="list", elements="str"),
            cloud_definitions=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                subnet=dict(type="str", required=True),
                bridge=dict(type="str"),
            )),
            root=dict(type="path"),
            images=dict(type="path"),
            apt_proxy_port=dict(type="int", default=3143),
            build_image=dict(type="bool", default=True),
            purge_images=dict(type="bool", default=False),
            lock_timeout=dict(type="float"),
        ),
        mutually_exclusive=[("clouds", "cloud_definitions")],
        supports_check_mode=True,
    )
    module.run(main)


if __name__ == "__main__":
    run_module()
