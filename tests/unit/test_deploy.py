# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and diff logic of the converge engine (deploy.py).

An in-memory provider stands in for a cloud here only to check planning,
diffs, check mode and per-cloud error handling; every behaviour is also shown
on moto and on the local cloud by tests/integration/modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import threading

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.engine import deploy, group_converge, listing, planning
from ansible_collections.slipway.cloud.plugins.module_utils import masking
from ansible_collections.slipway.cloud.plugins.module_utils.model import (
    DEPLOYMENT_TAG,
    IMAGE_TAG,
    MANAGED_TAG,
    Cloud,
    Machine,
    Placement,
    ProviderError,
    Rule,
    SlipwayError,
)
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import Provider

SECRET = "FAKEsecretVALUE0123456789abcdefSLIPWAY"


def machine(name, state="running", deployment="d1", image="debian-12", mid=None, cloud="c1"):
    return Machine(cloud=cloud, name=name, id=mid or "i-" + name, state=state, image=image,
                   deployment=deployment, tags={MANAGED_TAG: "true", DEPLOYMENT_TAG: deployment or "",
                                                IMAGE_TAG: image})


# ---------------------------------------------------------------- names

def test_expand_names_count_pattern():
    assert planning.expand_names(count=3, name_pattern="web-%02d") == ["web-01", "web-02", "web-03"]
    assert planning.expand_names(count=0, name_pattern="web-%02d") == []
    assert planning.expand_names(count=2, default_prefix="d1") == ["d1-01", "d1-02"]
    assert planning.expand_names(name="a") == ["a"]
    assert planning.expand_names(names=["a", "b"]) == ["a", "b"]
    assert planning.expand_names() is None


@pytest.mark.parametrize("kwargs, fragment", [
    ({"count": 2, "name_pattern": "web"}, "integer conversion"),
    ({"count": 2, "name_pattern": "web-%d-%d"}, "integer conversion"),
    ({"count": 0, "name_pattern": "web"}, "integer conversion"),
    ({"names": ["a", "a"]}, "given twice"),
    ({"names": ["bad name"]}, "not valid"),
    ({"name": "a", "count": 2}, "mutually exclusive"),
    ({"count": -1}, ">= 0"),
    ({"name_pattern": "x-%d"}, "needs count"),
])
def test_expand_names_errors(kwargs, fragment):
    with pytest.raises(SlipwayError) as err:
        planning.expand_names(**kwargs)
    assert fragment in err.value.msg


# ---------------------------------------------------------------- planning

def test_plan_creates_missing_keeps_existing_never_removes_without_exact():
    listing = [machine("web-01"), machine("other", deployment="d1"), machine("x", deployment="d2")]
    plan = planning.plan_cloud("c1", listing, ["web-01", "web-02"], "present", deployment="d1")
    assert plan.create == ["web-02"]
    assert [m.name for m in plan.keep] == ["web-01"]
    assert plan.remove == [] and plan.start == [] and plan.stop == []


def test_plan_exact_removes_only_unasked_machines_of_the_deployment():
    listing = [machine("web-01"), machine("web-03"), machine("x", deployment="d2"),
               machine("gone", state="terminated")]
    plan = planning.plan_cloud("c1", listing, ["web-01", "web-02"], "present", deployment="d1", exact=True)
    assert plan.create == ["web-02"]
    assert [m.name for m in plan.remove] == ["web-03"]


def test_plan_terminated_machine_does_not_count():
    plan = planning.plan_cloud("c1", [machine("web-01", state="terminated")], ["web-01"], "present")
    assert plan.create == ["web-01"]


def test_plan_duplicates_kept_once_and_removed_only_with_exact():
    listing = [machine("a", mid="i-2", state="pending"), machine("a", mid="i-1")]
    plan = planning.plan_cloud("c1", listing, ["a"], "present", deployment="d1")
    assert [m.id for m in plan.keep] == ["i-1"]       # the running one wins
    assert plan.remove == [] and "exact: true" in plan.warnings[0]
    plan = planning.plan_cloud("c1", listing, ["a"], "present", deployment="d1", exact=True)
    assert [m.id for m in plan.remove] == ["i-2"]


def test_plan_running_and_stopped_states():
    listing = [machine("a", state="stopped"), machine("b")]
    plan = planning.plan_cloud("c1", listing, ["a", "b", "c"], "running")
    assert [m.name for m in plan.start] == ["a"] and [m.name for m in plan.keep] == ["b"]
    assert plan.create == ["c"] and not plan.stop_after_create
    plan = planning.plan_cloud("c1", listing, ["a", "b", "c"], "stopped")
    assert [m.name for m in plan.stop] == ["b"] and [m.name for m in plan.keep] == ["a"]
    assert plan.stop_after_create
    plan = planning.plan_cloud("c1", listing, ["a", "b"], "present")
    assert not plan.changes           # present neither starts nor stops


def test_plan_absent_by_name_and_by_deployment():
    listing = [machine("a"), machine("b"), machine("c", deployment="d2")]
    plan = planning.plan_cloud("c1", listing, ["a", "c"], "absent", deployment="d1")
    assert [m.name for m in plan.remove] == ["a"]
    plan = planning.plan_cloud("c1", listing, None, "absent", deployment="d1")
    assert sorted(m.name for m in plan.remove) == ["a", "b"]
    plan = planning.plan_cloud("c1", listing, ["c"], "absent")
    assert [m.name for m in plan.remove] == ["c"]


def test_plan_name_taken_by_other_deployment_is_an_error():
    with pytest.raises(SlipwayError) as err:
        planning.plan_cloud("c1", [machine("a", deployment="d2")], ["a"], "present", deployment="d1")
    assert "already belongs to deployment 'd2'" in err.value.msg


@pytest.mark.parametrize("kwargs, fragment", [
    ({"state": "exploded"}, "state must be one of"),
    ({"wait": "forever"}, "wait must be one of"),
    ({"clouds": []}, "give cloud or clouds"),
    ({"clouds": ["c1", "c1"]}, "twice"),
    ({"timeout": 0}, "timeout"),
    ({"exact": True, "deployment": None}, "exact: true needs deployment"),
    ({"image": None}, "needs image"),
    ({"names": None}, "needs name"),
    ({"state": "absent", "names": None, "deployment": None}, "needs name, names, count or deployment"),
    ({"tags": {MANAGED_TAG: "x"}}, "set by slipway itself"),
])
def test_request_validation(kwargs, fragment):
    args = dict(clouds=["c1"], image="debian-12", names=["a"], deployment="d1")
    args.update(kwargs)
    with pytest.raises(SlipwayError) as err:
        deploy.DeployRequest(**args)
    assert fragment in err.value.msg


# ---------------------------------------------------------------- converge with an in-memory cloud

class FakeCatalog:
    def __init__(self, clouds, groups=None):
        self.clouds = {c.name: c for c in clouds}
        self.security_groups = groups or {}

    def cloud(self, name):
        if name not in self.clouds:
            raise SlipwayError("unknown cloud %s" % name)
        return self.clouds[name]

    def resolve(self, image, cloud, size=None, security_groups=None):
        return Placement(cloud=self.clouds[cloud], image=image, image_id="ami-1", image_lookup=None,
                         login_user="debian", flavor="small", cpu=1, ram_gb=1,
                         security_groups=tuple(security_groups or ("slipway_managed",)))


class Group:
    def __init__(self, name, rules):
        self.name, self.description, self.rules = name, name, tuple(rules)


class MemoryProvider(Provider):
    """A cloud held in a dict; fails on demand."""

    family = "memory"
    capabilities = frozenset(("security_groups", "stop_start"))
    ids = itertools.count(1)

    def __init__(self, cloud, fail_on=None):
        self.cloud = cloud
        self.credentials = {"secret": SECRET}
        self.machines = {}
        self.groups = {}
        self.calls = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def _call(self, name):
        self.calls.append(name)
        if self.fail_on == name:
            raise ProviderError("%s failed, signature used %s" % (name, SECRET))

    def list_machines(self):
        self._call("list")
        return [Machine(**vars(m)) for m in self.machines.values()]

    def create_machines(self, placement, names, ssh_public_key, tags):
        self._call("create")
        made = []
        for name in names:
            mid = "m-%d" % next(self.ids)
            m = Machine(cloud=self.cloud.name, name=name, id=mid, state="pending", image=placement.image,
                        deployment=tags.get(DEPLOYMENT_TAG), tags=dict(tags), timings={"requested_at": 100.0})
            self.machines[mid] = m
            made.append(Machine(**vars(m)))
        return made

    def destroy_machines(self, machines):
        self._call("destroy")
        for m in machines:
            self.machines[m.id].state = "terminated"

    def start_machines(self, machines):
        self._call("start")
        for m in machines:
            self.machines[m.id].state = "running"

    def stop_machines(self, machines):
        self._call("stop")
        for m in machines:
            self.machines[m.id].state = "stopped"

    def wait_machines(self, machines, until, timeout):
        self._call("wait")
        for m in machines:
            self.machines[m.id].state = "running"
            self.machines[m.id].private_ip = "198.18.9.%d" % int(m.id.split("-")[1])
            m.state = "running"
            m.private_ip = self.machines[m.id].private_ip
            m.timings = dict(m.timings, running_at=101.5)

    def list_security_groups(self):
        self._call("list_groups")
        return dict(self.groups)

    def ensure_security_group(self, name, description, rules, purge_rules=True, check_mode=False):
        self._call("ensure_group")
        before = self.groups.get(name)
        after = tuple(rules) if purge_rules or before is None else tuple(sorted(set(before) | set(rules),
                                                                                key=repr))
        if not check_mode:
            self.groups[name] = after
        return {"changed": before != after, "before": before, "after": after}

    def delete_security_group(self, name, check_mode=False):
        self._call("delete_group")
        if not check_mode:
            del self.groups[name]


SSH = Rule("tcp", 22, 22, "0.0.0.0/0")


@pytest.fixture
def world():
    clouds = [Cloud(name="c1", provider="memory"), Cloud(name="c2", provider="memory")]
    catalog = FakeCatalog(clouds, {"slipway_managed": Group("slipway_managed", [SSH])})
    providers = {c.name: MemoryProvider(c) for c in clouds}
    return catalog, providers


def run(world, **kwargs):
    catalog, providers = world
    args = dict(clouds=["c1", "c2"], image="debian-12", names=["a", "b"], deployment="d1", wait="running")
    args.update(kwargs)
    return deploy.converge_instances(catalog, deploy.DeployRequest(**args),
                                     provider_factory=lambda cloud: providers[cloud.name])


def test_create_then_unchanged_then_destroy(world):
    first = run(world)
    assert first.changed and not first.failed_clouds
    assert sorted((i["cloud"], i["name"], i["state"]) for i in first.instances) == [
        ("c1", "a", "running"), ("c1", "b", "running"), ("c2", "a", "running"), ("c2", "b", "running")]
    one = first.instances[0]
    assert one["timings"]["deploy_seconds"] == 1.5 and one["ssh_url"].startswith("ssh://debian@198.18.9.")
    assert set(first.diff["after"]) == {"c1/a", "c1/b", "c2/a", "c2/b"} and first.diff["before"] == {}
    # the group was ensured before the machines were created
    calls = world[1]["c1"].calls
    assert calls.index("ensure_group") < calls.index("create")

    second = run(world)
    assert not second.changed and second.diff == {"before": {}, "after": {}}
    assert "create" not in world[1]["c1"].calls[len(calls):]
    assert "ensure_group" not in world[1]["c1"].calls[len(calls):]

    gone = run(world, state="absent", names=None, image=None)
    assert gone.changed and gone.instances == []
    assert set(gone.diff["before"]) == {"c1/a", "c1/b", "c2/a", "c2/b"} and gone.diff["after"] == {}
    assert not run(world, state="absent", names=None, image=None).changed


def test_check_mode_changes_nothing_and_reports_the_plan(world):
    result = run(world, check_mode=True)
    assert result.changed
    assert all(p.machines == {} for p in world[1].values())
    assert sorted(i["name"] for i in result.instances) == ["a", "a", "b", "b"]
    assert all(i["id"] is None for i in result.instances)
    run(world, names=["a", "b", "c"])
    check = run(world, names=["a"], exact=True, check_mode=True)
    assert check.clouds["c1"]["planned"]["remove"] == ["b", "c"]
    assert set(check.diff["before"]) == {"c1/b", "c1/c", "c2/b", "c2/c"}
    assert len([m for m in world[1]["c1"].machines.values() if m.state != "terminated"]) == 3


def test_stop_start_and_diff(world):
    run(world)
    stopped = run(world, state="stopped", names=["a"])
    assert stopped.changed and {i["state"] for i in stopped.instances} == {"stopped"}
    assert stopped.diff["before"]["c1/a"]["state"] == "running"
    assert stopped.diff["after"]["c1/a"]["state"] == "stopped"
    assert not run(world, state="stopped", names=["a"]).changed
    assert not run(world, state="present", names=["a"]).changed
    started = run(world, state="running", names=["a"])
    assert started.changed and {i["state"] for i in started.instances} == {"running"}


def test_one_cloud_failing_keeps_the_other_and_hides_secrets(world):
    world[1]["c2"].fail_on = "create"
    result = run(world)
    assert result.failed_clouds == ["c2"]
    assert result.outcomes["c1"].status == "ok" and len(result.outcomes["c1"].machines) == 2
    assert len([m for m in world[1]["c1"].machines.values() if m.state == "running"]) == 2
    error = result.clouds["c2"]["error"]["msg"]
    assert SECRET not in error and masking.MASK in error
    assert "c2: create failed" in result.message() and "c1" in result.message()


def test_a_cloud_failing_after_creating_reports_the_machines_it_has(world):
    world[1]["c2"].fail_on = "wait"
    result = run(world)
    assert result.failed_clouds == ["c2"]
    assert sorted(i["name"] for i in result.outcomes["c2"].machines) == ["a", "b"]
    assert result.clouds["c2"]["done"]["create"] == ["a", "b"]


def test_group_neither_in_catalog_nor_on_cloud_is_an_error_before_create(world):
    result = run(world, security_groups=["nowhere"], clouds=["c1"])
    assert result.failed_clouds == ["c1"]
    assert "neither defined in the catalog nor present on cloud c1" in result.clouds["c1"]["error"]["msg"]
    assert "create" not in world[1]["c1"].calls
    world[1]["c1"].groups["nowhere"] = (SSH,)
    assert not run(world, security_groups=["nowhere"], clouds=["c1"]).failed_clouds


def test_security_group_converge_and_unsupported_cloud(world):
    catalog, providers = world
    bare = Cloud(name="bare", provider="memory", security_groups=False)
    catalog.clouds["bare"] = bare
    providers["bare"] = MemoryProvider(bare)
    raw = [{"proto": "tcp", "ports": 22, "source": "0.0.0.0/0"}]

    def parse(rules):
        return tuple(Rule(r["proto"], r["ports"], r["ports"], r["source"]) for r in rules)

    def converge(**kwargs):
        return group_converge.converge_security_group(catalog, ["c1", "bare"], "web", rules=raw, parse_rules=parse,
                                                      provider_factory=lambda c: providers[c.name], **kwargs)

    rules, results = converge()
    assert results["c1"]["changed"] and results["c1"]["supported"]
    assert results["bare"] == {"cloud": "bare", "status": "ok", "changed": False, "supported": False,
                               "before": None, "after": rules}
    assert not converge()[1]["c1"]["changed"]
    removed = converge(state="absent")[1]
    assert removed["c1"]["changed"] and "web" not in providers["c1"].groups


def test_list_instances_filters_and_isolates_a_broken_cloud(world):
    run(world)
    run(world, names=["z"], deployment="d2")
    catalog, providers = world
    providers["c2"].fail_on = "list"
    found, status = listing.list_instances(catalog, ["c1", "c2"], deployment="d1",
                                           provider_factory=lambda c: providers[c.name])
    assert [(i["cloud"], i["name"]) for i in found] == [("c1", "a"), ("c1", "b")]
    assert status["c2"]["status"] == "failed" and SECRET not in repr(status)
    found = listing.list_instances(catalog, ["c1"], names=["z"], provider_factory=lambda c: providers[c.name])[0]
    assert [i["deployment"] for i in found] == ["d2"]
