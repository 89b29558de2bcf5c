# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs of the same task at once converge: exactly the machines asked for, and every run succeeds.

As in AWX (concurrent jobs of one template, workflow branches, a retry while the first attempt runs):
whole ansible-playbook processes started together behind a barrier, so that their creates really race,
on the EC2 API server (moto), the Exoscale test server, a local cloud and the loopback OpenStack. What is on
each cloud is read independently of slipway: boto3, the fake's own state, the local cloud's records,
openstacksdk on the internal endpoints.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import (
    MARK_PREFIX,
    MARK_PUBLIC_KEY,
    mark_name,
    mark_prefix,
)

from module_helpers import LOCAL_A, PUBLIC_KEY, Ansible, ec2_client, instance_task, live_instances, shipped_catalog

NAMES = ["c-1", "c-2", "c-3", "c-4"]
AMI = "ami-1e749f67"


class Family:
    """One cloud family under test: how to run tasks there and how to see what is really on it."""

    def __init__(self, ansible, cloud, image, live, whole, marks=None):
        self.ansible = ansible
        self.cloud = cloud
        self.image = image
        self.live = live              # deployment -> {name: number of live machines}
        self.whole = whole            # deployment -> [problems of machines missing a group or key]
        self.marks = marks            # () -> names of the create marks on the cloud (families that have them)

    def task(self, **kwargs):
        args = dict(image=self.image, cloud=self.cloud, deployment="race", wait="running", ssh_public_key=PUBLIC_KEY)
        args.update(kwargs)
        return instance_task(**args)


# -- the families ----------------------------------------------------------------------------------

@pytest.fixture
def ec2(ansible_moto, moto):
    client = ec2_client(moto)

    def whole(deployment):
        problems = []
        for reservation in client.describe_instances(Filters=[
                {"Name": "tag:slipway:deployment", "Values": [deployment]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]:
            for item in reservation["Instances"]:
                if [g["GroupName"] for g in item["SecurityGroups"]] != ["slipway_managed"] or not item.get("KeyName"):
                    problems.append(item["InstanceId"])
        return problems

    def live(deployment):
        return {name: len(states) for name, states in live_instances(moto, "moto-a", deployment).items()}

    return Family(ansible_moto, "moto-a", "trusty", live, whole, lambda: create_marks(client))


def create_marks(client):
    return [k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"] if k["KeyName"].startswith(MARK_PREFIX)]


#: the image of the races on the exo-it cloud (module_helpers.EXO_CLOUD)
EXO_IMAGE = """\
images:
  exo-debian:
    description: Debian 12 on the Exoscale test server
    login_user: debian
    size: {cpu: 1, ram_gb: 1}
    clouds:
      exo-it: {image_lookup: {name: "Linux Debian 12 (Bookworm) 64-bit"}}
"""


@pytest.fixture
def exoscale(ansible_exoscale, tmp_path):
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.api import decode_labels

    server, ansible = ansible_exoscale
    layer = tmp_path / "exo-image.yml"
    layer.write_text(EXO_IMAGE)
    ansible.catalog_layers.append(str(layer))

    def instances(deployment):
        with server.lock:
            return [i for i in server.state.instances.values()
                    if decode_labels(i["labels"]).get("slipway:deployment") == deployment]

    def live(deployment):
        counts = {}
        for item in instances(deployment):
            name = decode_labels(item["labels"]).get("slipway:name")
            counts[name] = counts.get(name, 0) + 1
        return counts

    def whole(deployment):
        managed = [g["id"] for g in server.state.security_groups.values() if g["name"] == "slipway_managed"]
        return [i["id"] for i in instances(deployment) if i["groups"] != managed or len(i["keys"]) != 1]

    def marks():
        with server.lock:
            return [g["name"] for g in server.state.anti_affinity_groups.values() if g["name"].startswith(MARK_PREFIX)]

    return Family(ansible, "exo-it", "exo-debian", live, whole, marks)


@pytest.fixture
def local(ansible_local, local_pair):
    from module_helpers import local_provider

    provider = local_provider(local_pair, LOCAL_A)

    def records(deployment):
        return [r for r in provider.state.machines(LOCAL_A)
                if (r.get("tags") or {}).get("slipway:deployment") == deployment]

    def live(deployment):
        counts = {}
        for record in records(deployment):
            counts[record["name"]] = counts.get(record["name"], 0) + 1
        return counts

    def whole(deployment):
        return [r["id"] for r in records(deployment)
                if r.get("security_groups") != ["slipway_managed"] or not r.get("ssh_public_key")]

    family = Family(ansible_local, LOCAL_A, "debian-12-it", live, whole)
    yield family
    ansible_local.playbook([instance_task(cloud=LOCAL_A, deployment="race", state="absent")])


@pytest.fixture
def openstack(openstack_cloud, openstack_env, tmp_path):
    from support.openstack_catalog import CLOUD, IMAGE, write_layer

    ansible = Ansible(str(tmp_path), [shipped_catalog(), write_layer(str(tmp_path), openstack_cloud.seeded)],
                      openstack_env)
    conn = openstack_cloud.connect("password", interface="internal")

    def servers(deployment):
        return [s for s in conn.compute.servers() if s.status != "DELETED"
                and (s.metadata or {}).get("slipway:deployment") == deployment]

    def live(deployment):
        counts = {}
        for server in servers(deployment):
            name = server.metadata.get("slipway:name")
            counts[name] = counts.get(name, 0) + 1
        return counts

    def whole(deployment):
        return [s.id for s in servers(deployment)
                if [g["name"] for g in s.security_groups or []] != ["slipway_managed"] or not s.key_name]

    def marks():
        return [k.name for k in conn.compute.keypairs() if k.name.startswith(MARK_PREFIX)]

    yield Family(ansible, CLOUD, IMAGE, live, whole, marks)
    group_absent = {"name": "slipway_managed", "cloud": CLOUD, "state": "absent"}
    ansible.playbook([instance_task(cloud=CLOUD, deployment="race", state="absent"),
                      {"name": "group", "slipway.cloud.security_group": group_absent}])
    conn.close()


FAMILIES = ["ec2", "exoscale", pytest.param("local", marks=pytest.mark.local_machines),
            pytest.param("openstack", marks=pytest.mark.openstack)]


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.getfixturevalue(request.param)


def instance_results(runs):
    return [run.named("instance") for run in runs]


# -- the races ---------------------------------------------------------------------------------------

def test_four_runs_of_one_task_make_each_machine_once(family):
    runs = family.ansible.playbooks_at_once([[family.task(names=NAMES)] for dummy in range(4)])
    assert all(run.ok for run in runs), runs
    assert family.live("race") == {name: 1 for name in NAMES}
    assert family.whole("race") == []
    results = instance_results(runs)
    # Every run reports the survivors, whichever run made them: the same machine per name.
    reported = [sorted((i["name"], i["id"]) for i in result["instances"]) for result in results]
    assert all(r == reported[0] for r in reported), [(r, result["clouds"][family.cloud]) for r, result in
                                                     zip(reported, results)]
    outcomes = [result["clouds"][family.cloud] for result in results]
    # Each survivor is credited to the one run that made it; the others say another run made it.
    assert sorted(n for o in outcomes for n in o["done"]["create"]) == NAMES, outcomes
    if family.marks is not None:
        assert family.marks() == [], "a create mark outlived its run"
    assert all(sorted(o["done"]["create"] + o["adopted"]) == sorted(o["planned"]["create"]) for o in outcomes), \
        outcomes
    # What the survivor rule removed is none of the survivors.
    removed = {d["id"] for o in outcomes for d in o["duplicates_removed"]}
    assert not removed & {machine_id for dummy, machine_id in reported[0]}
    fifth = family.ansible.playbook([family.task(names=NAMES)])
    assert fifth.ok and fifth.result()["changed"] is False, fifth
    assert family.live("race") == {name: 1 for name in NAMES}


def test_two_exact_runs_of_other_sizes_end_with_one_of_the_fleets(family):
    small, large = NAMES[:2], NAMES
    runs = family.ansible.playbooks_at_once([[family.task(names=small, exact=True)],
                                             [family.task(names=large, exact=True)]])
    assert all(run.ok for run in runs), runs
    assert family.live("race") in ({n: 1 for n in small}, {n: 1 for n in large})
    assert family.whole("race") == []


def test_a_create_racing_an_absent_leaves_whole_machines_or_none(family):
    runs = family.ansible.playbooks_at_once([[family.task(names=NAMES)],
                                             [instance_task(cloud=family.cloud, deployment="race", state="absent")]])
    assert all(run.ok for run in runs), runs
    live = family.live("race")
    assert set(live) <= set(NAMES) and all(count == 1 for count in live.values()), live
    assert family.whole("race") == []


def test_security_group_ensured_by_runs_at_once_is_one_group_with_each_rule_once(family):
    rules = [{"proto": "tcp", "ports": [80, 443], "source": "0.0.0.0/0"}, {"proto": "icmp", "source": "0.0.0.0/0"}]
    task = {"name": "group", "ignore_errors": True,
            "slipway.cloud.security_group": {"name": "race-web", "cloud": family.cloud, "rules": rules}}
    runs = family.ansible.playbooks_at_once([[task] for dummy in range(3)])
    assert all(run.ok for run in runs), runs
    again = family.ansible.playbook([dict(task, **{"slipway.cloud.security_group": dict(
        task["slipway.cloud.security_group"])})])
    assert again.ok and again.result()["changed"] is False, again
    listed = family.ansible.playbook([{"name": "groups", "slipway.cloud.security_group": {
        "name": "race-web", "cloud": family.cloud, "state": "absent"}}])
    assert listed.ok and len(listed.result()["clouds"][family.cloud]["before"]) == 3, listed


# -- without the survivor rule ------------------------------------------------------------------------

def test_without_the_survivor_rule_the_ec2_race_does_make_duplicates(ec2, moto):
    """The rule is what makes the runs above converge: the same race through the launch primitive alone
    (what every run did before the rule) leaves several machines of one name."""
    import dataclasses
    import uuid

    from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
    from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, MANAGED_TAG, REQUEST_TAG
    from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import LaunchRequest, get_provider

    catalog = load_catalog(ec2.ansible.catalog_layers)
    placement = catalog.resolve("trusty", "moto-a")
    placement = dataclasses.replace(placement, security_groups=())
    barrier = threading.Barrier(3)

    def one_run():
        provider = get_provider(catalog.cloud("moto-a"), ec2.ansible.environ)
        listing = {m.name for m in provider.list_machines()}
        barrier.wait()
        token = uuid.uuid4().hex
        tags = {MANAGED_TAG: "true", DEPLOYMENT_TAG: "bare", REQUEST_TAG: token}
        provider.launch(LaunchRequest(placement, [n for n in NAMES[:2] if n not in listing], None, tags, token))

    threads = [threading.Thread(target=one_run) for dummy in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert ec2.live("bare") == {"c-1": 3, "c-2": 3}


# -- create marks -----------------------------------------------------------------------------------

def other_runs_mark(client, deployment, made_at):
    """A create mark as another run puts it up (made at ``made_at``); returns its id."""
    mark_id = request_token(made_at, "0")
    client.import_key_pair(KeyName=mark_name(deployment, mark_id), PublicKeyMaterial=MARK_PUBLIC_KEY.encode())
    return mark_id


def hand_made(client, name, request_token):
    """A machine of the race deployment as another run's create makes it; returns its id."""
    tags = {"Name": name, "slipway:name": name, "slipway:managed": "true", "slipway:deployment": "race",
            "slipway:image": "trusty", "slipway:request": request_token}
    made = client.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return made["Instances"][0]["InstanceId"]


def request_token(at, fill):
    return "%x-%s" % (int(at * 1e6), fill * 16)


def test_a_run_waits_for_another_runs_create_in_flight_and_keeps_its_earlier_machine(ec2, moto):
    """The race the marks are for: another run asked first, but its machine lands after this run's. This
    run waits while the other's mark is up; then it sees both, keeps the other's (asked first), removes its
    own and reports the survivor - so the run that asked first, whose look came later, agrees."""
    client = ec2_client(moto)
    asked_first = time.time()
    mark_id = other_runs_mark(client, "race", asked_first)
    other = []

    def the_other_run_lands(process):
        deadline = time.monotonic() + 120
        while not ec2.live("race") and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ec2.live("race") == {"c-1": 1}, "this run's machine never appeared"
        assert process.poll() is None, "the run did not wait for the create in flight"
        other.append(hand_made(client, "c-1", request_token(asked_first, "1")))
        client.delete_key_pair(KeyName=mark_name("race", mark_id))

    run = ec2.ansible.playbook_beside([ec2.task(names=["c-1"])], the_other_run_lands)
    assert run.ok, run
    outcome = run.result()["clouds"]["moto-a"]
    assert [i["id"] for i in run.result()["instances"]] == other, run.result()
    assert outcome["adopted"] == ["c-1"] and outcome["done"]["create"] == [], outcome
    assert [(d["name"], d["made_by"]) for d in outcome["duplicates_removed"]] == [("c-1", "this run")], outcome
    assert ec2.live("race") == {"c-1": 1}
    assert create_marks(client) == []


def test_a_run_that_keeps_a_machine_made_moments_ago_reports_the_survivor_of_a_create_in_flight(ec2, moto):
    """A run that creates nothing keeps the c-1 another run (B) just made; a third run (A) asked for c-1
    first and its create is still in flight. The keeping run waits for it and reports A's machine, the
    one every run keeps, instead of B's, which the survivor rule removes."""
    client = ec2_client(moto)
    asked_first = time.time()
    mark_id = other_runs_mark(client, "race", asked_first)
    later = hand_made(client, "c-1", request_token(asked_first + 1, "2"))
    first = []

    def the_first_create_lands(process):
        time.sleep(3)       # the run starts, plans to keep c-1 and waits on the mark (it cannot end before)
        assert process.poll() is None, "the run did not wait for the create in flight"
        first.append(hand_made(client, "c-1", request_token(asked_first, "1")))
        client.delete_key_pair(KeyName=mark_name("race", mark_id))

    run = ec2.ansible.playbook_beside([ec2.task(names=["c-1"])], the_first_create_lands)
    assert run.ok, run
    outcome = run.result()["clouds"]["moto-a"]
    assert [i["id"] for i in run.result()["instances"]] == first, run.result()
    assert outcome["done"]["create"] == [] and outcome["planned"]["keep"] == ["c-1"], outcome
    assert [(d["id"], d["made_by"]) for d in outcome["duplicates_removed"]] == [(later, "another run")], outcome
    assert ec2.live("race") == {"c-1": 1}


def test_a_mark_left_by_a_run_that_died_is_removed_not_waited_for(ec2, moto):
    client = ec2_client(moto)
    other_runs_mark(client, "race", time.time() - 3600)
    run = ec2.ansible.playbook([ec2.task(names=["c-1"])])
    assert run.ok, run
    assert run.result()["clouds"]["moto-a"]["done"]["create"] == ["c-1"]
    assert create_marks(client) == []


def test_an_absent_of_the_deployment_removes_the_marks_a_killed_run_left(ec2, moto):
    client = ec2_client(moto)
    other_runs_mark(client, "race", time.time())
    other_runs_mark(client, "other", time.time())
    run = ec2.ansible.playbook([instance_task(cloud="moto-a", deployment="race", state="absent")])
    assert run.ok, run
    assert [name[:len(mark_prefix("other"))] for name in create_marks(client)] == [mark_prefix("other")]
    client.delete_key_pair(KeyName=create_marks(client)[0])
