# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JSON Schema of one catalog layer file, as a Python dict.

It lives in module_utils so it travels with the modules (AnsiballZ ships
module_utils only); docs/catalog.schema.json is the same document for users'
editors, and a unit test proves the two are identical. validation.py validates
every file against this schema with a small interpreter (the subset used here),
so the allowed keys are written down exactly once.

"x-message" is an extension keyword (ignored by other validators) holding the
sentence shown when a combinator (oneOf/not) fails.
"""

from __future__ import annotations

from ansible_collections.slipway.cloud.plugins.module_utils.names import CATALOG_NAME

# Anchored with \Z: Python's $ also matches before a final newline (issue 18). validation.py
# matches every pattern with re.search, as JSON Schema does.
NAME_PATTERN = r"^%s\Z" % CATALOG_NAME
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*\Z"

_POSITIVE = {"type": "number", "exclusiveMinimum": 0}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "slipway.cloud catalog layer file",
    "description": "One YAML file of a catalog layer. A catalog is an ordered list of layers "
                   "(directories of *.yml files); later layers may derive images from earlier "
                   "ones (parent) but may not redefine any name.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "clouds": {
            "description": "Clouds by name.",
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/cloud"},
        },
        "images": {
            "description": "Logical images by name.",
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/image"},
        },
        "security_groups": {
            "description": "Security groups by name.",
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/security_group"},
        },
        "defaults": {
            "description": "Catalog-wide values for images whose chain (own, per-cloud or inherited values) "
                           "sets none. A key set in a later layer wins over the same key of an earlier layer; "
                           "within one layer each key is set once.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "security_groups": {
                    "description": "Groups of every placement on a cloud with security groups whose image names "
                                   "none; [] for none.",
                    "$ref": "#/$defs/group_names",
                },
            },
        },
    },
    "$defs": {
        "cloud": {
            "type": "object",
            "additionalProperties": False,
            "required": ["provider"],
            "properties": {
                "description": {"type": "string"},
                "provider": {
                    "description": "local, ec2, openstack, exoscale, or another libcloud driver name.",
                    "type": "string", "pattern": r"^[a-z][a-z0-9_]*\Z",
                },
                "region": {"type": "string", "minLength": 1},
                "endpoint": {
                    "description": "URL of a private or test API.",
                    "type": "string", "pattern": "^https?://",
                },
                "credentials": {
                    "description": "Driver argument -> NAME of the environment variable holding it "
                                   "(never the secret itself).",
                    "type": "object",
                    "additionalProperties": {"type": "string", "pattern": ENV_VAR_PATTERN},
                },
                "security_groups": {"description": "Does the cloud have security groups.",
                                    "type": "boolean"},
                "sizing": {"description": "table: only the listed flavors; explicit: any cpu/ram; cloud: the "
                                          "flavors the cloud lists, read when a machine is made.",
                           "enum": ["table", "explicit", "cloud"]},
                "flavors": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"$ref": "#/$defs/flavor"},
                },
                "options": {"description": "Provider-specific settings (e.g. subnet of a local cloud).",
                            "type": "object"},
            },
        },
        "flavor": {
            "type": "object",
            "additionalProperties": False,
            "required": ["cpu", "ram_gb"],
            "properties": {
                "cpu": _POSITIVE,
                "ram_gb": _POSITIVE,
                "disk_gb": _POSITIVE,
                "price": {"type": "number", "minimum": 0},
            },
        },
        "size": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cpu": _POSITIVE,
                "ram_gb": _POSITIVE,
                "flavor": {"type": "string", "minLength": 1},
            },
            "oneOf": [
                {"required": ["flavor"], "not": {"anyOf": [{"required": ["cpu"]}, {"required": ["ram_gb"]}]}},
                {"required": ["cpu", "ram_gb"], "not": {"required": ["flavor"]}},
            ],
            "x-message": "a size is either {cpu, ram_gb} or {flavor}",
        },
        "group_names": {
            "type": "array",
            "items": {"type": "string", "pattern": NAME_PATTERN},
            "uniqueItems": True,
        },
        "image": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "description": {"type": "string"},
                "os": {"type": "string"},
                "parent": {"type": "string", "pattern": NAME_PATTERN},
                "login_user": {"type": "string", "minLength": 1},
                "size": {"$ref": "#/$defs/size"},
                "security_groups": {"$ref": "#/$defs/group_names"},
                "ports": {
                    "description": "TCP ports the image's services listen on.",
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "uniqueItems": True,
                },
                "clouds": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/image_cloud"},
                },
            },
        },
        "image_cloud": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "image_id": {"type": "string", "minLength": 1},
                "image_lookup": {
                    "description": "Find the native image by name pattern (glob) and owner; newest wins. "
                                   "Each provider family takes some of the other keys (docs/providers.md).",
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "owner": {"type": "string", "minLength": 1},
                        "visibility": {"description": "openstack: public, private, shared, community or all; "
                                                      "exoscale: public or private.",
                                       "type": "string", "minLength": 1},
                        "architecture": {"description": "ec2: x86_64, arm64...", "type": "string", "minLength": 1},
                        "family": {"description": "exoscale: the template family.", "type": "string",
                                   "minLength": 1},
                    },
                },
                "login_user": {"type": "string", "minLength": 1},
                "size": {"$ref": "#/$defs/size"},
                "security_groups": {"$ref": "#/$defs/group_names"},
            },
            "not": {"required": ["image_id", "image_lookup"]},
            "x-message": "give image_id or image_lookup, not both",
        },
        "security_group": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "description": {"type": "string"},
                "rules": {
                    "description": "Ingress rules, in the format of module_utils/catalog/rules.py.",
                    "type": "array",
                    "items": {"type": "object"},
                },
                "image_ports": {
                    "description": "Also open the placed image's ports (tcp, from anywhere).",
                    "type": "boolean",
                },
            },
        },
    },
}
