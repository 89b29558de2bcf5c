# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: instances
short_description: Every machine slipway.cloud manages, on every cloud of the catalog
version_added: 0.1.0
author:
  - slipway.cloud contributors (@slipway-cloud)
description:
  - Lists every machine tagged C(slipway:managed) on the clouds of a slipway.cloud catalog, ready to be
    targeted by the next playbook or used as an AWX inventory source.
  - Each cloud is listed with one call, all clouds in parallel. A cloud that fails (unreachable endpoint,
    missing credentials, timeout) is named in a warning and the other clouds' hosts are still listed,
    unless O(strict=true).
  - When every listed cloud fails, the source fails (C(ansible-inventory) exits non-zero) whatever O(strict)
    says; an empty answer would make AWX, with "overwrite" on, delete every host of the inventory.
  - Hosts are named after the machines (tag C(slipway:name)) and their cloud, see O(hostnames).
  - Cloud values are data, never templates. Every host variable (nested values too), and so every input of
    O(compose), O(groups) and O(keyed_groups), is marked unsafe on every supported ansible-core, cached runs
    included. A machine whose name (or id, where the host name uses it) is not a valid machine name (letters,
    digits, C(-) and C(.), 1 to 63 characters) is not listed, with one warning naming its cloud and id; a cloud
    whose name is not one is not listed either. Group names made of cloud values keep only letters, digits and C(_).
  - 'Host variables: C(ansible_host) (see O(address)), C(ansible_user) (the login user from the machine record,
    else the catalog''s login user of the image on that cloud), C(slipway_cloud), C(slipway_id), C(slipway_image),
    C(slipway_flavor), C(slipway_cpu), C(slipway_ram_gb), C(slipway_deployment), C(slipway_state),
    C(slipway_ssh_url) and, where the cloud reports them, C(slipway_host_keys) (lines of C(ssh-ed25519 AAAA...));
    the role C(slipway.cloud.pin_host_keys) pins these at job time (AWX, an exported inventory).
    Variables without a value are not set. Every host variable is a cost per host on each run, so
    addresses other than the chosen one are not repeated; set O(address) to choose.'
  - Groups C(cloud_<cloud>), C(image_<image>) and C(deployment_<id>), with every character that Ansible
    does not allow in a group name replaced by C(_).
  - With O(cache=true) a cached run reads the host list from the cache plugin and imports no cloud library.
  - As an AWX inventory source, set the source's C(enabled_var) to V(slipway_state) and C(enabled_value) to
    V(running), so that stopped machines become disabled hosts, which jobs and job slices leave out.
  - The configuration file name must end in C(.slipway.yml) or C(.slipway.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a source for this plugin.
    type: str
    required: true
    choices:
      - slipway.cloud.instances
  catalog:
    description:
      - Catalog layers (directories or files), earliest layer first.
      - Relative paths are taken from the directory of the inventory file.
      - When not set, the layers named by the E(SLIPWAY_CATALOG) environment variable are used
        (separated by C(:)), else the catalog shipped with the collection.
    type: list
    elements: str
  clouds:
    description:
      - Names of the catalog clouds to list.
      - When empty, every cloud of the catalog is listed.
    type: list
    elements: str
    default: []
  filters:
    description:
      - Keep only machines that match every given key. Each value is a name or a list of names;
        shell-style wildcards (V(*), V(?), V([...])) are allowed.
      - V(image) matches the logical image name, V(deployment) the deployment id,
        V(state) the machine state (V(pending), V(running), V(stopped), V(terminated), V(unknown)).
    type: dict
    default: {}
    suboptions:
      image:
        description: Logical image names to keep.
        type: list
        elements: str
      deployment:
        description: Deployment ids to keep.
        type: list
        elements: str
      state:
        description: Machine states to keep.
        type: list
        elements: str
  hostnames:
    description:
      - How hosts are named. Either way a name that repeats within one cloud gets C(.<id>) too.
      - V(name.cloud) names every host C(<name>.<cloud>), as C(playbooks/deploy.yml) names the machines it
        adds. A host's name never depends on which other clouds answered, so AWX, which matches hosts by
        name, keeps each host's facts and job history across updates.
      - V(name) uses the bare machine name, and C(<name>.<cloud>) only for a name found on more than one
        listed cloud, so a host is renamed when a twin appears on another cloud or a cloud is not listed.
        Short names for a laptop; not for AWX.
    type: str
    choices: [name.cloud, name]
    default: name.cloud
    version_added: 0.2.0
  address:
    description:
      - Which address becomes C(ansible_host), as an ordered preference.
      - V(public) uses only the public address, V(private) only the private one; a list such as
        V([private, public]) takes the first that the machine has.
      - A machine without any of the wanted addresses is still listed, without C(ansible_host).
    type: list
    elements: str
    default: [public, private]
  timeout:
    description:
      - Seconds to wait for each cloud's listing; a cloud that has not answered by then counts as failed.
    type: float
    default: 60
  known_hosts_file:
    description:
      - Pins the SSH host keys that the clouds report (C(slipway_host_keys); local clouds do), so that
        SSH checks them strictly although addresses are reused by later machines.
      - On each real listing (not a cached run) the plugin writes this file atomically, mode C(0600), with one
        C(ADDRESS KEY) line per host key of every listed machine that has an address and host keys, and sets
        for those hosts C(ansible_ssh_common_args) to
        C(-o UserKnownHostsFile=<file> -o StrictHostKeyChecking=yes) and C(ansible_ssh_host_key_checking)
        to V(true), because with E(ANSIBLE_HOST_KEY_CHECKING=False) (AWX and ansible-runner set it) the ssh
        connection would otherwise put C(-o StrictHostKeyChecking=no) first on the command line, and ssh
        takes the first value. A cached run reuses the file (and writes it from the cached hosts if it is missing).
      - When not set, the file is under C($XDG_CACHE_HOME/slipway.cloud/known_hosts/) (C(~/.cache) when
        E(XDG_CACHE_HOME) is not set), named after the inventory file and the options that change what is
        listed. A relative path is taken from the directory of the inventory file.
      - V(false) turns pinning off; hosts then get no C(ansible_ssh_common_args) from this plugin. Use it
        where the file would not reach the jobs (an AWX inventory update) and pin at job time with the
        role C(slipway.cloud.pin_host_keys).
      - C(ansible_ssh_common_args) set by O(compose) wins. Set in C(group_vars) it does not, as Ansible
        ranks host variables of an inventory source above group variables; use O(compose), C(host_vars) or
        V(false) for your own SSH arguments.
    type: str
"""

EXAMPLES = r"""
# inventory/all.slipway.yml: every managed machine on every cloud of the catalog
plugin: slipway.cloud.instances

---
# inventory/web.slipway.yml: running nginx machines of two clouds, private addresses first,
# cached for five minutes, plus a group per state
plugin: slipway.cloud.instances
catalog:
  - ../catalog
clouds:
  - exoscale-ch-gva
  - ec2
filters:
  image: [nginx-*]
  state: running
address: [private, public]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/slipway-inventory
cache_timeout: 300
# host keys reported by the clouds are pinned in this file (default: under ~/.cache/slipway.cloud/known_hosts)
known_hosts_file: ~/.ssh/slipway_known_hosts
keyed_groups:
  - key: slipway_state
    prefix: state
compose:
  # Jinja2 expressions over the host's variables
  ansible_port: 22
  slipway_label: slipway_cloud ~ '/' ~ slipway_id
"""

import fnmatch
import hashlib
import json
import os

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.slipway.cloud.plugins.plugin_utils.cloud_values import (
    LOCALHOST_NAMES, NAME_RULE, cached_host_problem, excerpt, is_name_part, name_problem, sanitized_group_name,
    skip_note, unsafe_values,
)
from ansible_collections.slipway.cloud.plugins.plugin_utils.known_hosts import (
    known_hosts_lines, ssh_args_for, write_atomically,
)

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19: every config string is a template already

    def trust_as_template(value):
        return value

NAME = "slipway.cloud.instances"
#: 2: records keep their name parts (checked again when read back) and the cache keeps the skip warnings
CACHE_FORMAT = 2
FILTER_KEYS = ("image", "deployment", "state")
ADDRESS_KINDS = ("public", "private")
_OFF = ("false", "no", "off", "0")


def safe_group_name(prefix, value):
    """``prefix_value`` with every character Ansible rejects in a group name turned into ``_``."""
    return sanitized_group_name("%s_%s" % (prefix, value))


def _listify(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]


def _matcher(patterns):
    """A predicate for one filter key: exact names go through a set, wildcards through fnmatch."""
    exact = set(p for p in patterns if not any(c in p for c in "*?["))
    globs = [p for p in patterns if p not in exact]

    def match(value):
        if value is None:
            return False
        value = str(value)
        return value in exact or any(fnmatch.fnmatchcase(value, g) for g in globs)

    return match


def _number(value):
    # 2.0 -> 2 so that templates and keyed groups read "2", not "2.0"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _literal_expressions(compose):
    """``compose: {ansible_port: 2222}``: a YAML number or boolean is a Jinja literal, not an error.

    The literal comes from the (trusted) inventory file, so it is trusted as a template too.
    """
    if not compose:
        return compose
    fixed = {}
    for key, value in compose.items():
        if isinstance(value, bool):
            value = trust_as_template("true" if value else "false")
        elif isinstance(value, (int, float)):
            value = trust_as_template(repr(value))
        fixed[key] = value
    return fixed


def host_records(listings, clouds, address, login_user_for, hostnames="name.cloud", skipped=None):
    """Turn provider listings into JSON-able host records (what the cache stores).

    ``listings`` is ``[(cloud_name, [Machine, ...]), ...]`` in a stable order,
    ``clouds`` maps cloud name to its catalog ``Cloud``, ``login_user_for(image, cloud)``
    returns the catalog's login user or None. ``hostnames`` is the option of that name:
    ``name.cloud`` names every host ``name.cloud``; ``name`` keeps the machine's name and
    qualifies it with the cloud only when another listed cloud has it too (or when it is a name
    Ansible takes for the controller). Either way a name that repeats within one cloud gets ``.id``.
    A machine whose name, or id where the host name needs it, is not a valid machine name is left
    out, with a warning appended to ``skipped`` (a list) when given.
    """
    listings = _nameable(listings, skipped)
    clouds_of = {}
    per_cloud = {}
    for cloud_name, machines in listings:
        for machine in machines:
            name = machine.name or machine.id
            clouds_of.setdefault(name, set()).add(cloud_name)
            key = (name, cloud_name)
            per_cloud[key] = per_cloud.get(key, 0) + 1

    records = []
    for cloud_name, machines in listings:
        cloud = clouds.get(cloud_name)
        for machine in machines:
            name = machine.name or machine.id
            twins = per_cloud[(name, cloud_name)] > 1
            parts = [name]
            if hostnames == "name.cloud" or twins or len(clouds_of[name]) > 1 or name in LOCALHOST_NAMES:
                parts.append(cloud_name)
            if twins:
                if not is_name_part(machine.id):
                    _note(skipped, skip_note(cloud_name, machine.id, "id", machine.id))
                    continue
                parts.append(machine.id)
            records.append(_record(parts, cloud_name, cloud, machine, address, login_user_for))
    return records


def _nameable(listings, skipped):
    """``listings`` without the machines whose name (their id when unnamed) cannot be part of a host name."""
    kept = []
    for cloud_name, machines in listings:
        usable = []
        for machine in machines:
            problem = name_problem([("name", machine.name)] if machine.name else [("id", machine.id)])
            if problem:
                _note(skipped, skip_note(cloud_name, machine.id, *problem))
            else:
                usable.append(machine)
        kept.append((cloud_name, usable))
    return kept


def _note(skipped, note):
    if skipped is not None:
        skipped.append(note)


def _record(parts, cloud_name, cloud, machine, address, login_user_for):
    chosen = None
    for kind in address:
        chosen = machine.public_ip if kind == "public" else machine.private_ip
        if chosen:
            break

    user = machine.login_user
    if not user and machine.image:
        user = login_user_for(machine.image, cloud_name)

    cpu, ram_gb = machine.cpu, machine.ram_gb
    if (cpu is None or ram_gb is None) and machine.flavor and cloud is not None:
        flavor = cloud.flavor(machine.flavor)
        if flavor is not None:
            cpu = flavor.cpu if cpu is None else cpu
            ram_gb = flavor.ram_gb if ram_gb is None else ram_gb

    hostvars = {
        "slipway_cloud": cloud_name,
        "slipway_id": machine.id,
        "slipway_image": machine.image,
        "slipway_flavor": machine.flavor,
        "slipway_cpu": _number(cpu),
        "slipway_ram_gb": _number(ram_gb),
        "slipway_deployment": machine.deployment,
        "slipway_state": machine.state,
        "slipway_ssh_url": None,
    }
    if chosen:
        hostvars["ansible_host"] = chosen
        hostvars["slipway_ssh_url"] = "ssh://%s%s" % (user + "@" if user else "", chosen)
    if user:
        hostvars["ansible_user"] = user
    if machine.host_keys:
        hostvars["slipway_host_keys"] = list(machine.host_keys)

    groups = [safe_group_name("cloud", cloud_name)]
    if machine.image:
        groups.append(safe_group_name("image", machine.image))
    if machine.deployment:
        groups.append(safe_group_name("deployment", machine.deployment))
    return {"host": ".".join(parts), "name_parts": parts, "groups": groups, "vars": hostvars}


def list_clouds(clouds, timeout, get_provider):
    """List every cloud in parallel (the engine's fan-out), one listing call per cloud.

    Returns ``(listings, failures)``: ``[(cloud_name, machines)]`` in the order of
    ``clouds`` and ``{cloud_name: message}``. A cloud still running after ``timeout``
    seconds is a failure; its thread is a daemon and does not hold the process.
    """
    # Imported here, not at the top: a cached run never loads the engine.
    from ansible_collections.slipway.cloud.plugins.module_utils.engine.listing import list_clouds as list_each

    outcomes = list_each(clouds, get_provider, timeout)
    listings = [(cloud.name, outcomes[cloud.name].machines) for cloud in clouds if not outcomes[cloud.name].failed]
    failures = {cloud.name: outcomes[cloud.name].error["msg"] for cloud in clouds if outcomes[cloud.name].failed}
    return listings, failures


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = NAME

    def verify_file(self, path):
        if not path.endswith((".slipway.yml", ".slipway.yaml")):
            return False
        return super(InventoryModule, self).verify_file(path)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        self._path = path
        address = self._address_preference()
        matchers = self._filter_matchers()

        scope = self._scope_digest(address)
        cache_key = "%s_%s" % (self.get_cache_key(path), scope)
        known_hosts = self._known_hosts_path(scope)
        use_cache = self.get_option("cache")
        cached = self._cached(cache_key) if use_cache and cache else None
        if cached is None:
            records, skipped, complete = self._fetched(address)
            # A partial listing (a cloud failed) is not cached, so the next run tries that cloud again.
            if use_cache and complete:
                self._cache[cache_key] = {"format": CACHE_FORMAT, "hosts": records, "skipped": skipped}
            if known_hosts:
                self._write_known_hosts(known_hosts, records)
        else:
            records, skipped = cached
            if known_hosts and not os.path.exists(known_hosts):
                # The cache outlived the file (a cleaned ~/.cache): the cached hosts carry their keys.
                self._write_known_hosts(known_hosts, records)

        for note in skipped:
            self.display.warning(note)
        self._populate(records, matchers, ssh_args_for(known_hosts) if known_hosts else None)

    def _fetched(self, address):
        """``_fetch``, with an unexpected error made one masked line: its traceback may hold a secret."""
        from ansible_collections.slipway.cloud.plugins.module_utils.module_base import unexpected_result

        try:
            return self._fetch(address)
        except AnsibleError:
            raise
        except Exception as error:  # pylint: disable=broad-except
            raise AnsibleParserError("%s: %s" % (self._path, unexpected_result(error, environ=os.environ)["msg"])) \
                from None

    def _cached(self, cache_key):
        """``(records, skip warnings)`` from the cache, each record checked as a fresh one; None when not cached."""
        try:
            cached = self._cache[cache_key]
            if cached.get("format") != CACHE_FORMAT:
                return None
            records, skipped = list(cached["hosts"]), [str(note) for note in cached.get("skipped") or ()]
        except (KeyError, AttributeError, TypeError):
            return None
        usable = []
        for record in records:
            problem = cached_host_problem(record)
            if problem:
                skipped.append(problem)
            else:
                usable.append(record)
        return usable, skipped

    # -- options ----------------------------------------------------------
    def _address_preference(self):
        address = [str(a).strip() for a in (self.get_option("address") or [])]
        bad = [a for a in address if a not in ADDRESS_KINDS]
        if bad or not address:
            raise AnsibleParserError(
                "%s: option 'address' must be public, private or a list of them in order of preference; got %r"
                % (self._path, self.get_option("address")))
        return address

    def _filter_matchers(self):
        filters = self.get_option("filters") or {}
        if not isinstance(filters, dict):
            raise AnsibleParserError("%s: option 'filters' must be a mapping with keys %s"
                                     % (self._path, ", ".join(FILTER_KEYS)))
        unknown = sorted(set(filters) - set(FILTER_KEYS))
        if unknown:
            raise AnsibleParserError("%s: unknown key(s) %s in option 'filters'; valid keys are %s"
                                     % (self._path, ", ".join(unknown), ", ".join(FILTER_KEYS)))
        return [("slipway_" + key, _matcher(_listify(filters[key])))
                for key in FILTER_KEYS if filters.get(key) not in (None, [], "")]

    def _catalog_layers(self):
        layers = self.get_option("catalog")
        if not layers:
            return None
        base = os.path.dirname(os.path.abspath(self._path))
        return [os.path.join(base, os.path.expanduser(str(layer))) for layer in layers]

    def _scope_digest(self, address):
        # The options that change what is listed are part of the cache key (and of the default known_hosts
        # file's name), so editing them never serves stale hosts or keys pinned for other addresses.
        scope = json.dumps([self._catalog_layers(), self.get_option("clouds"), address,
                            os.environ.get("SLIPWAY_CATALOG"), self.get_option("hostnames")], sort_keys=True)
        return hashlib.sha256(scope.encode("utf-8")).hexdigest()[:12]

    def _known_hosts_path(self, scope):
        """The file that pins host keys, or None when the option is V(false)."""
        value = self.get_option("known_hosts_file")
        if value is not None and str(value).strip().lower() in _OFF:
            return None
        if value:
            path = os.path.expanduser(str(value).strip())
            return os.path.join(os.path.dirname(os.path.abspath(self._path)), path)
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        source = os.path.abspath(self._path)
        name = os.path.basename(source).split(".slipway.")[0] or "inventory"
        digest = hashlib.sha256(("%s\0%s" % (source, scope)).encode("utf-8")).hexdigest()[:16]
        return os.path.join(base, "slipway.cloud", "known_hosts", "%s-%s" % (name, digest))

    def _write_known_hosts(self, path, records):
        lines = known_hosts_lines(records)
        try:
            if lines:
                write_atomically(path, "".join(lines))
            elif os.path.exists(path):
                os.unlink(path)        # no machine has keys any more: pin nothing stale
        except (IOError, OSError) as exc:
            raise AnsibleParserError("%s: cannot write the known_hosts file %s of option 'known_hosts_file' (%s); "
                                     "give a writable path, or false to not pin host keys" % (self._path, path, exc))

    # -- listing ----------------------------------------------------------
    def _fetch(self, address):
        # Imported here, not at the top: a cached run never loads the engine or any cloud library.
        from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
        from ansible_collections.slipway.cloud.plugins.module_utils.catalog.layers import default_catalog_layers
        from ansible_collections.slipway.cloud.plugins.module_utils.model import SlipwayError
        from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider

        layers = self._catalog_layers()
        try:
            if layers is None:
                layers = default_catalog_layers()
            catalog = load_catalog(layers)
        except SlipwayError as exc:
            raise AnsibleParserError("%s: cannot load the catalog %s: %s" % (self._path, layers, exc.msg))

        wanted = self.get_option("clouds") or sorted(catalog.clouds)
        unknown = [name for name in wanted if name not in catalog.clouds]
        if unknown:
            raise AnsibleParserError("%s: option 'clouds' names %s, not in the catalog; known clouds: %s"
                                     % (self._path, ", ".join(unknown), ", ".join(sorted(catalog.clouds))))
        # A cloud's name is part of its hosts' names: one that is not a valid machine name is not listed.
        unnamable = {name: "its name %s cannot be part of a host name (%s)" % (excerpt(name), NAME_RULE)
                     for name in wanted if not is_name_part(name)}
        clouds = [catalog.clouds[name] for name in wanted if name not in unnamable]

        listings, failures = list_clouds(clouds, float(self.get_option("timeout")), get_provider)
        failures.update(unnamable)
        if failures:
            text = "; ".join("cloud %s: %s" % (name, failures[name]) for name in sorted(failures))
            if not listings:
                # Whatever strict says: "no hosts" is not an answer an AWX source with overwrite may import.
                raise AnsibleParserError("%s: no cloud could be listed, so there is no inventory to return: %s"
                                         % (self._path, text))
            if self.get_option("strict"):
                raise AnsibleParserError("%s: listing failed for %s" % (self._path, text))
            for name in sorted(failures):
                self.display.warning("slipway.cloud.instances: cloud %s was not listed, its hosts are missing: %s"
                                     % (name, failures[name]))

        login_users = {}

        def login_user_for(image, cloud_name):
            key = (image, cloud_name)
            if key not in login_users:
                try:
                    login_users[key] = catalog.resolve(image, cloud_name).login_user
                except SlipwayError as exc:
                    self.display.vvv("slipway.cloud.instances: no login user for image %s on %s: %s"
                                     % (image, cloud_name, exc.msg))
                    login_users[key] = None
            return login_users[key]

        skipped = []
        records = host_records(listings, catalog.clouds, address, login_user_for, self.get_option("hostnames"),
                               skipped=skipped)
        return records, skipped, not failures

    # -- inventory --------------------------------------------------------
    def _populate(self, records, matchers, ssh_args=None):
        inventory = self.inventory
        strict = self.get_option("strict")
        compose = _literal_expressions(self.get_option("compose"))
        if compose and "ansible_ssh_common_args" in compose:
            ssh_args = None        # the user's own SSH arguments win
        # Host key checking on as a host variable: ANSIBLE_HOST_KEY_CHECKING=False (AWX, ansible-runner) makes
        # the ssh connection put "-o StrictHostKeyChecking=no" before these arguments, and ssh takes the first.
        pinned = {"ansible_ssh_common_args": ssh_args, "ansible_ssh_host_key_checking": True} if ssh_args else {}
        groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        constructed = bool(compose or groups or keyed_groups)
        known_groups = {}
        for record in records:
            if matchers and not all(match(record["vars"].get(key)) for key, match in matchers):
                continue
            # Cloud values are marked unsafe before anything sees them: the host, compose, groups, keyed_groups.
            hostvars = unsafe_values(record["vars"])
            host = inventory.add_host(record["host"])
            pins = pinned if pinned and "slipway_host_keys" in hostvars and "ansible_host" in hostvars else {}
            # Host.set_variable directly: on 2.19+ the inventory wrapper's per-value visit (trust and origin
            # tagging) costs about three times as much and changes nothing for plain JSON values, which are
            # never templated. This is most of a cached run's own time.
            target = inventory.get_host(host)
            for source in (hostvars, pins):
                for key, value in source.items():
                    if value is not None:
                        target.set_variable(key, value)
            for group in record["groups"]:
                name = known_groups.get(group)
                if name is None:
                    name = known_groups[group] = sanitized_group_name(group)     # a cached record's too
                    inventory.add_group(name)
                inventory.add_child(name, host)
            if constructed:
                self._set_composite_vars(compose, hostvars, host, strict=strict)
                self._add_host_to_composed_groups(groups, hostvars, host, strict=strict)
                # Its group names are made of cloud values: Constructable's _sanitize_group_name replaces every
                # character Ansible rejects in them (on every core), so no template fits in one.
                self._add_host_to_keyed_groups(keyed_groups, hostvars, host, strict=strict)
