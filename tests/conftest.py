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
