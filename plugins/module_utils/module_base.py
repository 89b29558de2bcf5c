# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin Ansible glue every slipway.cloud module shares.

A module builds ``SlipwayModule(argument_spec=..., supports_check_mode=True)``
(the common ``catalog`` option is added here) and calls ``module.run(main)``,
where ``main(module)`` returns the result dict. A SlipwayError raised by the
engine becomes ``fail_json(msg=..., **details)`` so callers see the file, line,
key and valid values as fields, not only in the message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.slipway.cloud.plugins.module_utils.catalog import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog_layers import default_catalog_layers
from ansible_collections.slipway.cloud.plugins.module_utils.catalog_yaml import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.slipway.cloud.plugins.module_utils.model import SlipwayError

#: Options every catalog-reading module takes (documented by the slipway.cloud.catalog doc fragment).
CATALOG_ARGUMENT_SPEC = dict(
    catalog=dict(type="list", elements="path"),
)


class SlipwayModule(AnsibleModule):
    """AnsibleModule plus the catalog option and SlipwayError -> fail_json."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(CATALOG_ARGUMENT_SPEC)
        spec.update(argument_spec)
        super(SlipwayModule, self).__init__(argument_spec=spec, **kwargs)
        if not HAS_YAML:
            self.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
        self._catalog = None

    def catalog_layers(self):
        """The catalog option, else SLIPWAY_CATALOG, else the shipped catalog (when findable)."""
        return list(self.params.get("catalog") or default_catalog_layers())

    def load_catalog(self):
        """The Catalog of this run, loaded once."""
        if self._catalog is None:
            self._catalog = load_catalog(self.catalog_layers())
        return self._catalog

    def fail_error(self, error):
        """Fail with a SlipwayError's message and its details (file, line, key, valid...) as fields."""
        details = dict(error.details)
        for reserved in ("msg", "failed", "changed", "exception", "invocation"):
            details.pop(reserved, None)
        self.fail_json(msg=error.msg, **details)

    def run(self, main):
        """exit_json(**main(self)), with changed defaulting to False; engine errors fail cleanly."""
        try:
            result = main(self)
            result.setdefault("changed", False)
        except SlipwayError as error:
            self.fail_error(error)
        except Exception as error:  # pylint: disable=broad-except
            # One clear line for the user; the traceback stays available with -vvv.
            self.fail_json(msg="unexpected error: %s: %s" % (type(error).__name__, error),
                           exception=traceback.format_exc())
        else:
            self.exit_json(**result)
