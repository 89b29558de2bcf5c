# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory updates as AWX runs them, against the EC2 API server (moto) and the local cloud.

One EC2 cloud sits behind a TCP relay on loopback that the test turns off and on: a cloud that flaps
between updates, as a real one does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import threading
import uuid

import inventory_fleet as fleet
import pytest
import yaml

from support.awx_jobs import AwxInventory, export_inventory
from support.collection import ansible_env, collection_root

FLAPPING = "moto-2"


class Relay:
    """A TCP relay on 127.0.0.1 to ``target`` (host, port); ``down()`` closes it (connections are refused)."""

    def __init__(self, target):
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def up(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        if self.listener is not None:
            # shutdown first: on Linux it stops the listening and wakes the thread blocked in accept()
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None

    def _accept(self, listener):
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return                      # closed by down()
            upstream = socket.create_connection(self.target, timeout=30)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def relay(awx_moto):
    host, port = awx_moto.url.split("//")[1].split(":")
    relay = Relay((host, int(port)))
    relay.up()
    yield relay
    relay.down()


def write_catalog(directory, moto_url, relay_url):
    """moto-1 straight to moto, moto-2 through the relay, moto-down refused: fleet's clouds, one endpoint moved."""
    fleet.write_catalog(directory, moto_url, regions={"moto-1": "us-east-1", FLAPPING: "us-west-2"}, down="moto-down",
                        http_timeout=10)
    path = os.path.join(directory, "moto-clouds.yml")
    with open(path) as handle:
        data = yaml.safe_load(handle)
    data["clouds"][FLAPPING]["endpoint"] = relay_url
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return directory


def write_source(path, **options):
    """An inventory source as AWX runs it from a project: the shipped AWX source's options, and ``options``."""
    with open(os.path.join(collection_root(), "inventories", "awx", "awx.slipway.yml")) as handle:
        data = yaml.safe_load(handle)
    data.update(options)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    return path


def awx_env(tmp_path):
    env = ansible_env(**fleet.CREDENTIALS)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    return env


def test_the_shipped_source_is_strict_and_uncached():
    with open(os.path.join(collection_root(), "inventories", "awx", "awx.slipway.yml")) as handle:
        data = yaml.safe_load(handle)
    assert data["plugin"] == "slipway.cloud.instances"
    assert data["strict"] is True and not data.get("cache")
    assert data["hostnames"] == "name.cloud" and data["known_hosts_file"] is False


def test_updates_with_a_flapping_cloud(awx_moto, relay, tmp_path, local_machines):
    url = awx_moto.url
    shop = "awxinv-" + uuid.uuid4().hex[:8]       # local-a is shared with other sessions: list only ours
    fleet.seed(url, "us-east-1", 2, "web", deployment=shop)
    fleet.seed(url, "us-east-1", 1, "old", deployment=shop, stop=True)
    fleet.seed(url, "us-west-2", 2, "web", deployment=shop)        # twins of web-0, web-1 on the flapping cloud
    (local,) = local_machines("local-a", names=("awx-inv",), tags={"slipway:deployment": shop,
                                                                   "slipway:image": "debian-12"})
    catalog = write_catalog(str(tmp_path / "catalog"), url, relay.url)
    layers = [os.path.join(collection_root(), "catalog"), catalog]
    clouds = ["moto-1", FLAPPING, "local-a"]
    mine = {"deployment": shop}
    lenient = write_source(str(tmp_path / "lenient.slipway.yml"), catalog=layers, clouds=clouds, strict=False,
                           filters=mine)
    strict = write_source(str(tmp_path / "strict.slipway.yml"), catalog=layers, clouds=clouds, filters=mine)
    env = awx_env(tmp_path)

    def update(source, number):
        return export_inventory(source, str(tmp_path / ("update-%d.json" % number)), env)

    proc, first = update(lenient, 1)
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr
    expected = {"web-0.moto-1", "web-1.moto-1", "old-0.moto-1", "web-0.moto-2", "web-1.moto-2",
                local.name + ".local-a"}
    assert set(AwxInventory(first).hostvars) == expected

    relay.down()
    proc, second = update(lenient, 2)
    # one cloud down: the others' hosts, a warning naming it, and exit 0 (not strict)
    assert proc.returncode == 0, proc.stderr
    assert "cloud %s was not listed" % FLAPPING in " ".join(proc.stderr.split())
    assert set(AwxInventory(second).hostvars) == {h for h in expected if not h.endswith("." + FLAPPING)}
    # ... and the same for every host left: AWX matches hosts by name, none is deleted and re-created
    assert {h: AwxInventory(first).hostvars[h]["slipway_id"] for h in AwxInventory(second).hostvars} == \
        {h: v["slipway_id"] for h, v in AwxInventory(second).hostvars.items()}
    # the strict source (the shipped one) fails instead: AWX keeps the inventory it had
    proc, data = update(strict, 3)
    assert proc.returncode != 0 and data is None
    assert FLAPPING in proc.stderr

    relay.up()
    proc, third = update(lenient, 4)
    assert proc.returncode == 0, proc.stderr
    assert set(AwxInventory(third).hostvars) == expected
    proc, data = update(strict, 5)
    assert proc.returncode == 0 and set(AwxInventory(data).hostvars) == expected, proc.stderr

    # enabled_var slipway_state / enabled_value running: the stopped machine is a disabled host,
    # left out of the inventory a job gets and of every slice
    imported = AwxInventory(third, enabled_var="slipway_state", enabled_value="running")
    assert [h for h, enabled in imported.enabled.items() if not enabled] == ["old-0.moto-1"]
    script = imported.script_data()
    assert "old-0.moto-1" not in script["_meta"]["hostvars"]
    assert sorted(script["_meta"]["hostvars"]) == sorted(expected - {"old-0.moto-1"})
    slices = [imported.script_data(slice_number=n, slice_count=2)["_meta"]["hostvars"] for n in (1, 2)]
    assert sorted(set(slices[0]) | set(slices[1])) == sorted(script["_meta"]["hostvars"])
    assert not set(slices[0]) & set(slices[1])


def test_every_cloud_down_fails_the_update_whatever_strict_says(awx_moto, relay, tmp_path):
    fleet.seed(awx_moto.url, "us-west-2", 1, "web")
    catalog = write_catalog(str(tmp_path / "catalog"), awx_moto.url, relay.url)
    relay.down()
    for strict in (False, True):
        source = write_source(str(tmp_path / ("down-%s.slipway.yml" % strict)), catalog=[catalog],
                              clouds=[FLAPPING, "moto-down"], strict=strict)
        output = tmp_path / ("down-%s.json" % strict)
        proc, data = export_inventory(source, str(output), awx_env(tmp_path))
        assert proc.returncode != 0 and data is None, (strict, proc.stderr)
        text = " ".join(proc.stderr.split())
        assert "no cloud could be listed" in text and FLAPPING in text and "moto-down" in text, text
        assert not output.exists()           # nothing that AWX could import as "no hosts"
