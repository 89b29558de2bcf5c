# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory plugin's pure parts: host records, group names, filters, parallel listing."""

import threading
import time

import pytest

from ansible_collections.slipway.cloud.plugins.inventory import instances
from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Flavor, Machine, ProviderError

CLOUDS = {
    "aws-1": Cloud(name="aws-1", provider="ec2", flavors=(Flavor("t3.small", 2, 2),)),
    "local-a": Cloud(name="local-a", provider="local"),
}


def machine(name, cloud="aws-1", **kw):
    kw.setdefault("id", "i-" + name)
    kw.setdefault("state", "running")
    return Machine(cloud=cloud, name=name, **kw)


def no_user(image, cloud):
    return None


def test_record_has_the_documented_vars_and_groups():
    m = machine("web-1", image="debian-12", flavor="t3.small", deployment="run.42",
                public_ip="198.51.100.7", private_ip="10.0.0.7", host_keys=["ssh-ed25519 AAAA"])
    (rec,) = instances.host_records([("aws-1", [m])], CLOUDS, ["public", "private"],
                                    lambda image, cloud: "admin" if (image, cloud) == ("debian-12", "aws-1") else None)
    v = rec["vars"]
    assert rec["host"] == "web-1.aws-1"
    assert v["ansible_host"] == "198.51.100.7"
    assert v["ansible_user"] == "admin"
    assert v["slipway_ssh_url"] == "ssh://admin@198.51.100.7"
    # cpu/ram come from the cloud's flavor table when the record lacks them; integral floats become ints
    assert (v["slipway_cpu"], v["slipway_ram_gb"]) == (2, 2)
    assert isinstance(v["slipway_cpu"], int)
    assert v["slipway_host_keys"] == ["ssh-ed25519 AAAA"]
    assert (v["slipway_cloud"], v["slipway_image"], v["slipway_deployment"], v["slipway_state"]) == \
        ("aws-1", "debian-12", "run.42", "running")
    assert rec["groups"] == ["cloud_aws_1", "image_debian_12", "deployment_run_42"]


def test_machine_login_user_wins_over_catalog():
    m = machine("a", image="debian-12", login_user="root", private_ip="198.18.1.5")
    (rec,) = instances.host_records([("local-a", [m])], CLOUDS, ["public", "private"], lambda i, c: "debian")
    assert rec["vars"]["ansible_user"] == "root"
    assert rec["vars"]["ansible_host"] == "198.18.1.5"


@pytest.mark.parametrize("pref,expected", [
    (["public"], None),
    (["private"], "198.18.1.5"),
    (["public", "private"], "198.18.1.5"),
])
def test_address_preference(pref, expected):
    m = machine("a", private_ip="198.18.1.5")
    (rec,) = instances.host_records([("local-a", [m])], CLOUDS, pref, no_user)
    assert rec["vars"].get("ansible_host") == expected
    assert rec["vars"]["slipway_ssh_url"] == ("ssh://" + expected if expected else None)


def test_private_first_when_asked():
    m = machine("a", public_ip="198.51.100.1", private_ip="198.18.1.5")
    (rec,) = instances.host_records([("local-a", [m])], CLOUDS, ["private", "public"], no_user)
    assert rec["vars"]["ansible_host"] == "198.18.1.5"


TWINS = [("aws-1", [machine("x", id="i-1"), machine("x", id="i-2"), machine("y")]),
         ("local-a", [machine("x", cloud="local-a", id="l-1")])]


def host_names(listings, **kwargs):
    return [r["host"] for r in instances.host_records(listings, CLOUDS, ["public"], no_user, **kwargs)]


def test_host_names_are_name_dot_cloud_by_default_and_twins_in_one_cloud_get_the_id():
    hosts = host_names(TWINS)
    assert hosts == ["x.aws-1.i-1", "x.aws-1.i-2", "y.aws-1", "x.local-a"]
    assert len(set(hosts)) == len(hosts)


def test_name_dot_cloud_never_depends_on_which_other_clouds_answered():
    # AWX matches hosts by name: a cloud that drops out must not rename the others' hosts
    for subset in ([TWINS[0]], [TWINS[1]], TWINS):
        assert set(host_names(subset)) <= set(host_names(TWINS))


def test_bare_names_are_qualified_only_when_another_cloud_has_the_name():
    assert host_names(TWINS, hostnames="name") == ["x.aws-1.i-1", "x.aws-1.i-2", "y", "x.local-a"]
    assert host_names([TWINS[1]], hostnames="name") == ["x"]     # what makes this mode unfit for AWX


def test_unnamed_machine_uses_its_id():
    (rec,) = instances.host_records([("aws-1", [machine("", id="i-abc")])], CLOUDS, ["public"], no_user)
    assert rec["host"] == "i-abc.aws-1"


def test_group_names_replace_what_ansible_rejects():
    assert instances.safe_group_name("deployment", "2024-05-01T10:00 run/7") == "deployment_2024_05_01T10_00_run_7"
    assert instances.safe_group_name("image", "ubuntu-22.04") == "image_ubuntu_22_04"


def test_matcher_exact_and_glob():
    match = instances._matcher(["debian-12", "ubuntu-*"])
    assert match("debian-12") and match("ubuntu-22.04")
    assert not match("debian-11") and not match(None)


class FakeProvider:
    def __init__(self, cloud, behaviour):
        self.cloud = cloud
        self.behaviour = behaviour
        self.closed = False
        self.calls = 0

    def list_machines(self):
        self.calls += 1
        return self.behaviour(self.cloud)

    def close(self):
        self.closed = True


def test_list_clouds_runs_in_parallel_and_isolates_failures():
    started = []
    lock = threading.Lock()
    providers = []

    def behaviour(cloud):
        with lock:
            started.append(cloud.name)
        if cloud.name == "bad":
            raise ProviderError("endpoint refused the connection", cloud="bad")
        if cloud.name == "boom":
            raise RuntimeError("driver exploded")
        time.sleep(0.3)
        return [machine("m-" + cloud.name, cloud=cloud.name)]

    def get_provider(cloud):
        provider = FakeProvider(cloud, behaviour)
        providers.append(provider)
        return provider

    clouds = [Cloud(name=n, provider="ec2") for n in ("c1", "bad", "c2", "boom", "c3")]
    t0 = time.monotonic()
    listings, failures = instances.list_clouds(clouds, 10, get_provider)
    elapsed = time.monotonic() - t0
    assert elapsed < 0.8, "three 0.3 s listings took %.2f s: not parallel" % elapsed
    assert [listing[0] for listing in listings] == ["c1", "c2", "c3"]
    assert failures == {"bad": "endpoint refused the connection", "boom": "RuntimeError: driver exploded"}
    assert all(p.calls == 1 and p.closed for p in providers)


def test_list_clouds_times_out_a_hung_cloud():
    def get_provider(cloud):
        return FakeProvider(cloud, lambda c: time.sleep(5 if c.name == "hung" else 0) or [])

    clouds = [Cloud(name="ok", provider="ec2"), Cloud(name="hung", provider="ec2")]
    listings, failures = instances.list_clouds(clouds, 0.3, get_provider)
    assert listings == [("ok", [])]
    assert "hung" in failures and "0.3" in failures["hung"]


def test_compose_numbers_and_booleans_are_literals():
    fixed = instances._literal_expressions({"ansible_port": 2222, "flag": True, "ratio": 0.5, "expr": "a ~ b"})
    assert fixed == {"ansible_port": "2222", "flag": "true", "ratio": "0.5", "expr": "a ~ b"}
    assert instances._literal_expressions({}) == {}
