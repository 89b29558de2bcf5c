"""The smoke tests `make matrix` runs under every supported ansible-core (see test_smoke.py)."""

import os
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.local_cloud import isolated_local_cloud, local_ssh_key  # noqa: E402,F401  pylint: disable=unused-import
