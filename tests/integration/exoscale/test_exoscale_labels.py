# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag <-> Exoscale label mapping: always within Exoscale's label alphabet, and exactly reversible."""

import re

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.slipway.cloud.plugins.module_utils.model import DEPLOYMENT_TAG, MANAGED_TAG
from ansible_collections.slipway.cloud.plugins.module_utils.providers.exoscale.api import (
    decode_label,
    decode_labels,
    encode_label,
)

# Exoscale's published rule: letters, digits and * + ! - _ ?; not starting with a digit.
LABEL = re.compile(r"^[A-Za-z*+!_?-][A-Za-z0-9*+!_?-]*$")


def test_readable_for_slipway_tags():
    assert encode_label(MANAGED_TAG) == "slipway+managed"
    assert encode_label(DEPLOYMENT_TAG) == "slipway+deployment"
    assert encode_label("ubuntu-24.04") == "ubuntu-24*04"
    assert encode_label("true") == "true"


def test_escapes():
    assert encode_label("2025") == "?32025"                  # no leading digit
    assert encode_label("a+b*c?d") == "a?2bb?2ac?3fd"         # the code characters themselves
    assert encode_label("a b/ü") == "a?20b?2f?c3?bc"
    assert encode_label("") == "?"
    assert decode_label("?") == ""


@given(st.text(max_size=40))
def test_round_trip_and_alphabet(text):
    encoded = encode_label(text)
    assert LABEL.match(encoded), encoded
    assert decode_label(encoded) == text


def test_foreign_labels_are_kept_as_they_are():
    assert decode_labels({"env": "prod", "bad?zz": "x"}) == {"env": "prod", "bad?zz": "x"}
