# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JSON Schema: one document in two places, valid itself, and the catalog's validator agrees with jsonschema."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

import jsonschema
import pytest
import yaml

from ansible_collections.slipway.cloud.plugins.module_utils.catalog.validation import validate_document
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.schema import SCHEMA
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_docs_schema_file_is_the_module_utils_schema():
    with open(os.path.join(ROOT, "docs", "catalog.schema.json"), encoding="utf-8") as handle:
        assert json.load(handle) == SCHEMA


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


YAML_FILES = sorted(glob.glob(os.path.join(ROOT, "catalog", "*.yml"))
                    + glob.glob(os.path.join(ROOT, "tests", "unit", "data", "*", "*.yml")))


@pytest.mark.parametrize("path", YAML_FILES, ids=os.path.basename)
def test_shipped_and_fixture_files_validate_with_jsonschema(path):
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    VALIDATOR.validate(document)
    validate_document(document, path)


GOOD = [
    "clouds: {c: {provider: local, sizing: explicit}}",
    "clouds: {c: {provider: ec2, flavors: {t3.micro: {cpu: 2, ram_gb: 1, price: 0.01, disk_gb: 8}}}}",
    "images: {a: {size: {flavor: Small}, ports: [80, 443], security_groups: [g]}}",
    "images: {a: {clouds: {c: {image_lookup: {name: 'x-*', owner: '1'}, size: {cpu: 1, ram_gb: 0.5}}}}}",
    "security_groups: {g: {rules: [{proto: tcp, ports: 22, source: 0.0.0.0/0}], image_ports: true}}",
    "clouds: {c: {provider: local, sizing: explicit, credentials: {key: MY_KEY}, options: {subnet: 198.18.1.0/24}}}",
    "defaults: {security_groups: [slipway_managed, web]}",
    "defaults: {security_groups: []}",
    "defaults: {}",
]
BAD = [
    "imagez: {}",
    "clouds: {c: {sizing: explicit}}",
    "clouds: {c: {provider: local, sizing: elastic}}",
    "clouds: {c: {provider: local, flavors: {S: {cpu: 0, ram_gb: 1}}}}",
    "clouds: {c: {provider: local, flavors: {S: {cpu: one, ram_gb: 1}}}}",
    "clouds: {c: {provider: local, flavors: {S: {cpu: true, ram_gb: 1}}}}",
    "clouds: {c: {provider: local, flavors: {}}}",
    "clouds: {c: {provider: ec2, credentials: {secret: 'wJalrXUtnFEMI/K7MDENG'}}}",
    "clouds: {c: {provider: local, endpoint: 'ftp://x'}}",
    "images: {a: {size: {cpu: 1}}}",
    "images: {a: {size: {flavor: S, cpu: 1, ram_gb: 1}}}",
    "images: {a: {size: {}}}",
    "images: {a: {ports: [0]}}",
    "images: {a: {ports: [22, 22]}}",
    "images: {a: {ports: ['80']}}",
    "images: {a: {clouds: {c: {image_id: x, image_lookup: {name: y}}}}}",
    "images: {a: {clouds: {c: {image_lookup: {owner: y}}}}}",
    "images: {a: {security_groups: [g, g]}}",
    "images: {'-a': {}}",
    "security_groups: {g: {image_ports: yes please}}",
    "security_groups: {g: {rules: {proto: tcp}}}",
    "defaults: {security_group: [g]}",
    "defaults: {security_groups: g}",
    "defaults: {security_groups: [g, g]}",
    "defaults: {security_groups: ['-g']}",
    "defaults: [security_groups]",
]


@pytest.mark.parametrize("text", GOOD)
def test_both_validators_accept(text):
    document = yaml.safe_load(text)
    VALIDATOR.validate(document)
    validate_document(document, "good.yml")


@pytest.mark.parametrize("text", BAD)
def test_both_validators_reject(text):
    document = yaml.safe_load(text)
    assert list(VALIDATOR.iter_errors(document)), "jsonschema accepted %s" % text
    with pytest.raises(CatalogError, match=r"^bad\.yml"):
        validate_document(document, "bad.yml")
