# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One validated file's entries as the catalog's definitions: clouds, images, security groups.

Each builder takes one entry as the schema let it through (validation.py) and gives the
object the Catalog indexes: a model.Cloud, an ImageDef holding only the image's own values
(each with the "image at file:line" source that image_info shows), or a SecurityGroupDef with
its rules parsed and canonical. Checks that need the whole catalog (names defined once,
references, parent cycles) are the Catalog's. No Ansible imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Cloud, Flavor, SlipwayError
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.rules import canonical, parse_rules


@dataclass(frozen=True)
class SecurityGroupDef:
    name: str
    description: str
    rules: tuple                 # (model.Rule, ...) canonical, from rules.parse_rules
    image_ports: bool = False    # also open the placed image's ports
    source: str | None = None

    def rules_for(self, ports=()):
        """The group's rules for a machine whose image declares ``ports``."""
        if not self.image_ports or not ports:
            return self.rules
        return canonical(self.rules + parse_rules(port_rule_dicts(ports), where="ports"))


def port_rule_dicts(ports):
    """Rule dicts (rules.py format) opening tcp ``ports`` from anywhere (IPv4, like the SSH rule)."""
    return [{"proto": "tcp", "ports": port, "source": "0.0.0.0/0"} for port in ports]


@dataclass
class ImageDef:
    """One image as written in one file (its own values only; see Catalog.resolve)."""

    name: str
    file: str
    line: int
    layer: int
    description: str | None = None
    os: str | None = None
    parent: str | None = None
    # [(field, value, source)] for image-level values, and per cloud
    own: list = field(default_factory=list)
    cloud_own: dict = field(default_factory=dict)
    lines: dict = field(default_factory=dict)


def size_spec(size):
    """A size mapping as a hashable (cpu, ram_gb, flavor)."""
    return (size.get("cpu"), size.get("ram_gb"), size.get("flavor"))


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def build_cloud(name, body, path, line):
    """The model.Cloud of entry ``clouds.<name>`` at ``path``:``line``."""
    flavors = tuple(
        Flavor(name=str(flavor), cpu=spec["cpu"], ram_gb=spec["ram_gb"],
               disk_gb=spec.get("disk_gb"), price=spec.get("price"))
        for flavor, spec in (body.get("flavors") or {}).items())
    sizing = body.get("sizing", "table")
    if sizing == "table" and not flavors:
        raise CatalogError("%s:%s: clouds.%s: give flavors (name -> {cpu, ram_gb}), sizing: cloud (the flavors the "
                           "cloud lists) or sizing: explicit" % (path, line, name), file=path, line=line,
                           key="clouds.%s" % name, valid=["flavors", "sizing: cloud", "sizing: explicit"])
    if sizing == "cloud" and flavors:
        raise CatalogError("%s:%s: clouds.%s: sizing: cloud reads the flavors from the cloud; remove flavors, or "
                           "keep them and remove sizing: cloud" % (path, line, name), file=path, line=line,
                           key="clouds.%s.flavors" % name)
    return Cloud(
        name=name,
        provider=body["provider"],
        region=body.get("region"),
        endpoint=body.get("endpoint"),
        credentials=tuple((body.get("credentials") or {}).items()),
        security_groups=body.get("security_groups", True),
        sizing=sizing,
        flavors=flavors,
        options=_freeze(dict(body.get("options") or {})),
        source="%s:%s" % (path, line),
    )


_IMAGE_FIELDS = ("login_user", "size", "security_groups", "ports")
_CLOUD_FIELDS = ("login_user", "size", "security_groups")


def build_image(name, body, path, line, layer):
    """The ImageDef of entry ``images.<name>``: its own values (image-wide and per cloud), each with its source."""
    lines = body.lines
    image = ImageDef(name=name, file=path, line=line, layer=layer, description=body.get("description"),
                     os=body.get("os"), parent=body.get("parent"))
    image.lines = {"parent": lines.get("parent", line)}
    for key in _IMAGE_FIELDS:
        if key in body:
            value = body[key]
            if key in ("security_groups", "ports"):
                value = tuple(value)
            elif key == "size":
                value = size_spec(value)
            image.own.append((key, value, "%s at %s:%s" % (name, path, lines[key])))
    clouds = body.get("clouds") or {}
    for cloud_name, spec in clouds.items():
        cloud_line = clouds.lines[cloud_name]
        image.lines[("clouds", cloud_name)] = cloud_line
        values = []
        spec = spec or {}
        spec_lines = getattr(spec, "lines", {})
        where = "%s clouds.%s at %s:" % (name, cloud_name, path)
        if "image_id" in spec:
            values.append(("native", ("id", spec["image_id"]), where + str(spec_lines["image_id"])))
        elif "image_lookup" in spec:
            values.append(("native", ("lookup", dict(spec["image_lookup"])), where + str(spec_lines["image_lookup"])))
        for key in _CLOUD_FIELDS:
            if key in spec:
                value = spec[key]
                if key == "security_groups":
                    value = tuple(value)
                elif key == "size":
                    value = size_spec(value)
                values.append((key, value, where + str(spec_lines[key])))
        image.cloud_own[cloud_name] = values
    return image


def build_group(name, body, path, line):
    """The SecurityGroupDef of entry ``security_groups.<name>``; a bad rule names its file and line."""
    where = "security_groups.%s.rules" % name
    rules_line = body.lines.get("rules", line)
    try:
        rules = parse_rules(list(body.get("rules") or ()), where=where)
    except SlipwayError as exc:
        details = dict(exc.details, file=path, line=rules_line)
        details.setdefault("key", where)
        raise CatalogError("%s:%s: %s" % (path, rules_line, exc.msg), **details) from None
    return SecurityGroupDef(name=name, description=body.get("description") or "slipway.cloud group %s" % name,
                            rules=tuple(rules), image_ports=bool(body.get("image_ports", False)),
                            source="%s:%s" % (path, line))
