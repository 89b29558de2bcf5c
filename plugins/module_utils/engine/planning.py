# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning an instance task on one cloud: which names it asks for, and what converging takes.

``plan_cloud`` turns one cloud's listing and the task into a CloudPlan (create / keep / start / stop /
remove): pure data, no cloud call, so every rule of the converge is testable with plain pytest.
No Ansible imports.
"""

from __future__ import annotations

import time

from ansible_collections.slipway.cloud.plugins.module_utils.engine.fleet_names import check_names_count, pattern_names
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import NAME_TAG, InputError
from ansible_collections.slipway.cloud.plugins.module_utils.names import check_machine_names
from ansible_collections.slipway.cloud.plugins.module_utils.engine.records import is_gone, is_stopped, sort_key
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import parse_public_key

STATES = ("present", "absent", "running", "stopped")
WAITS = ("running", "ssh")
#: how long an unnamed machine may be another run's create in progress (see in_flight)
IN_FLIGHT_SECONDS = 600


class DeployError(InputError):
    """A request the engine refuses before touching any cloud."""


def expand_names(name=None, names=None, count=None, name_pattern=None, default_prefix=None):
    """The machine names a task asks for, in order; None when it names none.

    ``count`` with ``name_pattern`` ("web-%02d") numbers machines from 1.
    """
    given = [opt for opt, value in (("name", name), ("names", names), ("count", count)) if value is not None]
    if len(given) > 1:
        raise DeployError("options %s are mutually exclusive; give one of name, names or count"
                          % " and ".join(given), options=given)
    if name is not None:
        result = [name]
    elif names is not None:
        check_names_count(names)
        result = list(names)
    elif count is not None:
        pattern = name_pattern or ((default_prefix or "machine") + "-%02d")
        result = pattern_names(pattern, count)    # count and pattern bounded before any name is made
        if count > 1 and len(set(result)) != len(result):
            raise DeployError("name_pattern %s gives the same name twice" % excerpt(pattern), option="name_pattern")
    else:
        if name_pattern is not None:
            raise DeployError("name_pattern needs count", option="name_pattern")
        return None
    return check_machine_names(result, option="names" if names is not None else "name")


def clouds_from(cloud=None, clouds=None):
    """The list of cloud names from the cloud / clouds options."""
    if cloud is not None and clouds is not None:
        raise DeployError("cloud and clouds are mutually exclusive", option="clouds")
    if cloud is not None:
        return [cloud]
    return list(clouds or [])


def read_public_key(key=None, path=None):
    """The SSH public key line from ``key`` or the file ``path`` (read on the controller), checked."""
    if key is not None and path is not None:
        raise DeployError("ssh_public_key and ssh_public_key_file are mutually exclusive",
                          option="ssh_public_key")
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                key = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise DeployError("ssh_public_key_file %s cannot be read: %s" % (path, exc.strerror if
                              isinstance(exc, OSError) else exc), option="ssh_public_key_file", file=path)
    if key is None:
        return None
    parsed = parse_public_key(key, option="ssh_public_key_file" if path else "ssh_public_key", file=path)
    return " ".join(part for part in (parsed.line, parsed.comment) if part)


class CloudPlan:
    """What converging one cloud takes. Built from a listing; pure data."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.create = []          # names
        self.keep = []            # Machine
        self.start = []           # Machine
        self.stop = []            # Machine
        self.remove = []          # Machine
        self.stop_after_create = False
        self.warnings = []

    @property
    def changes(self):
        return bool(self.create or self.start or self.stop or self.remove)

    def absorb(self, later):
        """Add what a later round of the same task planned (after another run removed machines meanwhile)."""
        self.create.extend(n for n in later.create if n not in self.create)
        for kind in ("start", "stop", "remove"):
            known = {m.id for m in getattr(self, kind)}
            getattr(self, kind).extend(m for m in getattr(later, kind) if m.id not in known)

    def summary(self):
        return {
            "create": list(self.create),
            "start": sorted(m.name for m in self.start),
            "stop": sorted(m.name for m in self.stop),
            "remove": sorted(m.name for m in self.remove),
            "keep": sorted(m.name for m in self.keep),
        }


def plan_cloud(cloud, listing, names, state, deployment=None, exact=False, image=None):
    """Plan one cloud from its listing of managed machines.

    ``names`` is the list asked for, or None (absent/exact over a whole deployment).
    Names are unique per cloud among managed machines: a name already used by
    another deployment is an error rather than a silent takeover or a duplicate.
    """
    plan = CloudPlan(cloud)
    by_name = {}
    for machine in listing:
        if is_gone(machine):
            continue
        by_name.setdefault(machine.name, []).append(machine)
    for group in by_name.values():
        group.sort(key=sort_key)

    wanted = list(names or [])
    wanted_set = set(wanted)

    if state == "absent":
        for machine_name, group in sorted(by_name.items()):
            in_deployment = deployment is None or group[0].deployment == deployment
            if names is not None:
                if machine_name in wanted_set and in_deployment:
                    plan.remove.extend(group)
            elif deployment is not None and group[0].deployment == deployment:
                plan.remove.extend(group)
        return plan

    for machine_name in wanted:
        group = by_name.get(machine_name)
        if not group:
            plan.create.append(machine_name)
            continue
        machine = group[0]
        if deployment is not None and machine.deployment not in (None, deployment):
            raise DeployError(
                "machine %s on cloud %s already belongs to deployment %r; names are unique per cloud, "
                "so choose another name or remove it first" % (machine_name, cloud, machine.deployment),
                cloud=cloud, name=machine_name, deployment=machine.deployment)
        if image is not None and machine.image not in (None, image):
            plan.warnings.append("machine %s on cloud %s runs image %s, not %s; it is kept as it is"
                                 % (machine_name, cloud, machine.image, image))
        if len(group) > 1:
            if exact:
                plan.remove.extend(group[1:])
            else:
                plan.warnings.append("cloud %s has %d machines named %s (ids %s); exact: true would keep one"
                                     % (cloud, len(group), machine_name, ", ".join(str(m.id) for m in group)))
        if state == "running" and is_stopped(machine):
            plan.start.append(machine)
        elif state == "stopped" and not is_stopped(machine):
            plan.stop.append(machine)
        else:
            plan.keep.append(machine)
    if state == "stopped" and plan.create:
        plan.stop_after_create = True

    if exact:
        plan.remove.extend(extras(listing, wanted_set, deployment))
    return plan


def in_flight(machine, now=None):
    """True for a machine another run is still creating: not named yet (a fleet's names follow its create on
    EC2) and younger than IN_FLIGHT_SECONDS. An exact fleet leaves it alone; a crashed run's leftover is
    older and is removed."""
    if NAME_TAG in (machine.tags or {}) or machine.name != machine.id:
        return False
    launched = machine.timings.get("launched_at") or machine.timings.get("requested_at")
    return launched is not None and (now or time.time()) - launched < IN_FLIGHT_SECONDS


def extras(listing, wanted_names, deployment, now=None):
    """The machines of ``deployment`` an exact fleet of ``wanted_names`` does not want."""
    return sorted((m for m in listing if not is_gone(m) and m.deployment == deployment
                   and m.name not in wanted_names and not in_flight(m, now)), key=lambda m: (m.name, sort_key(m)))
