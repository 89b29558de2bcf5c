# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/runtime.yml must name every module in the `all` action group, and nothing else.

`module_defaults: {group/slipway.cloud.all: ...}` silently skips a module that is missing
from the group, so a forgotten entry is a bug users would only notice as a wrong default.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(ROOT, "meta", "runtime.yml")
MODULES = os.path.join(ROOT, "plugins", "modules")
FQCN_PREFIX = "slipway.cloud."


def _runtime():
    with open(RUNTIME, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _module_names():
    if not os.path.isdir(MODULES):
        return set()
    return {
        name[:-3]
        for name in os.listdir(MODULES)
        if name.endswith(".py") and not name.startswith("_")
    }


def _group_names(entries):
    # Entries may be short names or FQCNs; both mean a module of this collection.
    names = set()
    for entry in entries or []:
        assert isinstance(entry, str), "action group entries must be strings, got %r" % (entry,)
        if entry.startswith(FQCN_PREFIX):
            entry = entry[len(FQCN_PREFIX):]
        assert "." not in entry, "%r is not a module of slipway.cloud" % (entry,)
        names.add(entry)
    return names


def _out_of_sync(runtime, present):
    """Return an explanation when the `all` group differs from the modules present, else None."""
    groups = (runtime or {}).get("action_groups") or {}
    if "all" not in groups:
        return "meta/runtime.yml needs action_groups.all"
    listed = _group_names(groups["all"])
    missing = sorted(present - listed)
    stale = sorted(listed - present)
    if not missing and not stale:
        return None
    if present:
        wanted = "  all:\n" + "\n".join("    - %s" % name for name in sorted(present))
    else:
        wanted = "  all: []"
    return (
        "meta/runtime.yml action_groups.all is out of sync with plugins/modules: "
        "missing %s, no such module %s. It should read:\n%s" % (missing, stale, wanted)
    )


def test_requires_ansible():
    assert _runtime()["requires_ansible"] == ">=2.18.0"


def test_all_group_lists_exactly_the_modules():
    problem = _out_of_sync(_runtime(), _module_names())
    assert problem is None, problem


def test_sync_check_catches_missing_and_stale_entries():
    runtime = {"action_groups": {"all": ["image_info", "slipway.cloud.gone"]}}
    problem = _out_of_sync(runtime, {"image_info", "size_info"})
    assert "missing ['size_info']" in problem
    assert "no such module ['gone']" in problem
    assert _out_of_sync({"action_groups": {"all": ["slipway.cloud.size_info"]}}, {"size_info"}) is None
    assert "needs action_groups.all" in _out_of_sync({}, set())


def test_group_names_accepts_short_and_fqcn_and_rejects_foreign():
    assert _group_names(["image_info", "slipway.cloud.size_info"]) == {"image_info", "size_info"}
    try:
        _group_names(["amazon.aws.ec2_instance"])
    except AssertionError:
        pass
    else:
        raise AssertionError("a foreign FQCN must be rejected")
