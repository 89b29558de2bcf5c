# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A machine as the modules, the inventory and the report see it: one record shape for instance and
instance_info, and the few questions every engine asks of a machine. No Ansible imports.
"""

from __future__ import annotations

from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, IMAGE_TAG, NAME_TAG

# States a provider may report for a machine that is on its way out: such a
# machine no longer counts as existing (EC2 lists terminated ones for a while).
GONE_STATES = frozenset(("terminated", "shutting-down", "deleted", "destroyed"))
STOPPED_STATES = frozenset(("stopped", "stopping"))


def machine_record(machine, placement=None):
    """A machine as the modules return it (same shape for instance and instance_info)."""
    data = machine.to_dict()
    tags = dict(machine.tags or {})
    if placement is not None:
        # Fill what a provider listing may not know (a freshly created machine's
        # logical image, login user, flavor) from the placement it was made with.
        for key, value in (("image", placement.image), ("login_user", placement.login_user),
                           ("flavor", placement.flavor), ("cpu", placement.cpu),
                           ("ram_gb", placement.ram_gb), ("image_id", placement.image_id)):
            if data.get(key) is None and value is not None:
                data[key] = value
    if data.get("image") is None:
        data["image"] = tags.get(IMAGE_TAG)
    if data.get("deployment") is None:
        data["deployment"] = tags.get(DEPLOYMENT_TAG)
    if data.get("login_user") and machine.address:
        data["ssh_url"] = "ssh://%s@%s" % (data["login_user"], machine.address)
    timings = dict(data.get("timings") or {})
    started = timings.get("requested_at")
    ready = timings.get("ssh_ready_at") or timings.get("running_at")
    if started is not None and ready is not None and "deploy_seconds" not in timings:
        timings["deploy_seconds"] = round(ready - started, 3)
    for key in ("requested_at", "running_at", "ssh_ready_at"):
        timings.setdefault(key, None)
    timings.setdefault("deploy_seconds", None)
    data["timings"] = timings
    data["tags"] = tags
    data["host_keys"] = list(data.get("host_keys") or [])
    return data


def diff_view(machine):
    """The part of a machine a diff shows: what the task can change."""
    return {"state": machine["state"], "image": machine.get("image"), "flavor": machine.get("flavor"),
            "deployment": machine.get("deployment")}


def is_gone(machine):
    return (machine.state or "").lower() in GONE_STATES


def is_stopped(machine):
    return (machine.state or "").lower() in STOPPED_STATES


def sort_key(machine):
    # Keep the machine that is furthest along; ties by id so the choice is stable.
    rank = {"running": 0, "pending": 1}.get((machine.state or "").lower(), 2)
    return (rank, str(machine.id))


def planned_record(cloud, name, placement, state, deployment, tags):
    """The record check mode shows for a machine the task would create."""
    return {
        "cloud": cloud, "name": name, "id": None,
        "state": "stopped" if state == "stopped" else "running",
        "image": placement.image, "image_id": placement.image_id, "flavor": placement.flavor,
        "cpu": placement.cpu, "ram_gb": placement.ram_gb, "login_user": placement.login_user,
        "public_ip": None, "private_ip": None, "ssh_url": None, "deployment": deployment,
        "tags": dict(tags, **{NAME_TAG: name}), "host_keys": [],
        "timings": {"requested_at": None, "running_at": None, "ssh_ready_at": None, "deploy_seconds": None},
    }


def ordered(records, names):
    """Records in the order of ``names``, the others after them by name."""
    index = {n: i for i, n in enumerate(names or [])}
    return sorted(records, key=lambda r: (index.get(r["name"], len(index)), r["name"]))
