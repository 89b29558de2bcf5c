"""The molecule stage: the collection's own roles' scenarios (collected by pytest-ansible's molecule
support, see the Makefile's molecule target) and users' roles made from nothing (test_user_role.py)."""

import os
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
