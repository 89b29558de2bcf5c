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
# The integration stage runs two sessions at once (Makefile, `integration`): the tests on real local
# machines (they wait on machines booting and apt, a host lock, the host's bridges) and the tests on API
# servers of loopback (moto, the Exoscale test server, OpenStack), which never touch a local cloud. A test
# is on local machines when one of these fixtures is in its closure, or when it says so with the
# `local_machines` marker (a fixture it asks for at run time, e.g. a parametrised family). A test on the
# loopback OpenStack goes with the API servers even when it uses local machines too: one OpenStack per run
# (a minute of CPU to start, 800 MB), and the local clouds' fixtures are made for sessions at once.
LOCAL_MACHINE_FIXTURES = frozenset(("local_cloud_session", "isolated_local_cloud", "local_pair"))
OPENSTACK_FIXTURES = frozenset(("openstack_cloud",))


def pytest_addoption(parser):
    parser.addoption("--local-machines", choices=("any", "only", "none"), default="any",
                     help="run only the tests on real local machines (only), only the others (none), or all")


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--local-machines")
    if wanted == "any":
        return
    keep, drop = [], []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        local = (bool(LOCAL_MACHINE_FIXTURES & fixtures) or item.get_closest_marker("local_machines") is not None) \
            and not (OPENSTACK_FIXTURES & fixtures or item.get_closest_marker("openstack") is not None)
        (keep if local == (wanted == "only") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
