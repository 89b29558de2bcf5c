# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance engine behind the instance module: converge machines on several clouds at once.

A DeployRequest (validated before any cloud is touched) is planned per cloud from one listing
(planning.py), then executed with the clouds in parallel through the per-cloud fan-out (fanout.py): groups
first, removals of an exact fleet, creates, starts, the bounded wait, stops. One cloud failing never undoes
another: every cloud gets its own outcome, and the module decides how to fail after reporting them all.
No Ansible imports: the modules only shape options in and results out.
"""

from __future__ import annotations

import dataclasses
import time

from ansible_collections.slipway.cloud.plugins.module_utils.engine.fanout import (
    CloudOutcome,
    failure_message,
    for_each_cloud,
    open_providers,
    provider_opener,
)
from ansible_collections.slipway.cloud.plugins.module_utils.engine.group_converge import ensure_placement_groups
from ansible_collections.slipway.cloud.plugins.module_utils.masking import Masker
from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    MANAGED_TAG,
    NAME_TAG,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.names import TASK_ID_OPTIONS, check_options
from ansible_collections.slipway.cloud.plugins.module_utils.engine.planning import (
    STATES,
    WAITS,
    DeployError,
    extras,
    plan_cloud,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import CreatedMachines, MachinesLost
from ansible_collections.slipway.cloud.plugins.module_utils.engine.records import (
    diff_view,
    is_gone,
    machine_record,
    ordered,
    planned_record,
    sort_key,
)

RESERVED_TAGS = (MANAGED_TAG, IMAGE_TAG, DEPLOYMENT_TAG, NAME_TAG)
#: converge rounds of one cloud when another run removes machines this one waits for
CONVERGE_ROUNDS = 3


class DeployRequest:
    """Everything one instance task asks for, validated before any cloud is touched."""

    def __init__(self, clouds, image=None, names=None, state="present", size=None, security_groups=None,
                 ssh_public_key=None, wait="ssh", timeout=600, tags=None, deployment=None, exact=False,
                 check_mode=False):
        check_options(dict(clouds=clouds, image=image, deployment=deployment, security_groups=security_groups),
                      TASK_ID_OPTIONS)
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


class InstanceOutcome(CloudOutcome):
    """One cloud's part of an instance task."""

    def __init__(self, cloud):
        super(InstanceOutcome, self).__init__(cloud)
        self.changed = False
        self.plan = None
        self.machines = []            # records (dicts) of the machines the task is about
        self.removed = []             # records of removed machines
        self.security_groups = {}
        self.warnings = []
        self.done = {"create": [], "start": [], "stop": [], "remove": []}
        self.adopted = []             # names another run made at the same time (reported, not made twice)
        self.duplicates_removed = []  # [{name, id, made_by}] removed by the survivor rule
        self.before_records = []      # every live machine on the cloud before the task
        self.after_records = []       # the touched machines as they are (or would be) after it

    def to_dict(self):
        data = {
            "cloud": self.cloud,
            "status": self.status,
            "changed": self.changed,
            "planned": self.plan.summary() if self.plan else None,
            "done": {k: sorted(set(v)) for k, v in self.done.items()},
            "adopted": list(self.adopted),
            "duplicates_removed": list(self.duplicates_removed),
            "security_groups": self.security_groups,
            "seconds": self.seconds,
        }
        if self.error:
            data["error"] = self.error
        return data

    def mask(self, masker):
        super(InstanceOutcome, self).mask(masker)
        self.machines = masker.data(self.machines)
        self.warnings = [masker.text(w) for w in self.warnings]


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
        good = [c for c in self.order if c not in failed]
        tail = ("; the other clouds (%s) were converged and are reported in 'clouds' and 'instances'"
                % ", ".join(good)) if good else ""
        return failure_message([(c, self.outcomes[c].error["msg"]) for c in failed], len(self.order), tail=tail)


def converge_instances(catalog, request, provider_factory=None, environ=None):
    """Plan and execute ``request`` on each of its clouds in parallel.

    Bad input (unknown cloud or image, unsatisfiable size, a missing credential)
    fails before any cloud is touched; after that each cloud succeeds or fails
    on its own.
    """
    masker = Masker()
    clouds = [catalog.cloud(name) for name in request.clouds]
    placements = {}
    if request.state != "absent":
        for cloud in clouds:
            placements[cloud.name] = resolve_placement(catalog, request, cloud)
    providers = open_providers(clouds, provider_opener(provider_factory, environ), masker)

    def work(cloud, provider, outcome):
        _converge_cloud(catalog, request, cloud, placements.get(cloud.name), provider, outcome)

    def report_what_exists(cloud, provider, outcome):
        _report_what_exists(request, provider, outcome)

    outcomes = for_each_cloud(clouds, work, None, masker, InstanceOutcome, providers=providers,
                              on_failure=report_what_exists)
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
    outcome.machines = ordered([machine_record(m) for m in listing if m.name in wanted and not is_gone(m)],
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


def _converge_cloud(catalog, request, cloud, placement, provider, outcome):
    """Converge one cloud; again (at most CONVERGE_ROUNDS times) when another run removed machines this
    one was waiting for, so that runs at once (AWX jobs, an exact fleet of another size, an absent) each end
    with the cloud as they asked."""
    deadline = time.time() + request.timeout
    taken_over = set()
    for round_number in range(1, CONVERGE_ROUNDS + 1):
        try:
            _converge_round(catalog, request, cloud, placement, provider, outcome, deadline, taken_over)
            return
        except MachinesLost as lost:
            if round_number == CONVERGE_ROUNDS or time.time() >= deadline:
                raise
            outcome.warnings.append("%s (another run removed them meanwhile); converging cloud %s again"
                                    % (lost.msg, cloud.name))
            # This run's machines of those names are gone: whatever the next round keeps of them, another
            # run made (a name made again by this run goes back to done.create then).
            lost_names = set(lost.details.get("machines") or ())
            outcome.done["create"] = [n for n in outcome.done["create"] if n not in lost_names]
            taken_over |= lost_names


def _converge_round(catalog, request, cloud, placement, provider, outcome, deadline, taken_over=()):
    listing = provider.list_machines()
    plan = plan_cloud(cloud.name, listing, request.names, request.state, deployment=request.deployment,
                      exact=request.exact, image=request.image)
    outcome.adopted += sorted(m.name for m in plan.keep if m.name in taken_over and m.name not in outcome.adopted)
    if outcome.plan is None:
        outcome.plan = plan
        outcome.warnings.extend(plan.warnings)
        outcome.before_records = [machine_record(m) for m in listing if not is_gone(m)]
    else:
        outcome.plan.absorb(plan)

    wanted = set(request.names or [])
    if request.state == "absent":
        outcome.changed = bool(plan.remove)
        if plan.remove and not request.check_mode:
            provider.destroy_machines(plan.remove)
            outcome.done["remove"] += [m.name for m in plan.remove]
        if request.names is None and request.deployment and not request.check_mode:
            try:
                provider.clear_create_marks(request.deployment)
            except ProviderError as exc:        # the machines are gone; a mark left ages out
                outcome.warnings.append("cloud %s: create marks of deployment %s not removed: %s"
                                        % (cloud.name, request.deployment, exc.msg))
        outcome.removed = [machine_record(m) for m in plan.remove]
        outcome.machines = []
        return

    # Groups first: a machine must never come up without its firewall.
    if plan.create:
        outcome.security_groups = ensure_placement_groups(catalog, placement, provider, request.check_mode)
        # On a cloud sized by its own flavors, the flavor is chosen now, so that check mode shows it too.
        placement = provider.sized_placement(placement)

    if request.check_mode:
        outcome.changed = plan.changes
        records = [machine_record(m, None) for m in plan.keep]
        records += [dict(machine_record(m), state="running") for m in plan.start]
        records += [dict(machine_record(m), state="stopped") for m in plan.stop]
        for name in plan.create:
            records.append(planned_record(cloud.name, name, placement, request.state, request.deployment,
                                          request.machine_tags()))
        outcome.machines = ordered(records, request.names)
        outcome.removed = [machine_record(m) for m in plan.remove]
        outcome.after_records = outcome.machines
        return

    # Until it is known what another run made meanwhile, a failure half-way reports what was planned.
    outcome.changed = outcome.changed or plan.changes
    # Removals of an exact fleet go first so a smaller quota still fits the new machines.
    if plan.remove:
        provider.destroy_machines(plan.remove)
        outcome.done["remove"] += [m.name for m in plan.remove]
        outcome.removed += [machine_record(m) for m in plan.remove]
    records = {}
    waiting = []
    created = None
    # What this run keeps that another run made moments ago may lose to a create of the same names asked
    # before it and still in flight: the survivor is reported.
    kept = provider.settle_kept(plan.keep, request.deployment) if plan.keep else ()
    _note_duplicates(outcome, kept)
    for machine in kept:
        records[machine.name] = machine
        if (machine.state or "").lower() == "pending" and request.state != "stopped":
            waiting.append(machine)
    for machine in plan.stop:
        records[machine.name] = machine
    if plan.create:
        created = provider.create_machines(placement, list(plan.create), request.ssh_public_key,
                                           request.machine_tags())
        _note_create(outcome, created)
        for machine in created:
            records[machine.name] = machine
        waiting.extend(created)
    if plan.start:
        provider.start_machines(plan.start)
        outcome.done["start"] += [m.name for m in plan.start]
        for machine in plan.start:
            records[machine.name] = machine
        waiting.extend(plan.start)
    if waiting and request.wait:
        remaining = max(deadline - time.time(), 1.0)
        waited = provider.wait_machines(waiting, "ssh" if request.wait == "ssh" else "running", remaining)
        for machine in (waited if isinstance(waited, list) else waiting):
            records[machine.name] = machine
    if isinstance(created, CreatedMachines) and getattr(provider, "survivor_rule", False) and created.second_look:
        # The survivor rule once more, after the waits: another run's create of the same moment may only
        # be listed now (without create marks, given the time to land that this run's own create took).
        time.sleep(created.settle_pause())
        provider.settle_names(created, request.deployment)
        _note_create(outcome, created, settled=True)
        late = [m for m in created if records.get(m.name) is not None and records[m.name].id != m.id]
        for machine in created:
            records[machine.name] = machine
        if late and request.wait:
            provider.wait_machines(late, "ssh" if request.wait == "ssh" else "running",
                                   max(deadline - time.time(), 1.0))
    fresh = None
    to_stop = list(plan.stop)
    if plan.stop_after_create:
        to_stop += [records[n] for n in plan.create]
    if to_stop:
        provider.stop_machines(to_stop)
        outcome.done["stop"] += [m.name for m in to_stop]
    made = set(plan.create)
    if request.exact or plan.start or to_stop or any(records[n].address is None for n in made if n in records):
        fresh = [m for m in provider.list_machines() if not is_gone(m)]
    if request.exact:
        # Another exact run of this deployment may have added machines since the listing above.
        late = [m for m in extras(fresh, wanted, request.deployment) if m.id not in {r.id for r in records.values()}]
        if late:
            provider.destroy_machines(late)
            outcome.done["remove"] += [m.name for m in late]
            outcome.removed += [machine_record(m) for m in late]
    if fresh is not None:
        _refresh(records, fresh)
    outcome.changed = bool(outcome.done["create"] or outcome.done["start"] or outcome.done["stop"]
                           or outcome.done["remove"] or any(d["made_by"] == "another run"
                                                            for d in outcome.duplicates_removed))
    outcome.machines = ordered(
        [machine_record(records[n], placement if n in plan.create else None) for n in records if n in wanted],
        request.names)
    outcome.after_records = outcome.machines


def _note_duplicates(outcome, settled):
    """The machines the survivor rule removed (``settled``: a CreatedMachines), each once, with who made it."""
    known = {d["id"] for d in outcome.duplicates_removed}
    for machine in getattr(settled, "duplicates_removed", ()):
        if machine.id not in known:
            outcome.duplicates_removed.append({"name": machine.name, "id": machine.id, "made_by": (
                "another run" if settled.made_elsewhere(machine) else "this run")})


def _note_create(outcome, created, settled=False):
    """What a create did, as the result says it: the names this run made, those another run made at the
    same time (reported, not made twice), and the duplicates the survivor rule removed. ``settled``: the
    second look when the run ends (the names' makers may have changed since)."""
    adopted = set(getattr(created, "adopted", ()))
    if not settled:
        outcome.done["create"] += [m.name for m in created if m.name not in adopted]
    else:
        outcome.done["create"] = [n for n in outcome.done["create"] if n not in adopted]
    outcome.warnings.extend(w for w in getattr(created, "warnings", ()) if w not in outcome.warnings)
    fresh = sorted(adopted - set(outcome.adopted))
    outcome.adopted += fresh
    _note_duplicates(outcome, created)
    if fresh:
        outcome.warnings.append("cloud %s: machine(s) %s were made by another run at the same time; this run "
                                "reports them and keeps no second one" % (outcome.cloud, ", ".join(fresh)))


def _refresh(records, fresh):
    """Refresh states and addresses from one listing; timings and host keys (known only from our own
    calls) are kept."""
    latest_by_name = {m.name: m for m in sorted(fresh, key=sort_key, reverse=True)}
    for name, machine in list(records.items()):
        latest = latest_by_name.get(name)
        if latest is not None and latest.id == machine.id:
            latest.timings = dict(latest.timings or {}, **(machine.timings or {}))
            latest.host_keys = latest.host_keys or machine.host_keys
            for attr in ("image", "login_user", "flavor", "cpu", "ram_gb", "image_id", "public_ip", "private_ip"):
                if getattr(latest, attr, None) is None:
                    setattr(latest, attr, getattr(machine, attr, None))
            records[name] = latest
