"""Make the tree importable as ansible_collections.slipway.cloud wherever it is checked out.

ansible-test needs a real ansible_collections/slipway/cloud path; plain pytest does not,
so the engine's unit tests run from any clone.
"""

import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _alias_collection():
    try:
        import ansible_collections  # namespace package from an installed `ansible`, if any
    except ImportError:
        ansible_collections = types.ModuleType("ansible_collections")
        ansible_collections.__path__ = []
        sys.modules["ansible_collections"] = ansible_collections
    if "ansible_collections.slipway.cloud" in sys.modules:
        return
    slipway = types.ModuleType("ansible_collections.slipway")
    slipway.__path__ = []
    cloud = types.ModuleType("ansible_collections.slipway.cloud")
    cloud.__path__ = [ROOT]
    sys.modules["ansible_collections.slipway"] = slipway
    sys.modules["ansible_collections.slipway.cloud"] = cloud
    ansible_collections.slipway = slipway
    slipway.cloud = cloud


_alias_collection()


# -- splitting a run by what it needs ------------------------------------------------------------
# The integration stage runs three sessions at once (Makefile, `integration`), one per `--part`:
# - machines: the tests on real local machines (they mostly wait: machines booting, apt, SSH);
# - openstack: the tests on the loopback OpenStack (one cloud per session: a minute of CPU to start,
#   800 MB), also those that use local machines beside it (the local clouds' fixtures are made for
#   sessions at once);
# - apis: the tests on the other API servers of loopback (moto, the Exoscale test server).
# A test is on local machines when one of these fixtures is in its closure, or when it says so with the
# `local_machines` marker (a fixture it asks for at run time, e.g. a parametrised family); on OpenStack
# likewise, with the `openstack` marker.
LOCAL_MACHINE_FIXTURES = frozenset(("local_cloud_session", "isolated_local_cloud", "local_pair"))
OPENSTACK_FIXTURES = frozenset(("openstack_cloud",))
PARTS = ("any", "machines", "openstack", "apis")


def pytest_addoption(parser):
    parser.addoption("--part", choices=PARTS, default="any",
                     help="run only the tests on real local machines, on the loopback OpenStack, on the other "
                          "API servers, or all (any)")


def part_of(item):
    """machines, openstack or apis: the part of the integration stage a test runs in."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if OPENSTACK_FIXTURES & fixtures or item.get_closest_marker("openstack") is not None:
        return "openstack"
    if LOCAL_MACHINE_FIXTURES & fixtures or item.get_closest_marker("local_machines") is not None:
        return "machines"
    return "apis"


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--part")
    if wanted == "any":
        return
    keep, drop = [], []
    for item in items:
        (keep if part_of(item) == wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
