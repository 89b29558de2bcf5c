# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX's rules for custom credential types, and AWX's injection of a credential, without AWX.

``problems(definition)`` checks one credential type (the API payload: name, description, kind, inputs,
injectors) by the rules AWX applies when a type is created: the credential type serializer (kind
``cloud`` or ``net``), ``CredentialTypeInputField`` (field schema, ids, the reserved id ``tower``,
defaults, string-only keys) and ``CredentialTypeInjectorField`` (file/env/extra_vars schema, single- or
multi-file syntax but not both, no ``ANSIBLE_*`` nor blocklisted variables, every template rendered
with undefined names as errors). It is written from those rules; ENV_BLOCKLIST is AWX's own list as
``awx-plugins-interfaces`` carries it.

``inject(definition, inputs, private_data_dir)`` renders a credential of that type through
``awx-plugins-interfaces``' ``inject_credential``, as AWX does for a job (or, with ``inventory=True``,
for an inventory update). ``load_type(path)`` reads a shipped credential type file (``!unsafe`` tags
are plain strings here).
"""

import os
import re

import yaml
from awx_plugins.interfaces._temporary_private_api import ManagedCredentialType
from awx_plugins.interfaces._temporary_private_credential_api import Credential
from awx_plugins.interfaces._temporary_private_inject_api import ENV_BLOCKLIST, inject_credential
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

#: where AWX mounts a job's private data directory inside the execution environment
CONTAINER_ROOT = "/runner"
KINDS = ("cloud", "net")
TOP_KEYS = {"name", "description", "kind", "inputs", "injectors"}
FIELD_KEYS = {"type", "format", "choices", "id", "label", "help_text", "multiline", "secret", "ask_at_runtime",
              "default"}
STRING_ONLY_KEYS = ("choices", "multiline", "format", "secret")
VARIABLE_NAME = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$")
FILE_KEY = re.compile(r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$")


class _UnsafeLoader(yaml.SafeLoader):
    """YAML with Ansible's ``!unsafe`` tag read as a plain string."""


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_type(path):
    with open(path) as handle:
        return yaml.load(handle, Loader=_UnsafeLoader)  # noqa: S506  (a SafeLoader with one more tag)


def problems(definition):
    """Every rule the credential type breaks, as messages; [] when AWX would accept it."""
    if not isinstance(definition, dict):
        return ["a credential type is a mapping, not %s" % type(definition).__name__]
    found = ["unknown key %r (an AWX credential type has %s)" % (key, ", ".join(sorted(TOP_KEYS)))
             for key in sorted(set(definition) - TOP_KEYS)]
    if not isinstance(definition.get("name"), str) or not definition["name"].strip():
        found.append("name: required, a non-empty string")
    if definition.get("kind") not in KINDS:
        found.append("kind: must be 'cloud' or 'net', not %r" % definition.get("kind"))
    inputs = definition.get("inputs") or {}
    field_problems = _input_problems(inputs)
    found += field_problems
    if not field_problems:       # as AWX: templates are checked only against valid inputs
        found += _injector_problems(definition.get("injectors") or {}, [f["id"] for f in inputs.get("fields", [])])
    return found


def _input_problems(inputs):
    if not isinstance(inputs, dict):
        return ["inputs: must be a mapping with fields and required"]
    found = []
    if "dependencies" in inputs:
        found.append("inputs: 'dependencies' is not supported for custom credentials")
    found += ["inputs: unknown key %r" % key for key in sorted(set(inputs) - {"fields", "required", "dependencies"})]
    ids = set()
    for index, field in enumerate(inputs.get("fields", [])):
        where = "inputs.fields[%d]" % index
        if not isinstance(field, dict):
            found.append("%s: must be a mapping" % where)
            continue
        found += ["%s: unknown key %r" % (where, key) for key in sorted(set(field) - FIELD_KEYS)]
        found += ["%s: %s is required" % (where, key) for key in ("id", "label") if key not in field]
        field_id = field.get("id")
        if not isinstance(field_id, str) or not VARIABLE_NAME.match(field_id):
            found.append("%s: %r is an invalid variable name" % (where, field_id))
        if field_id == "tower":
            found.append('%s: "tower" is a reserved field name' % where)
        if field_id in ids:
            found.append("%s: field IDs must be unique (%s)" % (where, field_id))
        ids.add(field_id)
        kind = field.get("type", "string")
        if kind not in ("string", "boolean"):
            found.append("%s: type must be string or boolean, not %r" % (where, kind))
            continue
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}[kind]):
            found.append("%s: %r is not a %s" % (where, field["default"], kind))
        if field.get("format") not in (None, "ssh_private_key", "url"):
            found.append("%s: format must be ssh_private_key or url" % where)
        choices = field.get("choices")
        if choices is not None and (not isinstance(choices, list) or not choices or len(set(choices)) != len(choices)
                                    or not all(isinstance(c, str) for c in choices)):
            found.append("%s: choices must be a non-empty list of distinct strings" % where)
        found += ["%s: %s not allowed for %s type (%s)" % (where, key, kind, field_id)
                  for key in STRING_ONLY_KEYS if key in field and kind != "string"]
        found += ["%s: %s must be true or false" % (where, key) for key in ("multiline", "secret", "ask_at_runtime")
                  if key in field and not isinstance(field[key], bool)]
    required = inputs.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        found.append("inputs.required: must be a list of field ids")
    else:
        # not a schema rule of AWX, but a credential of the type could never be created
        found += ["inputs.required: %r is not a field" % name for name in required if name not in ids]
    return found


class _ExplodingFilename:
    def __str__(self):
        raise UndefinedError("Must define unnamed file injector in order to reference `tower.filename`.")


class _TowerNamespace:
    def __init__(self):
        self.filename = _ExplodingFilename()

    def __str__(self):
        raise UndefinedError("Cannot directly reference reserved `tower` namespace container.")


def _injector_problems(injectors, field_ids):
    if not isinstance(injectors, dict):
        return ["injectors: must be a mapping with file, env and/or extra_vars"]
    found = ["injectors: unknown key %r (file, env, extra_vars)" % key
             for key in sorted(set(injectors) - {"file", "env", "extra_vars"})]
    patterns = {"file": FILE_KEY, "env": VARIABLE_NAME, "extra_vars": VARIABLE_NAME}
    for section, pattern in patterns.items():
        for key, template in (injectors.get(section) or {}).items():
            if not pattern.match(str(key)):
                found.append("injectors.%s: %r does not match %s" % (section, key, pattern.pattern))
            if not isinstance(template, str):
                found.append("injectors.%s.%s: must be a string template" % (section, key))
            elif section == "env" and not template.isascii():
                found.append("injectors.env.%s: the value must be ASCII" % key)
    for variable in injectors.get("env") or {}:
        if variable.startswith("ANSIBLE_"):
            found.append("injectors.env: environment variable %s may affect Ansible configuration so its use "
                         "is not allowed in credentials" % variable)
        elif variable in ENV_BLOCKLIST:
            found.append("injectors.env: environment variable %s is not allowed to be used in credentials" % variable)

    namespace = {field_id: "EXAMPLE" for field_id in field_ids}
    namespace["tower"] = _TowerNamespace()
    templates = [key for key in (injectors.get("file") or {}) if str(key).startswith("template")]
    if "template" in templates:
        namespace["tower"].filename = "EXAMPLE_FILENAME"
        if len(templates) > 1:
            found.append("injectors.file: Must use multi-file syntax when injecting multiple files")
    else:
        # multi-file: tower.filename.<name> for each file, tower.filename itself still explodes
        for key in templates:
            setattr(namespace["tower"].filename, key.split(".", 1)[1], "EXAMPLE_FILENAME")
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for section in ("file", "env", "extra_vars"):
        for key, template in (injectors.get(section) or {}).items():
            if not isinstance(template, str):
                continue
            try:
                sandbox.from_string(template).render(namespace)
            except UndefinedError as exc:
                found.append("injectors.%s.%s uses an undefined field (%s)" % (section, key, exc))
            except SecurityError as exc:
                found.append("injectors.%s.%s: unsafe code execution (%s)" % (section, key, exc))
            except TemplateSyntaxError as exc:
                found.append("injectors.%s.%s: syntax error (%s)" % (section, key, exc))
    return found


def managed_type(definition):
    """The credential type as awx-plugins-interfaces' ManagedCredentialType."""
    return ManagedCredentialType(namespace=definition["name"], name=definition["name"], kind=definition["kind"],
                                 inputs=definition["inputs"], injectors=definition["injectors"])


def inject(definition, inputs, private_data_dir, inventory=False):
    """(env, extra-vars args) of one credential of ``definition`` with ``inputs``, as AWX injects it.

    File injectors write into ``private_data_dir``/env; their variables hold the path as the job sees it
    (under /runner). ``inventory``: as for an inventory update (AWX sets INVENTORY_UPDATE_ID first, and
    then injects no extra vars).
    """
    os.makedirs(os.path.join(private_data_dir, "env"), exist_ok=True)
    env = {"INVENTORY_UPDATE_ID": "1"} if inventory else {}
    safe_env, args = dict(env), []
    inject_credential(managed_type(definition), Credential(inputs=inputs), env, safe_env, args, private_data_dir)
    env.pop("INVENTORY_UPDATE_ID", None)
    return env, args


def host_path(value, private_data_dir):
    """``value`` with each /runner/... path (of a ``:``-separated list) as a process outside a container sees
    it: the execution environment mounts the private data directory at /runner."""
    parts = []
    for part in value.split(os.pathsep):
        if part == CONTAINER_ROOT or part.startswith(CONTAINER_ROOT + "/"):
            part = os.path.join(private_data_dir, part[len(CONTAINER_ROOT):].lstrip("/"))
        parts.append(part)
    return os.pathsep.join(parts)


def file_variables(definition):
    """Environment variables whose value names an injected file (their templates use tower.filename)."""
    return sorted(variable for variable, template in ((definition.get("injectors") or {}).get("env") or {}).items()
                  if "tower.filename" in template)
