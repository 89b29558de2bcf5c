# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, finding 7: count and name_pattern bounded before anything is allocated, and unexpected errors
masked (message and traceback) on both ways a module runs.

The bounds are exercised in a child process with 1 GiB of memory and a timeout, so that a regression fails
the test instead of eating the machine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import resource
import subprocess
import sys

import pytest

from ansible_collections.slipway.cloud.plugins.module_utils import module_base
from ansible_collections.slipway.cloud.plugins.module_utils.catalog.loader import load_catalog
from ansible_collections.slipway.cloud.plugins.module_utils.masking import Masker
from ansible_collections.slipway.cloud.plugins.plugin_utils import in_process

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_LIMIT = 1024 ** 3
SECRET = "Zq8xSECRETvalue0f-the-test-9w"

EXPAND = """
import json, sys
from ansible_collections.slipway.cloud.plugins.module_utils.engine.planning import expand_names
from ansible_collections.slipway.cloud.plugins.module_utils.model import SlipwayError
try:
    names = expand_names(**json.loads(sys.argv[1]))
    print(json.dumps({"count": len(names)}))
except SlipwayError as error:
    print(json.dumps({"msg": error.msg, "details": error.details}))
"""


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def expand(**kwargs):
    """planning.expand_names(**kwargs) in a child Python bounded to 1 GiB and 120 s: {count} or {msg, details}."""
    prelude = "import sys; sys.path.insert(0, %r); import conftest\n" % TESTS
    proc = subprocess.run([sys.executable, "-c", prelude + EXPAND, json.dumps(kwargs)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120, preexec_fn=_limit_memory,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_huge_count_is_one_clear_error():
    """issue 18, finding 7: count: 100000000 is refused, naming the option and the limit, before any name is made."""
    result = expand(count=100000000, name_pattern="web-%d")
    assert result["details"] == {"option": "count", "limit": 10000}, result
    assert "count is 100000000, more than the 10000 machines one task may ask for" in result["msg"]


def test_the_limit_itself_is_allowed():
    """issue 18, finding 7: 10,000 machines are still one task."""
    assert expand(count=10000, name_pattern="web-%05d") == {"count": 10000}


def test_a_huge_pattern_width_is_one_clear_error():
    """issue 18, finding 7: a name_pattern of %1500000000d is refused on its text, before it is formatted."""
    result = expand(count=2, name_pattern="%1500000000d")
    assert result["details"] == {"option": "name_pattern"}, result
    assert "pads its number wider than a machine name" in result["msg"]


@pytest.mark.parametrize("pattern, problem", [
    ("x" * 60 + "-%04d", "makes names of 65 characters"),
    ("web-%(n)d", "not an integer one"),
    ("web-%*d", "not an integer one"),
    ("web-%c", "not an integer one"),
    ("web-%d-%d", "has 2 conversions"),
    ("web-%%", "has 0 conversions"),
])
def test_a_pattern_that_cannot_make_machine_names_is_refused(pattern, problem):
    """issue 18, finding 7: the pattern's names must fit a machine name (63 characters), one integer conversion."""
    result = expand(count=3, name_pattern=pattern)
    assert problem in result.get("msg", ""), result
    assert result["details"]["option"] == "name_pattern"


def test_ordinary_patterns_keep_working():
    """issue 18, finding 7: what users write keeps working (%d, %02d, %x, %s, a literal %%)."""
    for pattern in ("web-%d", "web-%02d", "web-%x", "web-%s", "web%03d"):
        assert expand(count=12, name_pattern=pattern) == {"count": 12}


def test_a_names_list_longer_than_the_limit_is_refused():
    """issue 18, finding 7: the names list is bounded like count."""
    result = expand(names=["m%d" % n for n in range(10001)])
    assert result["details"] == {"option": "names", "limit": 10000}, result


# ---------------------------------------------------------------- unexpected errors

CATALOG = """\
clouds:
  aws:
    provider: ec2
    region: eu-west-1
    flavors: {t3.micro: {cpu: 2, ram_gb: 1}}
    credentials: {key: TEST_AWS_KEY_ID, secret: TEST_AWS_SECRET}
"""


class _Module:
    """What run_execute reads of a module: its environment and the catalog it loaded."""

    def __init__(self, catalog, environ):
        self._catalog = catalog
        self.environ = environ


def _catalog(tmp_path):
    layer = tmp_path / "layer"
    layer.mkdir(mode=0o755)
    (layer / "clouds.yml").write_text(CATALOG)
    return load_catalog([str(layer)], cache=False)


def _failing_with(secret):
    def execute(module):
        raise RuntimeError("the cloud said: signature %s does not match" % secret)
    return execute


def test_an_unexpected_error_never_shows_a_credential_of_the_catalog(tmp_path):
    """issue 18, finding 7: an unexpected error whose text holds a credential variable's value comes back
    masked, in msg and in the traceback (exception)."""
    secret = SECRET + "-catalog"
    module = _Module(_catalog(tmp_path), {"TEST_AWS_SECRET": secret, "TEST_AWS_KEY_ID": "AKIDTEST"})
    result = module_base.run_execute(_failing_with(secret), module)
    assert result["failed"] is True
    assert result["msg"] == "unexpected error: RuntimeError: the cloud said: signature *** does not match"
    assert secret not in result["exception"] and "RuntimeError" in result["exception"]


def test_an_unexpected_error_never_shows_a_secret_the_run_collected():
    """issue 18, finding 7: a secret any Masker of the process collected is masked in unexpected errors too."""
    secret = SECRET + "-collected"
    Masker([secret])
    result = module_base.run_execute(_failing_with(secret), _Module(None, {}))
    assert secret not in result["msg"] + result["exception"]


def test_an_unexpected_error_never_shows_a_private_key():
    """issue 18, finding 7: a key in an unexpected error's text is redacted."""
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n" \
          "-----END RSA PRIVATE KEY-----"

    def fail(module):
        raise ValueError("cannot use %s" % key)

    result = module_base.run_execute(fail, _Module(None, {}))
    assert "MIIEowIBAAKCAQEA" not in result["msg"] + result["exception"]
    assert "<a private key, " in result["msg"]


def test_the_in_process_path_masks_unexpected_errors(tmp_path, monkeypatch):
    """issue 18, finding 7: on the action plugin's in-process path an unexpected error (in the module or on the
    way to it) is masked with the task's environment."""
    from ansible_collections.slipway.cloud.plugins.modules import instance_info

    layer = tmp_path / "layer"
    layer.mkdir(mode=0o755)
    (layer / "clouds.yml").write_text(CATALOG)
    secret = SECRET + "-in-process"
    environ = {"TEST_AWS_SECRET": secret, "TEST_AWS_KEY_ID": "AKIDTEST", "SLIPWAY_CATALOG_CACHE": "off"}

    def execute(module):
        module.load_catalog()
        _failing_with(secret)(module)

    monkeypatch.setattr(instance_info, "execute", execute)
    result = in_process.run_module("instance_info", {"catalog": [str(layer)]}, False, False, environ)
    assert result["msg"].startswith("unexpected error: RuntimeError"), result
    assert secret not in json.dumps(result)

    def broken(name):
        raise ImportError("no module named %s" % name)

    monkeypatch.setattr(in_process.importlib, "import_module", broken)
    result = in_process.run_module("instance_info", {}, False, False, environ)
    assert result["failed"] is True and result["msg"].startswith("unexpected error: ImportError"), result
