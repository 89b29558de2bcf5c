"""Fixtures of the module tests live in module_helpers.py, so test files can import its helpers
by a name no other test directory's conftest shares."""

from module_helpers import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
