# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provider-independent converge engine behind instance, security_group and instance_info.

Given a catalog, the clouds and what the task asks for, it plans per cloud
(create / keep / start / stop / remove), then executes the plans with the
clouds in parallel. One cloud failing never undoes another: every cloud gets
its own outcome, and the caller decides how to fail after reporting them all.

No Ansible imports: the modules only shape options in and results out.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    MANAGED_TAG,
    NAME_TAG,
    SlipwayError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

STATES = ("present", "absent", "running", "stopped")
WAITS = ("running", "ssh")
# States a provider may report for a machine that is on its way out: such a
# machine no longer counts as existing (EC2 lists terminated ones for a while).
GONE_STATES = frozenset(("terminated", "shutting-down", "deleted", "destroyed"))
STOPPED_STATES = frozenset(("stopped", "stopping"))
RESERVED_TAGS = (MANAGED_TAG, IMAGE_TAG, DEPLOYMENT_TAG, NAME_TAG)
NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$")
MASK = "********"


class DeployError(SlipwayError):
    """A request the engine refuses before touching any cloud."""


# ---------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------

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
        result = list(names)
    elif count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise DeployError("count must be a whole number >= 0, got %r" % (count,), option="count")
        pattern = name_pattern or ((default_prefix or "machine") + "-%02d")
        try:
            pattern % 1  # validates the pattern even when count is 0
            result = [pattern % index for index in range(1, count + 1)]
        except (TypeError, ValueError) as exc:
            raise DeployError("name_pattern %r must contain exactly one integer conversion such as %%d "
                              "or %%02d (%s)" % (pattern, exc), option="name_pattern")
        if count > 1 and len(set(result)) != len(result):
            raise DeployError("name_pattern %r gives the same name twice" % pattern, option="name_pattern")
    else:
        if name_pattern is not None:
            raise DeployError("name_pattern needs count", option="name_pattern")
        return None
    seen = set()
    for item in result:
        if not isinstance(item, str) or not NAME_RE.match(item):
            raise DeployError("machine name %r is not valid: use letters, digits, '-' and '.', 1 to 63 "
                              "characters, starting and ending with a letter or digit" % (item,),
                              option="name", value=str(item))
        if item in seen:
            raise DeployError("machine name %r is given twice" % item, option="names", value=item)
        seen.add(item)
    return result


def clouds_from(cloud=None, clouds=None):
    """The list of cloud names from the cloud / clouds options."""
    if cloud is not None and clouds is not None:
        raise DeployError("cloud and clouds are mutually exclusive", option="clouds")
    if cloud is not None:
        return [cloud]
    return list(clouds or [])


def read_public_key(key=None, path=None):
    """The SSH public key line from ``key`` or the file ``path`` (read on the controller)."""
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
    key = key.strip()
    if "PRIVATE KEY" in key:
        # Never echo the content: it is a secret the user gave by mistake.
        raise DeployError("the SSH key given is a private key; give the public one (the .pub file)",
                          option="ssh_public_key_file" if path else "ssh_public_key")
    first = key.splitlines()[0].split() if key else []
    if len(first) < 2 or not (first[0].startswith("ssh-") or first[0].startswith("ecdsa-")
                              or first[0].startswith("sk-")):
        raise DeployError("the SSH public key must be one OpenSSH line like 'ssh-ed25519 AAAA... comment'",
                          option="ssh_public_key_file" if path else "ssh_public_key", file=path)
    return key.splitlines()[0]


# ---------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------

class Scrubber:
    """Replaces every known credential value in text that leaves the engine."""

    def __init__(self):
        self._secrets = set()
        self._lock = threading.Lock()

    def add(self, values):
        with self._lock:
            for value in values:
                # Very short values (a region, "1") would mangle innocent text
                # and are not what a leaked secret looks like.
                if isinstance(value, str) and len(value) >= 6:
                    self._secrets.add(value)

    def text(self, value):
        if not isinstance(value, str):
            return value
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def data(self, value):
        if isinstance(value, dict):
            return {self.text(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return self.text(value)


def error_record(exc, scrub):
    """The JSON-able form of a failure: msg plus details, secrets masked."""
    if isinstance(exc, SlipwayError):
        return {"msg": scrub.text(exc.msg), "details": scrub.data(dict(exc.details))}
    return {"msg": scrub.text("unexpected %s: %s" % (type(exc).__name__, exc)),
            "details": {"type": type(exc).__name__}}


# ---------------------------------------------------------------------------
# machine records
# ---------------------------------------------------------------------------

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


def _is_gone(machine):
    return (machine.state or "").lower() in GONE_STATES


def _is_stopped(machine):
    return (machine.state or "").lower() in STOPPED_STATES


def _sort_key(machine):
    # Keep the machine that is furthest along; ties by id so the choice is stable.
    rank = {"running": 0, "pending": 1}.get((machine.state or "").lower(), 2)
    return (rank, str(machine.id))


# ---------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------

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
        if _is_gone(machine):
            continue
        by_name.setdefault(machine.name, []).append(machine)
    for group in by_name.values():
        group.sort(key=_sort_key)

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
        if state == "running" and _is_stopped(machine):
            plan.start.append(machine)
        elif state == "stopped" and not _is_stopped(machine):
            plan.stop.append(machine)
        else:
            plan.keep.append(machine)
    if state == "stopped" and plan.create:
        plan.stop_after_create = True

    if exact:
        for machine_name, group in sorted(by_name.items()):
            if machine_name in wanted_set:
                continue
            if group[0].deployment == deployment:
                plan.remove.extend(group)
    return plan


# ---------------------------------------------------------------------------
# the deploy request
# ---------------------------------------------------------------------------

class DeployRequest:
    """Everything one instance task asks for, validated before any cloud is touched."""

    def __init__(self, clouds, image=None, names=None, state="present", size=None, security_groups=None,
                 ssh_public_key=None, wait="ssh", timeout=600, tags=None, deployment=None, exact=False,
                 check_mode=False):
        if state not in STATES:
            raise DeployError("state must be one of %s, got %r" % (", ".join(STATES), state), option="state")
        if wait not in WAITS and wait is not None:
            raise DeployError("wait must be one of %s, got %r" % (", ".join(WAITS), wait), option="wait")
        if not clouds:
            raise DeployError("give cloud or clouds: the clouds to work on", option="clouds")
        if len(set(clouds)) != len(clouds):
            raise DeployError("clouds lists a cloud twice: %s" % ", ".join(clouds), option="clouds")
        if timeout is None or timeout <= 0:
            raise DeployError("timeout must be a number of seconds > 0, got %r" % (timeout,), option="timeout")
        if exact and not deployment:
            raise DeployError("exact: true needs deployment, so that only machines of that deployment can be "
                              "removed", option="exact")
        if state == "absent":
            if names is None and not deployment:
                raise DeployError("state: absent needs name, names, count or deployment", option="state")
        else:
            if names is None:
                raise DeployError("state: %s needs name, names or count" % state, option="name")
            if not image:
                raise DeployError("state: %s needs image (a logical image of the catalog)" % state,
                                  option="image")
        for key in (tags or {}):
            if key in RESERVED_TAGS:
                raise DeployError("tag %s is set by slipway itself; choose another tag name" % key,
                                  option="tags", tag=key)
        self.clouds = list(clouds)
        self.image = image
        self.names = names
        self.state = state
        self.size = size or None
        self.security_groups = list(security_groups) if security_groups is not None else None
        self.ssh_public_key = ssh_public_key
        self.wait = wait
        self.timeout = float(timeout)
        self.tags = dict(tags or {})
        self.deployment = deployment
        self.exact = bool(exact)
        self.check_mode = bool(check_mode)

    def machine_tags(self):
        tags = {str(k): str(v) for k, v in self.tags.items()}
        tags[MANAGED_TAG] = "true"
        tags[IMAGE_TAG] = self.image
        if self.deployment:
            tags[DEPLOYMENT_TAG] = self.deployment
        return tags


# ---------------------------------------------------------------------------
# security groups on one cloud
# ---------------------------------------------------------------------------

def _supports_groups(cloud, provider):
    if not getattr(cloud, "security_groups", True):
        return False
    caps = getattr(provider, "capabilities", None)
    return caps is None or "security_groups" in caps


def ensure_placement_groups(catalog, placement, provider, check_mode):
    """Make the placement's security groups exist on its cloud before machines use them.

    Catalog groups are ensured with the catalog's rules (rules added on the
    cloud by hand are left alone: purging is security_group's job). A group
    the catalog does not define must already exist on the cloud.
    Returns {group: {"changed", "before", "after"}}.
    """
    cloud = placement.cloud
    if not placement.security_groups or not _supports_groups(cloud, provider):
        return {}
    results = {}
    existing = None
    for group in placement.security_groups:
        definition = catalog.security_groups.get(group)
        if definition is not None:
            rules = definition.rules_for(placement.ports) if hasattr(definition, "rules_for") else definition.rules
            outcome = provider.ensure_security_group(group, definition.description, tuple(rules),
                                                     purge_rules=False, check_mode=check_mode)
            results[group] = _group_outcome(outcome)
            continue
        if existing is None:
            existing = provider.list_security_groups()
        if group not in existing:
            raise SlipwayError(
                "security group %s is neither defined in the catalog nor present on cloud %s; define it in "
                "the catalog's security_groups or create it on the cloud first" % (group, cloud.name),
                cloud=cloud.name, security_group=group,
                catalog_groups=sorted(catalog.security_groups), cloud_groups=sorted(existing))
        results[group] = {"changed": False, "before": _rules_out(existing[group]),
                          "after": _rules_out(existing[group])}
    return results


def _rules_out(rules):
    """Rules in the spelling users write (rules.py reads it back unchanged)."""
    if rules is None:
        return None
    from ansible_collections.slipway.cloud.plugins.module_utils.rules import rules_to_dicts

    return rules_to_dicts(rules)


def _group_outcome(outcome):
    outcome = dict(outcome or {})
    return {"changed": bool(outcome.get("changed")), "before": _rules_out(outcome.get("before")),
            "after": _rules_out(outcome.get("after"))}


# ---------------------------------------------------------------------------
# converge: instance
# ---------------------------------------------------------------------------

class CloudOutcome:
    def __init__(self, cloud):
        self.cloud = cloud
        self.status = "ok"
        self.changed = False
        self.plan = None
        self.machines = []            # records (dicts) of the machines the task is about
        self.removed = []             # records of removed machines
        self.security_groups = {}
        self.error = None
        self.warnings = []
        self.done = {"create": [], "start": [], "stop": [], "remove": []}
        self.seconds = None
        self.before_records = []      # every live machine on the cloud before the task
        self.after_records = []       # the touched machines as they are (or would be) after it

    def to_dict(self):
        data = {
            "cloud": self.cloud,
            "status": self.status,
            "changed": self.changed,
            "planned": self.plan.summary() if self.plan else None,
            "done": {k: sorted(v) for k, v in self.done.items()},
            "security_groups": self.security_groups,
            "seconds": self.seconds,
        }
        if self.error:
            data["error"] = self.error
        return data


class DeployResult:
    def __init__(self, outcomes, order):
        self.outcomes = outcomes
        self.order = order

    @property
    def changed(self):
        return any(o.changed for o in self.outcomes.values())

    @property
    def failed_clouds(self):
        return [c for c in self.order if self.outcomes[c].status == "failed"]

    def _gather(self, attribute):
        """One attribute of every cloud's outcome, flattened in the clouds' order."""
        return [item for cloud in self.order for item in getattr(self.outcomes[cloud], attribute)]

    @property
    def instances(self):
        return self._gather("machines")

    @property
    def removed(self):
        return self._gather("removed")

    @property
    def warnings(self):
        return self._gather("warnings")

    @property
    def diff(self):
        before, after = {}, {}
        for cloud in self.order:
            outcome = self.outcomes[cloud]
            if outcome.plan is None:
                continue
            plan = outcome.plan
            touched = {m.name for m in plan.start + plan.stop + plan.remove} | set(plan.create)
            for machine in outcome.before_records:
                if machine["name"] in touched:
                    before.setdefault("%s/%s" % (cloud, machine["name"]), diff_view(machine))
            for record in outcome.after_records:
                if record["name"] in touched:
                    after["%s/%s" % (cloud, record["name"])] = diff_view(record)
        return {"before": before, "after": after}

    @property
    def clouds(self):
        return {cloud: self.outcomes[cloud].to_dict() for cloud in self.order}

    def message(self):
        failed = self.failed_clouds
        if not failed:
            return None
        parts = ["%s: %s" % (c, self.outcomes[c].error["msg"]) for c in failed]
        good = [c for c in self.order if c not in failed]
        tail = ("; the other clouds (%s) were converged and are reported in 'clouds' and 'instances'"
                % ", ".join(good)) if good else ""
        return "%d of %d clouds failed: %s%s" % (len(failed), len(self.order), " | ".join(parts), tail)


def converge_instances(catalog, request, provider_factory=None, environ=None):
    """Plan and execute ``request`` on each of its clouds in parallel.

    Bad input (unknown cloud or image, unsatisfiable size, a missing credential)
    fails before any cloud is touched; after that each cloud succeeds or fails
    on its own.
    """
    factory = provider_factory or (lambda cloud: get_provider(cloud, environ))
    scrub = Scrubber()
    clouds = [catalog.cloud(name) for name in request.clouds]
    placements = {}
    if request.state != "absent":
        for cloud in clouds:
            placements[cloud.name] = resolve_placement(catalog, request, cloud)
    providers = {}
    try:
        for cloud in clouds:
            providers[cloud.name] = factory(cloud)
            scrub.add((getattr(providers[cloud.name], "credentials", None) or {}).values())
        outcomes = {cloud.name: CloudOutcome(cloud.name) for cloud in clouds}

        def run(cloud):
            outcome = outcomes[cloud.name]
            started = time.time()
            try:
                _converge_cloud(catalog, request, cloud, placements.get(cloud.name), providers[cloud.name],
                                outcome)
            except Exception as exc:  # one cloud's failure is reported, never raised over the others
                outcome.status = "failed"
                outcome.error = error_record(exc, scrub)
                _report_what_exists(request, providers[cloud.name], outcome)
            outcome.seconds = round(time.time() - started, 3)

        _in_parallel(run, clouds)
    finally:
        for provider in providers.values():
            try:
                provider.close()
            except Exception:  # closing must not hide the result
                pass
    for outcome in outcomes.values():
        outcome.machines = scrub.data(outcome.machines)
        outcome.warnings = [scrub.text(w) for w in outcome.warnings]
    return DeployResult(outcomes, [c.name for c in clouds])


def _report_what_exists(request, provider, outcome):
    """After a cloud failed half-way, report the asked-for machines it has now (best effort)."""
    if outcome.plan is None or request.check_mode or request.state == "absent":
        return
    wanted = set(request.names or [])
    try:
        listing = provider.list_machines()
    except Exception:  # the failure itself is already reported
        return
    outcome.machines = _ordered([machine_record(m) for m in listing if m.name in wanted and not _is_gone(m)],
                                request.names)


def resolve_placement(catalog, request, cloud):
    """The catalog's placement, with the task's security groups when it names some.

    The task may name a group that only the cloud has (checked against the cloud
    before any machine is made), so the override is applied here rather than
    through Catalog.resolve, which accepts catalog groups only.
    """
    placement = catalog.resolve(request.image, cloud.name, size=request.size)
    if request.security_groups is None:
        return placement
    groups = tuple(request.security_groups) if cloud.security_groups else ()
    return dataclasses.replace(placement, security_groups=groups, sources=tuple(
        (k, v) for k, v in placement.sources if k != "security_groups") + (
        ("security_groups", "call-time security_groups override"),))


def _in_parallel(fn, items):
    if len(items) == 1:
        fn(items[0])
        return
    with ThreadPoolExecutor(max_workers=min(len(items), 16)) as pool:
        list(pool.map(fn, items))


def _converge_cloud(catalog, request, cloud, placement, provider, outcome):
    deadline = time.time() + request.timeout
    outcome.before_records = []
    outcome.after_records = []
    listing = provider.list_machines()
    plan = plan_cloud(cloud.name, listing, request.names, request.state, deployment=request.deployment,
                      exact=request.exact, image=request.image)
    outcome.plan = plan
    outcome.warnings.extend(plan.warnings)
    live = [m for m in listing if not _is_gone(m)]
    outcome.before_records = [machine_record(m) for m in live]

    wanted = set(request.names or [])
    if request.state == "absent":
        outcome.changed = bool(plan.remove)
        if plan.remove and not request.check_mode:
            provider.destroy_machines(plan.remove)
            outcome.done["remove"] = [m.name for m in plan.remove]
        outcome.removed = [machine_record(m) for m in plan.remove]
        outcome.machines = []
        return

    # Groups first: a machine must never come up without its firewall.
    if plan.create:
        outcome.security_groups = ensure_placement_groups(catalog, placement, provider, request.check_mode)

    outcome.changed = plan.changes
    if request.check_mode:
        records = [machine_record(m, None) for m in plan.keep]
        records += [dict(machine_record(m), state="running") for m in plan.start]
        records += [dict(machine_record(m), state="stopped") for m in plan.stop]
        for name in plan.create:
            records.append(_planned_record(cloud.name, name, placement, request))
        outcome.machines = _ordered(records, request.names)
        outcome.removed = [machine_record(m) for m in plan.remove]
        outcome.after_records = outcome.machines
        return

    # Removals of an exact fleet go first so a smaller quota still fits the new machines.
    if plan.remove:
        provider.destroy_machines(plan.remove)
        outcome.done["remove"] = [m.name for m in plan.remove]
    records = {}
    waiting = []
    for machine in plan.keep:
        records[machine.name] = machine
        if (machine.state or "").lower() == "pending" and request.state != "stopped":
            waiting.append(machine)
    for machine in plan.stop:
        records[machine.name] = machine
    if plan.create:
        created = provider.create_machines(_placement_with_image(placement, provider), list(plan.create),
                                           request.ssh_public_key, request.machine_tags())
        outcome.done["create"] = [m.name for m in created]
        for machine in created:
            records[machine.name] = machine
        missing = [n for n in plan.create if n not in {m.name for m in created}]
        if missing:
            raise SlipwayError("cloud %s did not return machines %s after creating them"
                               % (cloud.name, ", ".join(missing)), cloud=cloud.name, names=missing)
        waiting.extend(created)
    if plan.start:
        provider.start_machines(plan.start)
        outcome.done["start"] = [m.name for m in plan.start]
        for machine in plan.start:
            records[machine.name] = machine
        waiting.extend(plan.start)
    if waiting and request.wait:
        remaining = max(deadline - time.time(), 1.0)
        waited = provider.wait_machines(waiting, "ssh" if request.wait == "ssh" else "running", remaining)
        for machine in (waited if isinstance(waited, list) else waiting):
            records[machine.name] = machine
    to_stop = list(plan.stop)
    if plan.stop_after_create:
        to_stop += [records[n] for n in plan.create]
    if to_stop:
        provider.stop_machines(to_stop)
        outcome.done["stop"] = [m.name for m in to_stop]
    made = set(plan.create)
    if plan.start or to_stop or any(records[n].address is None for n in made if n in records):
        # Refresh states and addresses from one listing; timings and host keys
        # (known only from our own calls) are kept.
        fresh = {m.name: m for m in sorted(provider.list_machines(), key=_sort_key, reverse=True)
                 if not _is_gone(m)}
        for name, machine in list(records.items()):
            latest = fresh.get(name)
            if latest is not None and (latest.id == machine.id):
                latest.timings = dict(latest.timings or {}, **(machine.timings or {}))
                latest.host_keys = latest.host_keys or machine.host_keys
                for attr in ("image", "login_user", "flavor", "cpu", "ram_gb", "image_id", "public_ip",
                             "private_ip"):
                    if getattr(latest, attr, None) is None:
                        setattr(latest, attr, getattr(machine, attr, None))
                records[name] = latest
    outcome.machines = _ordered(
        [machine_record(records[n], placement if n in plan.create else None) for n in records if n in wanted],
        request.names)
    outcome.removed = [machine_record(m) for m in plan.remove]
    outcome.after_records = outcome.machines


def _placement_with_image(placement, provider):
    """Resolve a by-name image lookup (newest match wins) only when a machine is really made."""
    if placement.image_id or not placement.image_lookup:
        return placement
    return dataclasses.replace(placement, image_id=provider.resolve_image_lookup(placement.image_lookup))


def _planned_record(cloud, name, placement, request):
    return {
        "cloud": cloud, "name": name, "id": None,
        "state": "stopped" if request.state == "stopped" else "running",
        "image": placement.image, "image_id": placement.image_id, "flavor": placement.flavor,
        "cpu": placement.cpu, "ram_gb": placement.ram_gb, "login_user": placement.login_user,
        "public_ip": None, "private_ip": None, "ssh_url": None, "deployment": request.deployment,
        "tags": dict(request.machine_tags(), **{NAME_TAG: name}), "host_keys": [],
        "timings": {"requested_at": None, "running_at": None, "ssh_ready_at": None, "deploy_seconds": None},
    }


def _ordered(records, names):
    index = {n: i for i, n in enumerate(names or [])}
    return sorted(records, key=lambda r: (index.get(r["name"], len(index)), r["name"]))


# ---------------------------------------------------------------------------
# instance_info
# ---------------------------------------------------------------------------

def list_instances(catalog, clouds, image=None, deployment=None, names=None, provider_factory=None,
                   environ=None):
    """Every managed machine on ``clouds`` matching the filters, listed in parallel.

    Returns (instances, {cloud: {"status", "count", "error"?}}): one broken cloud
    never hides the others.
    """
    factory = provider_factory or (lambda cloud: get_provider(cloud, environ))
    scrub = Scrubber()
    cloud_objs = [catalog.cloud(name) for name in clouds]
    wanted = set(names) if names else None
    found = {c.name: [] for c in cloud_objs}
    status = {c.name: {"status": "ok", "count": 0} for c in cloud_objs}

    def run(cloud):
        provider = None
        try:
            provider = factory(cloud)
            scrub.add((getattr(provider, "credentials", None) or {}).values())
            for machine in provider.list_machines():
                if _is_gone(machine):
                    continue
                record = machine_record(machine)
                if image is not None and record.get("image") != image:
                    continue
                if deployment is not None and record.get("deployment") != deployment:
                    continue
                if wanted is not None and record["name"] not in wanted:
                    continue
                found[cloud.name].append(record)
            found[cloud.name].sort(key=lambda r: (r["name"], str(r["id"])))
            status[cloud.name]["count"] = len(found[cloud.name])
        except Exception as exc:
            status[cloud.name] = {"status": "failed", "count": 0, "error": error_record(exc, scrub)}
        finally:
            if provider is not None:
                try:
                    provider.close()
                except Exception:
                    pass

    _in_parallel(run, cloud_objs)
    instances = []
    for cloud in cloud_objs:
        instances.extend(found[cloud.name])
    return scrub.data(instances), scrub.data(status)


# ---------------------------------------------------------------------------
# security_group
# ---------------------------------------------------------------------------

def converge_security_group(catalog, clouds, name, description=None, rules=None, purge_rules=True,
                            state="present", check_mode=False, provider_factory=None, environ=None,
                            parse_rules=None):
    """Ensure (or delete) one security group identically on each cloud, in parallel.

    ``rules`` are raw dicts; None takes the catalog's definition of ``name``.
    On a cloud without security groups nothing is pretended: the result says
    supported: false and carries the normalised rules for a host firewall.
    Returns (rules, {cloud: outcome}).
    """
    if parse_rules is None:
        from ansible_collections.slipway.cloud.plugins.module_utils.rules import parse_rules
    if state not in ("present", "absent"):
        raise DeployError("state must be present or absent, got %r" % (state,), option="state")
    if not clouds:
        raise DeployError("give cloud or clouds: the clouds to work on", option="clouds")
    definition = catalog.security_groups.get(name)
    if rules is None:
        if definition is None and state == "present":
            raise DeployError("security group %s has no rules: give rules, or define it in the catalog's "
                              "security_groups (known: %s)" % (name, ", ".join(sorted(catalog.security_groups))
                                                               or "none"), option="rules", name=name)
        wanted = tuple(definition.rules) if definition is not None else ()
    else:
        wanted = tuple(parse_rules(rules))
    if description is None:
        description = definition.description if definition is not None and definition.description else name
    factory = provider_factory or (lambda cloud: get_provider(cloud, environ))
    scrub = Scrubber()
    cloud_objs = [catalog.cloud(c) for c in clouds]
    results = {}

    def run(cloud):
        provider = None
        result = {"cloud": cloud.name, "status": "ok", "changed": False, "supported": True}
        try:
            provider = factory(cloud)
            scrub.add((getattr(provider, "credentials", None) or {}).values())
            if not _supports_groups(cloud, provider):
                result.update(supported=False, before=None, after=_rules_out(wanted))
            elif state == "present":
                outcome = _group_outcome(provider.ensure_security_group(
                    name, description, wanted, purge_rules=purge_rules, check_mode=check_mode))
                result.update(outcome)
            else:
                existing = provider.list_security_groups()
                if name in existing:
                    provider.delete_security_group(name, check_mode=check_mode)
                    result.update(changed=True, before=_rules_out(existing[name]), after=None)
                else:
                    result.update(before=None, after=None)
        except Exception as exc:
            result.update(status="failed", error=error_record(exc, scrub))
        finally:
            if provider is not None:
                try:
                    provider.close()
                except Exception:
                    pass
        results[cloud.name] = result

    _in_parallel(run, cloud_objs)
    return _rules_out(wanted), {c.name: scrub.data(results[c.name]) for c in cloud_objs}
