# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The survivor rule's create marks, as the provider base uses them (the families' own marks are tested
against their API servers in tests/integration/modules/test_concurrent_runs.py)."""

import time

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, REQUEST_TAG, Cloud, Machine, Placement
from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import Provider
from ansible_collections.slipway.cloud.plugins.module_utils.providers.survivors import (
    CreatedMachines,
    mark_name,
    marks_of,
    new_request_token,
    token_time,
)

PLACEMENT = Placement(cloud="c", image="debian-12", image_id="img-1", image_lookup=None, login_user="admin",
                      flavor="small", cpu=1, ram_gb=1, security_groups=())


def old_mark(seconds_ago):
    return "%x-%s" % (int((time.time() - seconds_ago) * 1e6), "0" * 16)


class MarkedCloud(Provider):
    """A cloud whose marks are a dict; ``lands`` is another run's mark, gone at the third look."""

    family = "test"
    CREATE_MARKS = True

    def __init__(self, fail_launch=False):
        super(MarkedCloud, self).__init__(Cloud(name="c", provider="test"), environ={})
        self.marks = {}
        self.looks = 0
        self.lands = None
        self.deleted = []
        self.events = []
        self.fail_launch = fail_launch
        self.machines = []

    def put_create_mark(self, deployment, mark_id):
        self.events.append(("mark", mark_id))
        self.marks[mark_id] = deployment
        return mark_id

    def create_marks(self, deployment):
        self.looks += 1
        if self.looks == 3:
            self.marks.pop(self.lands, None)
        return {mark_id: mark_id for mark_id, scope in self.marks.items() if scope == deployment}

    def delete_create_mark(self, handle):
        self.events.append(("unmark", handle))
        self.deleted.append(handle)
        self.marks.pop(handle, None)

    def launch(self, request):
        self.events.append(("launch", request.token))
        if self.fail_launch:
            raise ProviderError("cloud c: quota exceeded")
        made = [Machine(cloud="c", name=name, id="m-%s" % name, state="running", deployment="d",
                        tags=dict(request.tags_for(name))) for name in request.names]
        self.machines.extend(made)
        return made

    def list_machines(self):
        return list(self.machines)

    def destroy_machines(self, machines):
        gone = {m.id for m in machines}
        self.machines = [m for m in self.machines if m.id not in gone]


def test_a_create_is_marked_before_its_request_is_dated_and_unmarked_once_it_has_landed():
    cloud = MarkedCloud()
    created = cloud.create_machines(PLACEMENT, ["a", "b"], None, {DEPLOYMENT_TAG: "d"})
    (mark, mark_id), (launch, token), (unmark, handle) = cloud.events
    assert (mark, launch, unmark) == ("mark", "launch", "unmark") and handle == mark_id
    # A create asked after another run looked at the marks is dated after that look.
    assert token_time(mark_id) <= token_time(token) and created[0].tags[REQUEST_TAG] == token
    assert cloud.marks == {} and created.marked and created.others_in_flight == []
    assert created.second_look is False and created.settle_pause() == 0.0


def test_a_failed_create_takes_its_mark_down_too():
    cloud = MarkedCloud(fail_launch=True)
    with pytest.raises(ProviderError, match="quota exceeded"):
        cloud.create_machines(PLACEMENT, ["a"], None, {DEPLOYMENT_TAG: "d"})
    assert cloud.marks == {} and [e[0] for e in cloud.events] == ["mark", "launch", "unmark"]


def test_the_look_waits_while_another_runs_create_is_in_flight_and_removes_marks_of_dead_runs():
    cloud = MarkedCloud()
    live, dead, elsewhere = new_request_token(), old_mark(3600), new_request_token()
    cloud.marks = {live: "d", dead: "d", elsewhere: "other deployment"}
    cloud.lands = live
    created = cloud.create_machines(PLACEMENT, ["a"], None, {DEPLOYMENT_TAG: "d"})
    assert created.others_in_flight == [live] and created.second_look is True
    assert cloud.looks == 3 and dead in cloud.deleted and live not in cloud.marks
    assert cloud.marks == {elsewhere: "other deployment"}


def test_a_family_without_marks_pauses_before_its_second_look():
    created = CreatedMachines([Machine(cloud="c", name="a", id="1", state="running")], token="t", asked_at=100.0, answered_at=101.5)
    assert created.second_look is True and created.settle_pause(now=101.6) == pytest.approx(1.4)


def test_mark_names_keep_deployments_apart():
    names = [mark_name("web", "1-a"), mark_name("db", "2-b"), mark_name(None, "3-c"), "slipway-0123abcd", None]
    assert marks_of("web", names) == {"1-a": names[0]}
    assert marks_of(None, names) == {"3-c": names[2]}
    assert all(len(name) < 64 for name in names[:3])


def test_a_run_keeping_machines_looks_again_only_at_those_another_run_made_moments_ago():
    cloud = MarkedCloud()
    settled = Machine(cloud="c", name="old", id="m-old", state="running", deployment="d",
                      tags={REQUEST_TAG: old_mark(3600)})
    assert list(cloud.settle_kept([settled], "d")) == [settled] and cloud.looks == 0
    fresh = Machine(cloud="c", name="new", id="m-new", state="running", deployment="d",
                    tags={REQUEST_TAG: new_request_token()})
    asked_first = Machine(cloud="c", name="new", id="m-first", state="pending", deployment="d",
                          tags={REQUEST_TAG: old_mark(1)})
    cloud.machines = [settled, fresh, asked_first]
    kept = cloud.settle_kept([settled, fresh], "d")
    assert [m.id for m in kept] == ["m-old", "m-first"] and [m.id for m in kept.duplicates_removed] == ["m-new"]
    assert cloud.looks == 1
