# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing a flavor from a cloud's table by name or by cpu/ram.

Rules (the public contract, see docs/catalog.md):
- an explicit flavor name wins (it must be in the cloud's table);
- otherwise the smallest flavor with cpu >= wanted and ram >= wanted, ties broken by
  fewer cpu, then less ram, then lower price (unpriced last), then name;
- on a cloud with ``sizing: explicit`` any positive cpu/ram is accepted as is;
- on a cloud with ``sizing: cloud`` the table is the cloud's own flavors, read when a machine is made
  (providers.base.Provider.sized_placement applies these same rules to it): until then a choice carries
  the wanted cpu/ram, or the flavor name, and no figures.
No Ansible imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError, Flavor

#: how many runners-up size_info and error messages show
CANDIDATES = 3


@dataclass(frozen=True)
class SizeChoice:
    """The outcome of sizing: what the machine gets, and what else would have fitted."""

    flavor: object            # model.Flavor, or None on explicit-sizing clouds
    cpu: float
    ram_gb: float
    candidates: tuple = ()    # the next flavors that also fit, best first

    @property
    def flavor_name(self):
        return self.flavor.name if self.flavor is not None else None

    def to_dict(self):
        return {
            "flavor": self.flavor_name,
            "cpu": self.cpu,
            "ram_gb": self.ram_gb,
            "candidates": [flavor_to_dict(f) for f in self.candidates],
        }


def flavor_to_dict(flavor):
    return {"name": flavor.name, "cpu": flavor.cpu, "ram_gb": flavor.ram_gb,
            "disk_gb": flavor.disk_gb, "price": flavor.price}


def flavor_order(flavor):
    """Sort key: fewer cpu, less ram, lower price (unpriced after priced), name."""
    price = flavor.price if flavor.price is not None else math.inf
    return (flavor.cpu, flavor.ram_gb, price, flavor.name)


def sorted_flavors(cloud):
    return sorted(cloud.flavors, key=flavor_order)


def positive_number(value, what, source=None):
    """``value`` as a positive finite number, or a CatalogError naming ``what``.

    Numeric strings are accepted because Ansible options often arrive as text
    (``cpu=2`` on the command line); booleans are not numbers here.
    """
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise CatalogError("%s must be a number greater than 0, got %s%s"
                           % (what, excerpt(value), _at(source)), key=what, valid="a number > 0", source=source)
    if number <= 0:
        raise CatalogError("%s must be greater than 0, got %s%s" % (what, excerpt(value), _at(source)),
                           key=what, valid="a number > 0", source=source)
    if isinstance(number, float) and number.is_integer():
        number = int(number)  # 2.0 from an Ansible float option reads as 2, like the catalog's tables
    return number


def _at(source):
    return " (from %s)" % source if source else ""


def nearest_flavors(cloud, cpu, ram_gb, count=CANDIDATES):
    """The flavors closest to a request none satisfies: smallest relative shortfall first."""
    def shortfall(flavor):
        missing = 0.0
        if cpu:
            missing += max(0.0, cpu - flavor.cpu) / cpu
        if ram_gb:
            missing += max(0.0, ram_gb - flavor.ram_gb) / ram_gb
        return (missing,) + flavor_order(flavor)
    return tuple(sorted(cloud.flavors, key=shortfall)[:count])


def choose_flavor(cloud, cpu=None, ram_gb=None, flavor=None, source=None):
    """Pick the flavor for a request on ``cloud`` (a model.Cloud). Returns a SizeChoice.

    ``flavor`` (a name) wins over cpu/ram. cpu or ram_gb alone constrain only that
    dimension on table clouds; explicit-sizing clouds need both. ``source`` names
    where the request came from, for error messages.
    """
    if flavor is not None:
        if not isinstance(flavor, str) or not flavor:
            raise CatalogError("flavor must be a flavor name, got %s%s" % (excerpt(flavor), _at(source)),
                               key="flavor", cloud=cloud.name, source=source)
        if cloud.sizing == "cloud":
            return SizeChoice(Flavor(name=flavor, cpu=None, ram_gb=None), None, None)
        chosen = cloud.flavor(flavor)
        if chosen is None:
            valid = [f.name for f in sorted_flavors(cloud)]
            if not valid:
                raise CatalogError(
                    "cloud %s has no flavor table (sizing: explicit): give cpu and ram_gb instead of flavor %s%s"
                    % (cloud.name, excerpt(flavor), _at(source)), key="flavor", cloud=cloud.name, source=source)
            raise CatalogError("flavor %s is not in the table of cloud %s%s; valid flavors: %s"
                               % (excerpt(flavor), cloud.name, _at(source), ", ".join(valid)),
                               key="flavor", cloud=cloud.name, valid=valid, source=source)
        return SizeChoice(chosen, chosen.cpu, chosen.ram_gb)

    if cpu is None and ram_gb is None:
        raise CatalogError("no size given for cloud %s%s: give cpu and ram_gb, or a flavor"
                           % (cloud.name, _at(source)), key="size", cloud=cloud.name, source=source)
    cpu = positive_number(cpu, "cpu", source) if cpu is not None else None
    ram_gb = positive_number(ram_gb, "ram_gb", source) if ram_gb is not None else None

    if cloud.sizing == "cloud":
        return SizeChoice(None, cpu, ram_gb)
    if cloud.sizing == "explicit":
        if cpu is None or ram_gb is None:
            raise CatalogError("cloud %s sizes machines explicitly: give both cpu and ram_gb%s"
                               % (cloud.name, _at(source)), key="size", cloud=cloud.name, source=source)
        return SizeChoice(None, cpu, ram_gb)

    fitting = [f for f in sorted_flavors(cloud)
               if (cpu is None or f.cpu >= cpu) and (ram_gb is None or f.ram_gb >= ram_gb)]
    if not fitting:
        nearest = nearest_flavors(cloud, cpu, ram_gb)
        raise CatalogError(
            "no flavor of cloud %s has %s%s; nearest: %s"
            % (cloud.name, _describe(cpu, ram_gb), _at(source),
               ", ".join("%s (%s cpu, %s GB)" % (f.name, f.cpu, f.ram_gb) for f in nearest) or "none"),
            key="size", cloud=cloud.name, source=source,
            valid=[f.name for f in nearest], wanted={"cpu": cpu, "ram_gb": ram_gb})
    chosen = fitting[0]
    return SizeChoice(chosen, chosen.cpu, chosen.ram_gb, tuple(fitting[1:1 + CANDIDATES]))


def _describe(cpu, ram_gb):
    parts = []
    if cpu is not None:
        parts.append("at least %s cpu" % cpu)
    if ram_gb is not None:
        parts.append("at least %s GB ram" % ram_gb)
    return " and ".join(parts)


def flavor_drift(table, live, name_for=None):
    """How a catalog's flavor ``table`` differs from the flavors a cloud lists (``live``), as dicts:
    ``problem`` "missing" (the cloud has no flavor of that name) or "differs" (other cpu, RAM or, when the
    catalog gives it, disk), with both sides' figures. ``name_for`` maps a catalog name to the cloud's
    (Exoscale: Tiny -> standard.tiny)."""
    by_name = {flavor.name: flavor for flavor in live}
    drift = []
    for flavor in table:
        cloud_name = name_for(flavor.name) if name_for else flavor.name
        found = by_name.get(cloud_name)
        entry = {"flavor": flavor.name, "cloud_name": cloud_name, "catalog": flavor_to_dict(flavor)}
        if found is None:
            drift.append(dict(entry, problem="missing", cloud=None, differs=[]))
            continue
        keys = ["cpu", "ram_gb"] + (["disk_gb"] if flavor.disk_gb is not None else [])
        differs = [key for key in keys if getattr(found, key) != getattr(flavor, key)]
        if differs:
            drift.append(dict(entry, problem="differs", cloud=flavor_to_dict(found), differs=differs))
    return drift
