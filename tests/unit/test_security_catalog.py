# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, findings 5, 6 and 8: the catalog's YAML within limits, rejected values never echoed whole,
and layers and the parse cache refused when someone else could write them.

Anything that could eat the machine on a regression (an alias bomb through the whole load) runs in a
child process with a memory limit and a timeout (``bounded``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import resource
import subprocess
import sys

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils.catalog import cache as catalog_cache
from ansible_collections.slipway.cloud.plugins.module_utils import path_trust
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.yaml_reader import (
    MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, parse_yaml,
)
from ansible_collections.slipway.cloud.plugins.module_utils.masking import excerpt
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_LIMIT = 1024 ** 3
CLOUD = "clouds:\n  c:\n    provider: local\n    flavors: {S: {cpu: 1, ram_gb: 1}}\n"
IMAGE = "images:\n  i:\n    login_user: u\n    size: {flavor: S}\n    clouds:\n      c: {image_id: x}\n"
#: an OpenSSH private key of a throwaway key pair (made for this test; it opens nothing)
KEY_BODY = ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
            "QyNTUxOQAAACBXJ1dUEqhJ3r1q9r3m0M2qyH6fEq0GJwGgRz4sT1mTrAAAAJi8tAQgvLQE\n"
            "IAAAAAtzc2gtZWQyNTUxOQAAACBXJ1dUEqhJ3r1q9r3m0M2qyH6fEq0GJwGgRz4sT1mTrA\n")
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + KEY_BODY + "-----END OPENSSH PRIVATE KEY-----\n"


def alias_bomb(levels=9):
    """A "billion laughs" under a cloud's options: about 500 bytes that stand for 9**levels strings."""
    lines = [CLOUD.rstrip("\n"), "    options:", '      l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append("      l%d: &l%d [%s]" % (level, level, ", ".join(["*l%d" % (level - 1)] * 9)))
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIPWAY_CATALOG_CACHE", str(tmp_path / "parse-cache"))
    path_trust.forget()
    yield
    path_trust.forget()


def layer(tmp_path, **files):
    """A layer directory (mode 0755) holding ``files`` (name -> text, mode 0644)."""
    directory = tmp_path / "layer"
    directory.mkdir(mode=0o755, exist_ok=True)
    os.chmod(str(directory), 0o755)
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        os.chmod(str(path), 0o644)
    return directory


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def bounded(code, *args):
    """Run ``code`` (which prints one JSON line) in a child Python with 1 GiB of memory and 120 s at most."""
    prelude = "import sys; sys.path.insert(0, %r); import conftest\n" % TESTS
    proc = subprocess.run([sys.executable, "-c", prelude + code] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120, preexec_fn=_limit_memory,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


LOAD = """
import json, sys
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.model import CatalogError
try:
    load_catalog([sys.argv[1]], cache=sys.argv[2])
    print(json.dumps({"loaded": True}))
except CatalogError as error:
    print(json.dumps({"msg": error.msg, "details": error.details}))
"""


# ---------------------------------------------------------------- finding 5: YAML within limits

def test_an_alias_bomb_is_refused_before_it_is_built():
    """issue 18, finding 5: a 1 KB "billion laughs" is one clear error naming the file, line and limit."""
    text = alias_bomb()
    assert len(text) < 1024
    with pytest.raises(CatalogError) as info:
        parse_yaml(text, "bomb.yml")
    assert info.value.msg.startswith("bomb.yml:")
    assert "more than %d nodes" % MAX_ALIAS_NODES in info.value.msg
    assert info.value.details["limit"] == MAX_ALIAS_NODES


def test_an_alias_bomb_in_a_layer_fails_the_load_within_bounds(tmp_path):
    """issue 18, finding 5: the whole load (validation, the cache) of a layer holding a bomb stops at the budget,
    in a child process that 1 GiB and 120 s bound should a regression expand it."""
    directory = layer(tmp_path, **{"bomb.yml": alias_bomb()})
    result = bounded(LOAD, directory, tmp_path / "cache")
    assert "aliases would expand" in result["msg"], result
    assert result["details"]["file"] == str(directory / "bomb.yml")


def test_anchors_for_a_few_shared_rules_keep_working(tmp_path):
    """issue 18, finding 5: the budget leaves ordinary anchors alone (rules shared by two groups, a merge key)."""
    text = CLOUD + IMAGE + """\
security_groups:
  web:
    rules: &web
      - {proto: tcp, ports: 80, source: 0.0.0.0/0}
      - {proto: tcp, ports: 443, source: 0.0.0.0/0}
  web-too:
    rules: *web
"""
    catalog = load_catalog([str(layer(tmp_path, **{"a.yml": text}))])
    assert catalog.security_groups["web"].rules == catalog.security_groups["web-too"].rules


def test_an_alias_inside_its_own_anchor_is_refused():
    """issue 18, finding 5: a recursive alias is one clear error, not a RecursionError."""
    with pytest.raises(CatalogError, match=r"^loop.yml:6: an alias refers to the mapping or list that holds it"):
        parse_yaml(CLOUD + "    options:\n      x: &x [*x]\n", "loop.yml")


def test_nesting_deeper_than_the_limit_is_refused(tmp_path):
    """issue 18, finding 5: nesting is bounded too (validation recurses), with the limit in the error."""
    deep = CLOUD + "    options:\n      x: %s1%s\n" % ("[" * MAX_DEPTH, "]" * MAX_DEPTH)
    with pytest.raises(CatalogError, match=r"nest deeper than %d levels" % MAX_DEPTH):
        load_catalog([str(layer(tmp_path, **{"deep.yml": deep}))])


def test_a_file_bigger_than_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """issue 18, finding 5: a 50 MB layer file is refused on its size (a named limit), never read or cached."""
    directory = layer(tmp_path, **{"big.yml": ""})
    with open(str(directory / "big.yml"), "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(CatalogError) as info:
        load_catalog([str(directory)], cache=str(tmp_path / "cache"))
    assert info.value.msg.startswith(str(directory / "big.yml") + ": 52428800 bytes, more than the 1048576 bytes")
    assert info.value.details["limit"] == MAX_FILE_BYTES
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------- finding 6: short masked excerpts

def test_a_private_key_given_as_a_layer_path_is_not_echoed():
    """issue 18, finding 6: a private key given where a layer path goes never appears in the error."""
    with pytest.raises(CatalogError) as info:
        load_catalog([PRIVATE_KEY])
    shown = info.value.msg + json.dumps(info.value.details)
    assert "a private key" in info.value.msg
    for line in KEY_BODY.splitlines():
        assert line not in shown


def test_a_private_key_given_as_layer_content_is_not_echoed(tmp_path):
    """issue 18, finding 6: a layer file holding a private key fails without printing its body."""
    with pytest.raises(CatalogError) as info:
        load_catalog([str(layer(tmp_path, **{"id_ed25519.yml": PRIVATE_KEY}))])
    shown = info.value.msg + json.dumps(info.value.details)
    assert "must be a mapping, got <a private key" in info.value.msg
    for line in KEY_BODY.splitlines():
        assert line not in shown


def test_a_long_rejected_value_is_shown_as_a_short_excerpt(tmp_path):
    """issue 18, finding 6: a long rejected value is cut to about 40 characters, with its length."""
    text = "clouds:\n  c:\n    provider: local\n    sizing: %s\n" % ("x" * 5000)
    with pytest.raises(CatalogError) as info:
        load_catalog([str(layer(tmp_path, **{"a.yml": text}))])
    assert "(5000 characters)" in info.value.msg
    assert "x" * 41 not in info.value.msg


def test_a_secret_given_as_an_image_name_is_not_echoed(tmp_path):
    """issue 18, finding 6: a task option the catalog rejects (an unknown image) is shown as an excerpt."""
    catalog = load_catalog([str(layer(tmp_path, **{"a.yml": CLOUD + IMAGE}))])
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    with pytest.raises(CatalogError) as info:
        catalog.resolve(secret, "c")
    assert secret not in info.value.msg
    assert "unknown image <a secret-looking word, 40 characters>" in info.value.msg


@pytest.mark.parametrize("value, shown", [
    ("web-1\n", "'web-1\\n'"),
    ("x" * 100, "'%s'... (100 characters)" % ("x" * 40)),
    (PRIVATE_KEY, "<a private key, %d characters>" % len(PRIVATE_KEY)),
    ("token: " + PRIVATE_KEY, "<a private key, %d characters>" % (len(PRIVATE_KEY) + 7)),
    ("ami-0123456789abcdef0", "'ami-0123456789abcdef0'"),
    (10 ** 100, "<a number of about 101 digits>"),
    ({"a": 1}, "a mapping of 1 item"),
])
def test_excerpt(value, shown):
    """issue 18, finding 6: the one short, masked form of a rejected value."""
    assert excerpt(value) == shown


def test_excerpt_masks_the_secrets_it_is_given():
    """issue 18, finding 6: known secrets are masked in an excerpt."""
    assert excerpt("user hunter2secret at", secrets=["hunter2secret"]) == "'user *** at'"


# ---------------------------------------------------------------- finding 8: trust

@pytest.mark.parametrize("mode, who", [(0o777, "its group and others"), (0o775, "its group"), (0o757, "others")])
def test_a_layer_directory_others_can_write_is_refused(tmp_path, mode, who):
    """issue 18, finding 8: a layer directory writable by group or others is one clear error naming it and why."""
    directory = layer(tmp_path, **{"a.yml": CLOUD + IMAGE})
    os.chmod(str(directory), mode)
    with pytest.raises(CatalogError) as info:
        load_catalog([str(directory)])
    assert info.value.msg.startswith("catalog layer %s is writable by %s (mode %04o)" % (directory, who, mode))
    assert "run chmod go-w %s" % directory in info.value.msg
    assert info.value.details["file"] == str(directory)


def test_a_layer_file_others_can_write_is_refused(tmp_path):
    """issue 18, finding 8: a file of a trusted layer that others can write is refused as well."""
    directory = layer(tmp_path, **{"a.yml": CLOUD + IMAGE})
    os.chmod(str(directory / "a.yml"), 0o666)
    with pytest.raises(CatalogError, match=r"^catalog file %s/a.yml is writable by its group and others" % directory):
        load_catalog([str(directory)])


def test_a_single_file_layer_others_can_write_is_refused(tmp_path):
    """issue 18, finding 8: a layer given as one file is checked too."""
    path = layer(tmp_path, **{"a.yml": CLOUD + IMAGE}) / "a.yml"
    os.chmod(str(path), 0o646)
    with pytest.raises(CatalogError, match=r"^catalog file %s is writable by others \(mode 0646\)" % path):
        load_catalog([str(path)])


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_layer_owned_by_another_user_is_refused(tmp_path):
    """issue 18, finding 8: a layer (directory or file) owned by another user than you or root is refused."""
    directory = layer(tmp_path, **{"a.yml": CLOUD + IMAGE})
    os.chown(str(directory / "a.yml"), 54321, 54321)
    with pytest.raises(CatalogError, match=r"^catalog file %s/a.yml is owned by uid 54321, not by root" % directory):
        load_catalog([str(directory)])
    os.chown(str(directory), 54321, 54321)
    path_trust.forget()     # directories are checked once per process
    with pytest.raises(CatalogError, match=r"^catalog layer %s is owned by uid 54321" % directory):
        load_catalog([str(directory)])


def test_a_trusted_layer_loads(tmp_path):
    """issue 18, finding 8: what a normal install gives (0755 directories, 0644 files, yours) loads."""
    catalog = load_catalog([str(layer(tmp_path, **{"a.yml": CLOUD + IMAGE}))])
    assert catalog.resolve("i", "c").flavor == "S"


def test_the_cache_directory_is_made_private(tmp_path, monkeypatch):
    """issue 18, finding 8: the collection makes the cache directory 0700, whatever the umask."""
    cache = tmp_path / "new" / "cache"
    old = os.umask(0)
    try:
        load_catalog([str(layer(tmp_path, **{"a.yml": CLOUD + IMAGE}))], cache=str(cache))
    finally:
        os.umask(old)
    assert os.stat(str(cache)).st_mode & 0o777 == 0o700
    assert all(os.stat(str(entry)).st_mode & 0o077 == 0 for entry in cache.iterdir())


def test_a_cache_directory_others_can_write_is_refused(tmp_path):
    """issue 18, finding 8: a loose cache directory is one clear error naming it and SLIPWAY_CATALOG_CACHE."""
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(str(cache), 0o777)
    with pytest.raises(CatalogError) as info:
        load_catalog([str(layer(tmp_path, **{"a.yml": CLOUD + IMAGE}))], cache=str(cache))
    assert info.value.msg.startswith("catalog cache directory %s is writable by its group and others" % cache)
    assert "SLIPWAY_CATALOG_CACHE" in info.value.msg


def _plant(cache, text, document):
    """Write ``document`` as the cache entry of a file holding ``text``, as an attacker would."""
    cache.mkdir(mode=0o700, exist_ok=True)
    entry = cache / (catalog_cache._cache_key(text.encode()) + ".json")  # pylint: disable=protected-access
    entry.write_text(json.dumps(catalog_cache._encode(document)))  # pylint: disable=protected-access
    os.chmod(str(entry), 0o600)
    return entry


def test_a_planted_cache_entry_that_does_not_validate_is_not_used(tmp_path):
    """issue 18, finding 8: a cache entry is validated as a fresh parse is; one that fails is a miss."""
    text = CLOUD + IMAGE
    planted = parse_yaml(text, "x.yml")
    planted["clouds"]["c"]["credentials"] = {"secret": "not an environment variable name"}
    cache = tmp_path / "cache"
    _plant(cache, text, planted)
    catalog = load_catalog([str(layer(tmp_path, **{"a.yml": text}))], cache=str(cache))
    assert catalog.clouds["c"].credentials == ()


def test_a_loose_cache_entry_is_refused(tmp_path):
    """issue 18, finding 8: an entry others can write is refused like a loose layer file."""
    text = CLOUD + IMAGE
    cache = tmp_path / "cache"
    entry = _plant(cache, text, parse_yaml(text, "x.yml"))
    os.chmod(str(entry), 0o666)
    with pytest.raises(CatalogError, match=r"^catalog cache entry %s is writable" % entry):
        load_catalog([str(layer(tmp_path, **{"a.yml": text}))], cache=str(cache))


def test_the_shipped_catalog_is_trusted():
    """issue 18, finding 8: the catalog of this checkout (0644 files, 0755 directory, as installs give) loads."""
    catalog = load_catalog(["@shipped"], cache=False)
    assert catalog.clouds
