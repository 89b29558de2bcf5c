# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provider interface, and every algorithm that is the same on all clouds.

As libcloud's NodeDriver does ``wait_until_running`` once for every driver, ``Provider`` holds the
shared algorithms as template methods: option and credential checks, fleet name checks, the create
sequence (tags, image lookup, key), the bounded wait, image lookup newest-first, and the
security-group converge (diff, purge, check mode, before/after). A family subclasses it and writes
only its cloud's primitives, the methods marked "primitive" below (docs/providers.md, "Adding a cloud
family"). Modules, the inventory plugin and the report speak only this interface. No Ansible imports.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import os
import time

from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    LOGIN_USER_TAG,
    MANAGED_TAG,
    NAME_TAG,
    REQUEST_TAG,
    ProviderError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.names import check_machine_names
from ansible_collections.slipway.cloud.plugins.module_utils.providers.settings import check_options, credential_source, resolve_credentials
from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import (
    CreatedMachines,
    new_request_token,
    request_time,
    survivor_key,
    token_time,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.waiting import (
    poll_until,
    probe_ssh,
    timeout_error,
)
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import canonical, diff_rules, parse_rules
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.sizing import choose_flavor, flavor_drift
from ansible_collections.slipway.cloud.plugins.module_utils.ssh_keys import parse_public_key

#: options every family reads (a family declares its own in OPTIONS)
COMMON_OPTIONS = {
    "ssh_probe": bool,          # false: wait=ssh is refused (clouds whose addresses must not be probed)
    "survivor_rule": bool,      # false: no listing after a create (only one run ever creates on this cloud)
}
#: libcloud / EC2 / Exoscale state words -> pending, running, stopping, stopped, terminated, unknown
_STATES = {
    "running": "running", "active": "running", "migrating": "running",
    "pending": "pending", "starting": "pending", "rebooting": "pending", "reconfiguring": "pending",
    "build": "pending", "creating": "pending",
    "stopping": "stopping",
    "stopped": "stopped", "suspended": "stopped", "paused": "stopped", "shutoff": "stopped",
    "terminated": "terminated", "shutting-down": "terminated", "terminating": "terminated",
    "destroying": "terminated", "expunging": "terminated", "destroyed": "terminated", "deleted": "terminated",
}


def normalise_state(value):
    """A cloud's state word as one of pending, running, stopping, stopped, terminated, unknown."""
    return _STATES.get(str(value or "").lower(), "unknown")


def parse_timestamp(text):
    """An ISO 8601 time ("2024-05-01T12:00:00.000Z") as epoch seconds, or None."""
    if not text:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.datetime.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


@dataclasses.dataclass
class LaunchRequest:
    """What a family's ``launch`` primitive makes: one machine per name, all alike."""

    placement: object                  # model.Placement, image_id resolved
    names: list
    public_key: object                 # ssh_keys.PublicKey or None
    tags: dict                         # every slipway:* and user tag, without the per-name ones
    token: str                         # this request's slipway:request value

    def tags_for(self, name):
        """The tags of the machine named ``name``."""
        return dict(self.tags, **{NAME_TAG: name})

    def stamp(self):
        """Date the request now: a family calls it right before its create call, so that the survivor rule
        orders runs at once by when each really asked (their preparation calls take their own time)."""
        self.token = new_request_token()
        self.tags[REQUEST_TAG] = self.token
        return self


@dataclasses.dataclass
class SecurityGroup:
    """A group as a family's ``group_index`` primitive reads it."""

    name: str
    id: str
    rules: tuple = ()                  # canonical Rules slipway can express (others are left alone)
    handles: dict = dataclasses.field(default_factory=dict)   # Rule -> [the cloud's rule ids]
    description: str = ""


class MachinesLost(ProviderError):
    """Machines a wait was for were terminated or vanished meanwhile (another run may have removed them)."""


class Provider:
    """One cloud of the catalog. Subclasses set ``family`` and write the primitives."""

    family = None
    #: what the cloud can do: "security_groups", "stop_start", "host_keys", "image_lookup"
    capabilities = frozenset()
    #: {option: type or (types)} the family reads from the catalog's ``options`` (beside COMMON_OPTIONS)
    OPTIONS = {}
    #: ((credential, ENV_VAR), ...) used when the catalog names none
    DEFAULT_CREDENTIALS = ()
    #: True: a credential variable that is not set is left out (the family checks what its auth needs)
    CREDENTIALS_OPTIONAL = False
    #: keys an image lookup may have (empty: the family cannot look images up by name)
    LOOKUP_KEYS = ()
    LOOKUP_EXAMPLE = "{name: 'debian-12-*'}"
    OWNER_WORD = "owned by"
    #: the wait's poll interval, growing from the first to the second value (seconds)
    POLL_INTERVALS = (0.5, 5.0)
    SSH_PROBE_TIMEOUT = 2.0
    #: listings in a row that may lack a machine before the wait calls it gone (clouds list late)
    MISSES_BEFORE_GONE = 3
    #: list after creating and keep one machine per name (a family whose create cannot duplicate turns it off)
    SURVIVOR_RULE = True
    #: the family writes the create-mark primitives (put_create_mark, create_marks, delete_create_mark)
    CREATE_MARKS = False
    #: seconds a create mark of another run counts as in flight; an older one is from a run that died or
    #: hangs: ignored, and removed by the run that sees it
    CREATE_MARK_TTL = 60.0

    def __init__(self, cloud, environ=None):
        environ = os.environ if environ is None else environ
        if not cloud.credentials and self.DEFAULT_CREDENTIALS:
            cloud = dataclasses.replace(cloud, credentials=tuple(self.DEFAULT_CREDENTIALS))
        self.cloud = cloud
        self.environ = environ
        check_options(cloud, dict(COMMON_OPTIONS, **self.OPTIONS))
        self.credentials = resolve_credentials(cloud, environ, optional=self.CREDENTIALS_OPTIONAL)
        self.caller = None             # a family that calls an API sets a calls.Caller
        self._image_cache = {}
        self.created_ids = set()       # machines this provider created (a failed one of them is removed)
        self.survivor_rule = self.SURVIVOR_RULE and cloud.option("survivor_rule", True)
        self.marks_creates = self.survivor_rule and self.CREATE_MARKS

    @property
    def retries(self):
        """Transient failures retried so far by this provider's calls."""
        return self.caller.retries if self.caller is not None else 0

    def credential(self, names, required=True):
        """The value of the first of ``names`` the catalog maps to a variable; one clear error when none."""
        for name in names:
            if self.credentials.get(name):
                return self.credentials[name]
        if required:
            raise ProviderError(
                "cloud %s: the catalog names no environment variable for the %s credential %r "
                "(credentials: {%s: ENV_VAR_NAME})" % (self.cloud.name, self.family, names[0], names[0]),
                cloud=self.cloud.name, key="credentials." + names[0])
        return None

    @property
    def credential_variables(self):
        """The environment variables this cloud's credentials come from (named in auth errors)."""
        return [variable for dummy, variable in self.cloud.credentials]

    @property
    def credential_source(self):
        """Where this cloud's credentials were read from, for auth errors (variables, or the credentials
        option, never a value)."""
        return credential_source(self.credential_variables, self.environ)

    # -- machines: primitives --------------------------------------------------
    def list_machines(self):
        """Primitive: every machine tagged slipway:managed on this cloud, in one listing where possible."""
        raise NotImplementedError

    def launch(self, request):
        """Primitive: create one machine per ``request.names`` (a LaunchRequest), in one call where the
        API allows, each tagged ``request.tags_for(name)``; a retried call looks for ``request.token``
        first so that a lost answer never makes a duplicate. Returns Machines in the names' order."""
        raise NotImplementedError

    def refresh_machines(self, machines):
        """Primitive: update ``machines`` in place (state, addresses, ``fault``) from the cloud; returns
        the ids the cloud still knows. A machine the cloud reports as failed gets ``fault`` set."""
        raise NotImplementedError

    def destroy_machines(self, machines):
        """Primitive."""
        raise NotImplementedError

    def start_machines(self, machines):
        """Primitive."""
        raise NotImplementedError

    def stop_machines(self, machines):
        """Primitive."""
        raise NotImplementedError

    def name_candidates(self, names, deployment):
        """Primitive with a default: the live machines that may share one of ``names`` in ``deployment``
        (the survivor rule's look). The default lists every managed machine; a family with a cheaper query
        for "which names have more than one machine" returns just those machines."""
        return [m for m in self.list_machines() if m.name in names and m.deployment == deployment]

    # -- create marks: primitives of a family with CREATE_MARKS -------------------------------
    # Without them the engine pauses before its second look instead (CreatedMachines.settle_pause).
    def put_create_mark(self, deployment, mark_id):
        """Primitive: put on the cloud a mark, listed by other runs' ``create_marks`` once this returns,
        that a create of ``deployment`` is in flight; return what ``delete_create_mark`` takes. ``mark_id``
        is a ``new_request_token`` (survivors.mark_name makes the name)."""
        raise NotImplementedError

    def create_marks(self, deployment):
        """Primitive: {mark_id: handle} of the marks of ``deployment`` now on the cloud."""
        raise NotImplementedError

    def delete_create_mark(self, handle):
        """Primitive: remove one mark; one already gone is no error."""
        raise NotImplementedError

    def machines_ready(self, machines):
        """Hook called once a wait succeeded (a family that keeps timings itself records them)."""

    def wait_hint(self, machines, until):
        """Hook: text added to the timeout error for ``machines`` (what to check)."""
        return ""

    # -- machines: shared algorithms ---------------------------------------------
    def fleet_names(self, placement, names):
        """``names`` as a list, checked as every fleet create needs: unique, and a flavor to size them."""
        names = check_machine_names(names, where=self.cloud.name)
        if names and not placement.flavor:
            raise ProviderError("cloud %s (provider %s) needs a flavor (instance type) for image %s"
                                % (self.cloud.name, self.family, placement.image), cloud=self.cloud.name)
        return names

    def creation_tags(self, placement, tags):
        """The tags every machine of one create carries (the per-name ones come from LaunchRequest)."""
        common = {str(k): str(v) for k, v in (tags or {}).items()}
        common.setdefault(MANAGED_TAG, "true")
        common.setdefault(IMAGE_TAG, placement.image)
        if placement.login_user:
            common.setdefault(LOGIN_USER_TAG, placement.login_user)
        common[REQUEST_TAG] = new_request_token()
        return common

    def create_machines(self, placement, names, ssh_public_key, tags):
        """Create one machine per name; returns a CreatedMachines list (state may still be pending) with
        timings["requested_at"] set. The template: checks, image lookup, tags, then ``launch``. Runs at
        once may each create a name: ``settle_names`` (the survivor rule) then keeps one per name."""
        placement = self.sized_placement(placement)
        names = self.fleet_names(placement, names)
        if not names:
            return CreatedMachines()
        if not placement.image_id:
            placement = dataclasses.replace(placement, image_id=self.resolve_image_lookup(placement.image_lookup))
        public_key = parse_public_key(ssh_public_key) if ssh_public_key else None
        deployment = (tags or {}).get(DEPLOYMENT_TAG)        # as the machines' tag has it (a str or None)
        # The mark goes up before the request token is made, so a create asked after another run's look
        # at the marks is also dated after it, and loses to what that run saw (survivors.survivor_key).
        mark = self.put_create_mark(deployment, new_request_token()) if self.marks_creates else None
        try:
            common = self.creation_tags(placement, tags)
            request = LaunchRequest(placement, names, public_key, common, common[REQUEST_TAG])
            requested_at = time.time()
            machines = self.launch(request)
        finally:
            unmarked = self._delete_own_mark(mark)
        self.created_ids.update(m.id for m in machines)
        by_name = {m.name: m for m in machines}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ProviderError("cloud %s did not return machines %s after creating them"
                                % (self.cloud.name, ", ".join(missing)), cloud=self.cloud.name, names=missing)
        for machine in machines:
            machine.tags = dict(request.tags_for(machine.name), **(machine.tags or {}))
            machine.image = placement.image
            machine.image_id = machine.image_id or placement.image_id
            machine.flavor = machine.flavor or placement.flavor
            machine.login_user = placement.login_user or machine.login_user
            machine.deployment = common.get(DEPLOYMENT_TAG)
            machine.timings.setdefault("requested_at", requested_at)
        created = CreatedMachines([by_name[n] for n in names], token=request.token, asked_at=requested_at,
                                  answered_at=time.time(), marked=self.marks_creates)
        if unmarked is not None:
            created.warnings.append(unmarked)
        # A machine that carries another run's request tag was made by that run: the cloud answered this
        # run's create with it (EC2's ClientToken, the local cloud's lock).
        created.adopted.extend(m.name for m in created if created.made_elsewhere(m))
        if created.marked:
            created.others_in_flight = self.await_other_creates(deployment)
        return self.settle_names(created, deployment)

    def _delete_own_mark(self, mark):
        """Remove this run's create mark; a failure is a warning (the mark ages out), never a failed create."""
        if mark is None:
            return None
        try:
            self.delete_create_mark(mark)
        except ProviderError as exc:
            return ("cloud %s: could not remove this run's create mark (%s); other runs ignore it after %d s"
                    % (self.cloud.name, exc.msg, self.CREATE_MARK_TTL))
        return None

    def clear_create_marks(self, deployment):
        """Remove every create mark of ``deployment`` (its absent: a killed run's mark goes with its machines;
        a create of it still in flight races the absent anyway)."""
        if self.marks_creates:
            for handle in self.create_marks(deployment).values():
                self.delete_create_mark(handle)

    def await_other_creates(self, deployment):
        """Wait until the creates other runs of ``deployment`` have in flight (their create marks) have
        landed, at most until those marks are CREATE_MARK_TTL old; returns the mark ids seen. Any create
        asked before this look then is listed by the survivor rule's look; any asked after it is dated
        later than this run's and loses to it. Marks past the TTL are removed (their run died)."""
        seen = set()

        def none_in_flight():
            live = {}
            for mark_id, handle in self.create_marks(deployment).items():
                made = token_time(mark_id)
                if made is None or time.time() - made > self.CREATE_MARK_TTL:
                    try:
                        self.delete_create_mark(handle)
                    except ProviderError:
                        pass        # another run removed it first, or may not; it is ignored either way
                else:
                    live[mark_id] = made
            seen.update(live)
            return not live

        poll_until(none_in_flight, self.CREATE_MARK_TTL, 0.2, 2.0)
        return sorted(seen)

    def settle_kept(self, machines, deployment):
        """The survivor rule for machines a run keeps without creating them, where another run made them
        moments ago (within CREATE_MARK_TTL): a create of the same names asked before theirs may still be in
        flight, and its machine would survive. Waits for the creates other runs have in flight, then keeps
        the survivor of each such name; returns ``machines`` with the survivors in place (a CreatedMachines
        whose ``duplicates_removed`` are the others). Only on families with create marks (without them,
        the waits' MachinesLost makes a run converge again)."""
        now = time.time()
        recent = [m for m in machines if now - (request_time(m) or 0.0) < self.CREATE_MARK_TTL]
        if not (recent and self.marks_creates):
            return CreatedMachines(machines)
        self.await_other_creates(deployment)
        settled = self.settle_names(CreatedMachines(recent), deployment)
        survivors = {m.name: m for m in settled}
        kept = CreatedMachines([survivors.get(m.name, m) for m in machines])
        kept.duplicates_removed = settled.duplicates_removed
        return kept

    def settle_names(self, created, deployment):
        """One machine per name in the deployment, whichever run made it (the survivor rule).

        Runs of the same task at once (AWX jobs, two operators) each create the names they did not see.
        Every run then lists those names and keeps, for each, the same survivor (``survivor_key``: the
        create asked first); the others are removed, whichever run made them. ``created``
        (CreatedMachines, one per name) is updated in place and returned: a name whose survivor another
        run made is ``adopted``. ``create_machines`` settles right after creating; the engine settles
        again when its waits are over, for another run's create of the same moment that was not listed yet.
        The look is the family's ``name_candidates``.
        """
        if not self.survivor_rule or not created:
            return created
        held = {m.id for m in created}
        by_name = {m.name: [m] for m in created}
        for machine in self.name_candidates(list(by_name), deployment):
            if (machine.name in by_name and machine.id not in held and machine.deployment == deployment
                    and normalise_state(machine.state) not in ("terminated", "unknown")):
                by_name[machine.name].append(machine)
        losers = []
        for index, machine in enumerate(list(created)):
            candidates = sorted(by_name[machine.name], key=survivor_key)
            survivor = candidates[0]
            losers.extend(candidates[1:])
            if survivor.id != machine.id:
                created[index] = survivor
            if created.made_elsewhere(created[index]) and machine.name not in created.adopted:
                created.adopted.append(machine.name)
        if losers:
            self.destroy_machines(losers)
            created.duplicates_removed.extend(losers)
        return created

    def check_wait(self, until):
        """One clear error for a wait this cloud cannot do: ``until`` must be running or ssh, and
        ssh needs a cloud whose addresses may be probed (``options.ssh_probe``)."""
        if until not in ("running", "ssh"):
            raise ProviderError("wait must be running or ssh, got %r" % (until,), option="wait")
        if until == "ssh" and not self.cloud.option("ssh_probe", True):
            raise ProviderError("cloud %s does not offer SSH to probe (options.ssh_probe is false); "
                                "wait for running instead" % self.cloud.name, cloud=self.cloud.name, option="wait")

    def wait_machines(self, machines, until, timeout):
        """Wait, bounded by ``timeout`` seconds, until each machine is running (``until="running"``) or
        answers SSH (``until="ssh"``). Fills timings running_at / ssh_ready_at and addresses. Raises one
        ProviderError naming the machines that failed, vanished or did not get there in time."""
        self.check_wait(until)
        machines = list(machines)
        misses = {m.id: 0 for m in machines}
        for machine in machines:
            # Readiness seen before (an earlier wait, before a stop or reboot) is not readiness now.
            if until == "ssh":
                machine.timings.pop("ssh_ready_at", None)
            if machine.state != "running":
                machine.timings.pop("running_at", None)

        def done(machine):
            return machine.state == "running" if until == "running" else "ssh_ready_at" in machine.timings

        def check():
            stale = [m for m in machines if m.state != "running" or (until == "ssh" and not m.address)]
            if stale:
                known = set(self.refresh_machines(stale))
                for machine in stale:
                    misses[machine.id] = 0 if machine.id in known else misses[machine.id] + 1
            self._raise_for_lost(machines, misses)
            now = time.time()
            for machine in machines:
                if machine.state == "running":
                    machine.timings.setdefault("running_at", now)
            if until == "ssh":
                ready = [m for m in machines if m.state == "running" and "ssh_ready_at" not in m.timings]
                for machine_id, banner in probe_ssh(ready, timeout=self.SSH_PROBE_TIMEOUT).items():
                    if banner:
                        next(m for m in ready if m.id == machine_id).timings["ssh_ready_at"] = time.time()
            return all(done(m) for m in machines)

        if not poll_until(check, timeout, *self.POLL_INTERVALS):
            late = [m for m in machines if not done(m)]
            raise timeout_error(self.cloud.name, until, timeout, late, self.wait_hint(late, until))
        self.machines_ready(machines)
        return machines

    def _raise_for_lost(self, machines, misses):
        failed = [m for m in machines if getattr(m, "fault", None)]
        if failed:
            raise ProviderError("cloud %s: machine(s) failed while waiting for them: %s%s" % (
                self.cloud.name, "; ".join("%s: %s" % (m.name, m.fault) for m in failed), self._remove_failed(failed)),
                cloud=self.cloud.name, machines=[m.name for m in failed])
        for verb, lost in (("terminated", [m for m in machines if m.state == "terminated"]),
                           ("gone", [m for m in machines if misses[m.id] >= self.MISSES_BEFORE_GONE])):
            if lost:
                raise MachinesLost("cloud %s: machine(s) %s while waiting for them: %s"
                                   % (self.cloud.name, verb, ", ".join(m.name for m in lost)),
                                   cloud=self.cloud.name, machines=[m.name for m in lost])

    def _remove_failed(self, failed):
        """Remove the failed machines this provider created, and say so (text for the error).

        Here, for every cloud: a machine that never came up is of no use, it holds quota, and a re-run would
        list its name as taken and keep it; removing it makes the re-run create it again. A failed machine
        this run did not create (one it started) stays: it may hold someone's data.
        """
        ours = [m for m in failed if m.id in self.created_ids]
        if not ours:
            return ""
        try:
            self.destroy_machines(ours)
        except ProviderError as exc:
            return "; removing them failed too: %s" % exc.msg
        return "; removed %s, which this run created, so that nothing is left (a later run creates %s again)" % (
            ", ".join(m.name for m in ours), "them" if len(ours) > 1 else "it")

    # -- sizes ------------------------------------------------------------------------------------
    def list_sizes(self):
        """Primitive with a default: the cloud's own sizes as [model.Flavor] (its figures, its names)."""
        raise ProviderError("cloud %s (provider %s) cannot list its sizes" % (self.cloud.name, self.family),
                            cloud=self.cloud.name, supported=False)

    def size_name(self, flavor):
        """Hook: the name under which the cloud lists the catalog's flavor ``flavor`` (Exoscale: Tiny ->
        standard.tiny)."""
        return flavor

    def size_drift(self):
        """(the cloud's flavors, the drift of the catalog's table from them): see sizing.flavor_drift."""
        live = self.list_sizes()
        return live, flavor_drift(self.cloud.flavors, live, self.size_name)

    def sized_placement(self, placement):
        """``placement`` with its flavor chosen from the flavors the cloud lists, on a cloud whose catalog entry
        says ``sizing: cloud`` (the same rule as for a table: the smallest that fits); as it is elsewhere."""
        if self.cloud.sizing != "cloud" or (placement.flavor and placement.cpu is not None):
            return placement
        where = "the flavors cloud %s lists (sizing: cloud)" % self.cloud.name
        table = dataclasses.replace(self.cloud, sizing="table", flavors=tuple(self.list_sizes()))
        choice = choose_flavor(table, cpu=placement.cpu, ram_gb=placement.ram_gb, flavor=placement.flavor,
                               source=where)
        sources = dict(placement.sources, flavor="chosen from " + where)
        return dataclasses.replace(placement, flavor=choice.flavor_name, cpu=choice.cpu, ram_gb=choice.ram_gb,
                                   sources=tuple(sources.items()))

    # -- images ---------------------------------------------------------------------------------
    def search_images(self, lookup):
        """Primitive: images matching a checked ``lookup``, as dicts with at least id, name and
        creation_date (ISO text), in any order; ``build`` breaks ties between equal dates."""
        raise NotImplementedError

    def lookup_scope(self, lookup):
        """Primitive hook: what was searched, for the no-match error ("available image in us-east-1")."""
        return "image"

    def find_images(self, lookup):
        """Images matching {"name": glob, ...} (the family's LOOKUP_KEYS), newest first."""
        if not self.LOOKUP_KEYS:
            raise ProviderError("cloud %s (%s) cannot look images up by name; give image_id in the catalog"
                                % (self.cloud.name, self.family), cloud=self.cloud.name, key="image_lookup")
        if not isinstance(lookup, dict) or not lookup.get("name"):
            raise ProviderError("cloud %s: an image lookup needs at least a name pattern, e.g. %s; got %r"
                                % (self.cloud.name, self.LOOKUP_EXAMPLE, lookup), cloud=self.cloud.name,
                                key="image_lookup")
        unknown = sorted(set(lookup) - set(self.LOOKUP_KEYS))
        if unknown:
            raise ProviderError("cloud %s: unknown image lookup key(s) %s; valid: %s"
                                % (self.cloud.name, ", ".join(unknown), ", ".join(self.LOOKUP_KEYS)),
                                cloud=self.cloud.name, key="image_lookup")
        images = [i for i in self.search_images(lookup) if fnmatch.fnmatchcase(i.get("name") or "", lookup["name"])]
        images.sort(key=lambda i: (parse_timestamp(i.get("creation_date")) or 0, str(i.get("build") or ""),
                                   i.get("name") or "", str(i.get("id") or "")), reverse=True)
        return images

    def resolve_image_lookup(self, lookup):
        """Native image id for a lookup: the newest match wins; cached for the provider's life (one run)."""
        if not lookup:
            raise ProviderError("cloud %s: the image has neither an image_id nor an image lookup for this cloud"
                                % self.cloud.name, cloud=self.cloud.name)
        key = repr(sorted(lookup.items())) if isinstance(lookup, dict) else repr(lookup)
        if key not in self._image_cache:
            images = self.find_images(lookup)
            if not images:
                raise ProviderError("cloud %s: no %s matches name %r%s" % (
                    self.cloud.name, self.lookup_scope(lookup), lookup["name"],
                    " %s %s" % (self.OWNER_WORD, lookup["owner"]) if lookup.get("owner") else ""),
                    cloud=self.cloud.name, lookup=dict(lookup))
            self._image_cache[key] = images[0]["id"]
        return self._image_cache[key]

    # -- security groups: primitives --------------------------------------------------
    def group_index(self):
        """Primitive: {name: SecurityGroup} of every group on the cloud (one listing where possible)."""
        raise NotImplementedError

    def create_group(self, name, description):
        """Primitive: create an empty group (a retry finds one made by a lost answer); returns its id."""
        raise NotImplementedError

    def add_rules(self, group, rules, index):
        """Primitive: add ``rules`` to ``group`` (a SecurityGroup); ``index`` resolves group sources.
        A rule that is already there (a lost answer, a parallel run) counts as added."""
        raise NotImplementedError

    def remove_rules(self, group, rules, index):
        """Primitive: remove ``rules`` from ``group``; one already gone counts as removed."""
        raise NotImplementedError

    def delete_group(self, group):
        """Primitive: delete ``group``; one already gone counts as deleted."""
        raise NotImplementedError

    def storable_rule(self, rule, where):
        """Hook: ``rule`` as this cloud stores it (so a re-read compares unchanged)."""
        return rule

    # -- security groups: shared algorithms ---------------------------------------------
    def list_security_groups(self):
        """{name: [Rule, ...]} for every group on the cloud."""
        return {name: list(group.rules) for name, group in self.group_index().items()}

    def ensure_security_group(self, name, description, rules, purge_rules=True, check_mode=False):
        """Make the group exist with ``rules``; rules not wanted are removed when ``purge_rules``.

        Returns {"changed", "before" ([Rule] or None), "after", "id"}.
        """
        where = "security group %s" % name
        wanted = canonical(self.storable_rule(r, where) for r in parse_rules(rules, where=where + " rules"))
        index = self.group_index()
        referenced = sorted({r.source[len("group:"):] for r in wanted if r.source.startswith("group:")})
        unknown = [g for g in referenced if g not in index and g != name]
        if unknown:
            raise ProviderError("cloud %s: security group %s has rules from group(s) %s, which do not exist%s"
                                % (self.cloud.name, name, ", ".join(unknown), self.group_scope()),
                                cloud=self.cloud.name, security_group=name, missing=unknown)
        existing = index.get(name)
        if existing is None:
            if check_mode:
                return {"changed": True, "before": None, "after": list(wanted), "id": None}
            existing = SecurityGroup(name, self.create_group(name, description), (), {}, description or "")
            index[name] = existing
            if wanted:
                self.add_rules(existing, wanted, index)
            return {"changed": True, "before": None, "after": list(wanted), "id": existing.id}
        current = canonical(existing.rules)
        to_add, to_remove = diff_rules(current, wanted)
        if not purge_rules:
            to_remove = ()
        if not check_mode:
            if to_remove:
                self.remove_rules(existing, tuple(to_remove), index)
            if to_add:
                self.add_rules(existing, tuple(to_add), index)
        after = canonical((set(current) - set(to_remove)) | set(to_add))
        return {"changed": bool(to_add or to_remove), "before": list(current), "after": list(after),
                "id": existing.id}

    def group_scope(self):
        """Hook: where groups live, for errors (" in VPC vpc-123")."""
        return ""

    def delete_security_group(self, name, check_mode=False):
        group = self.group_index().get(name)
        if group is None:
            return {"changed": False, "before": None, "after": None}
        if not check_mode:
            self.delete_group(group)
        return {"changed": True, "before": list(canonical(group.rules)), "after": None}

    def group_ids(self, names):
        """The ids of these groups, in order; a name the cloud lacks is one clear error."""
        if not names:
            return []
        index = self.group_index()
        missing = [n for n in names if n not in index]
        if missing:
            raise ProviderError(
                "cloud %s: security group(s) %s do not exist%s; define them in the catalog (they are ensured "
                "before machines are created) or create them on the cloud"
                % (self.cloud.name, ", ".join(missing), self.group_scope()),
                cloud=self.cloud.name, security_groups=missing)
        ids = []
        for name in names:
            if index[name].id not in ids:
                ids.append(index[name].id)
        return ids

    def close(self):
        """Release connections; safe to call twice."""


def provider_class(family):
    """The provider class of a cloud's ``provider`` family (families.py, the registry)."""
    # Imported here: families.py imports every family, and each family imports this file.
    from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # pylint: disable=import-outside-toplevel

    return families.provider_class(family)


def get_provider(cloud, environ=None):
    """The provider for ``cloud``."""
    return provider_class(cloud.provider)(cloud, environ)
