# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, finding 1: what the inventory plugin takes from a cloud (plugins/plugin_utils/cloud_values.py).

Host names only from valid machine names, every value marked unsafe, group names made of cloud values
without a character a template needs, cached records checked again. In-process, under whichever
ansible-core runs the tests (`make matrix` runs them under each).
"""

import re

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.slipway.cloud.plugins.inventory import instances
from ansible_collections.slipway.cloud.plugins.module_utils.model import Cloud, Machine
from ansible_collections.slipway.cloud.plugins.plugin_utils import cloud_values

PAYLOAD = "{{ lookup('pipe', 'touch /tmp/slipway-unit-pwned') }}"
CLOUDS = {"aws-1": Cloud(name="aws-1", provider="ec2"), "aws-2": Cloud(name="aws-2", provider="ec2")}

try:
    from ansible.template import trust_as_template
except ImportError:      # ansible-core 2.18: every string is a template
    def trust_as_template(value):
        return value


def machine(name, machine_id=None, cloud="aws-1", **kw):
    return Machine(cloud=cloud, name=name, id=machine_id or "i-" + (name or "x"), state="running", **kw)


def listed(listings, **kwargs):
    skipped = []
    records = instances.host_records(listings, CLOUDS, ["public"], lambda image, cloud: None, skipped=skipped,
                                     **kwargs)
    return [record["host"] for record in records], skipped


def render(expression, **variables):
    """What a real Templar of this core makes of a trusted template over ``variables``."""
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template(expression))


@pytest.mark.parametrize("value", ["web-1", "a", "i-0123abcd", "db.internal-2", "3f2a0c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6"])
def test_valid_machine_names_are_name_parts(value):
    assert cloud_values.is_name_part(value)


@pytest.mark.parametrize("value", [PAYLOAD, "web-1\n", "", None, 7, "a" * 64, "-web", "web-", "web_1", "web 1",
                                   "{{x}}", "#jinja2:variable_start_string:'['\n[ 1 ]"])
def test_anything_else_is_not(value):
    """issue 18, finding 1: a name part can never hold a template, a newline or a space."""
    assert not cloud_values.is_name_part(value)


def test_excerpt_is_short_and_never_the_whole_value():
    text = cloud_values.excerpt(PAYLOAD)
    assert len(text) <= 64 and text.endswith("(%d characters)" % len(PAYLOAD)) and PAYLOAD not in text
    assert cloud_values.excerpt("web\n") == "'web\\n'"


def test_a_machine_with_a_payload_name_is_left_out_with_one_warning():
    """issue 18, finding 1: the bad name is never a host; the warning names the cloud and id, not the name."""
    hosts, skipped = listed([("aws-1", [machine(PAYLOAD, "i-bad"), machine("web-1")])])
    assert hosts == ["web-1.aws-1"]
    (note,) = skipped
    assert "machine i-bad on cloud aws-1 is not listed" in note and "not a valid machine name" in note
    assert PAYLOAD not in note and len(note) < 300


def test_a_left_out_machine_makes_no_twin_of_another():
    # "web-1\n" is not web-1: it is left out, and web-1 keeps its plain name (no .id)
    hosts, skipped = listed([("aws-1", [machine("web-1\n", "i-nl"), machine("web-1", "i-ok")])], hostnames="name")
    assert hosts == ["web-1"] and len(skipped) == 1 and "'web-1\\n'" in skipped[0]


def test_ids_are_checked_where_a_host_name_uses_them():
    unnamed, skipped = listed([("aws-1", [machine("", PAYLOAD), machine("", "i-fine")])])
    assert unnamed == ["i-fine.aws-1"] and len(skipped) == 1 and "its id" in skipped[0]
    twins, skipped = listed([("aws-1", [machine("x", "i-1"), machine("x", "bad id")])])
    assert twins == ["x.aws-1.i-1"] and len(skipped) == 1 and "'bad id'" in skipped[0]
    # an id that is no name part is fine where the host name does not use it
    assert listed([("aws-1", [machine("y", "/subscriptions/1/vm")])])[0] == ["y.aws-1"]


def test_a_machine_named_like_the_controller_is_qualified_by_its_cloud():
    hosts = listed([("aws-1", [machine("localhost"), machine("127.0.0.1"), machine("web")])], hostnames="name")[0]
    assert hosts == ["localhost.aws-1", "127.0.0.1.aws-1", "web"]


def test_records_keep_the_parts_their_host_name_is_made_of():
    records = instances.host_records([("aws-1", [machine("x", "i-1"), machine("x", "i-2")])], CLOUDS, ["public"],
                                     lambda image, cloud: None)
    assert [r["name_parts"] for r in records] == [["x", "aws-1", "i-1"], ["x", "aws-1", "i-2"]]
    assert all(cloud_values.cached_host_problem(r) is None for r in records)


@pytest.mark.parametrize("record,words", [
    ({"host": PAYLOAD + ".aws-1", "name_parts": [PAYLOAD, "aws-1"], "groups": [],
      "vars": {"slipway_cloud": "aws-1", "slipway_id": "i-1"}}, ["machine i-1 on cloud aws-1", "its name"]),
    ({"host": PAYLOAD, "name_parts": ["web-1"], "groups": [], "vars": {}}, ["does not match its name parts"]),
    ({"host": "web-1", "groups": [], "vars": {}}, ["does not match its name parts"]),
    ({"host": "web-1", "name_parts": ["web-1"], "groups": "g", "vars": {}}, ["malformed"]),
    ("web-1", ["malformed"]),
])
def test_cached_records_are_checked_again(record, words):
    """issue 18, finding 1: a cache file holding a bad host name (tampered, or written before the fix) is not used."""
    problem = cloud_values.cached_host_problem(record)
    assert problem and all(word in problem for word in words), problem
    assert PAYLOAD not in problem


def test_wrapped_values_never_render_nested_ones_too():
    """issue 18, finding 1: on this core, a template over unsafe-marked cloud values shows them as text."""
    values = cloud_values.unsafe_values({"slipway_image": "{{ 6 * 7 }}", "slipway_host_keys": ["{{ 6 * 7 }}"],
                                         "nested": {"deep": ["{{ 6 * 7 }}"]}, "slipway_cpu": 2, "none": None})
    assert render("{{ slipway_image }}", **values) == "{{ 6 * 7 }}"
    assert render("{{ slipway_host_keys[0] ~ '!' }}", **values) == "{{ 6 * 7 }}!"
    assert render("{{ nested.deep[0] }}", **values) == "{{ 6 * 7 }}"
    assert values["slipway_cpu"] == 2 and values["none"] is None
    assert str(render("{{ 6 * 7 }}")) == "42"          # the templar itself works


def test_group_names_from_cloud_values_keep_only_group_name_characters():
    assert cloud_values.sanitized_group_name("img_" + PAYLOAD) == "img_" + re.sub(r"[^A-Za-z0-9_]", "_", PAYLOAD)
    assert instances.safe_group_name("image", PAYLOAD).startswith("image____lookup")


def test_keyed_group_names_are_sanitized_by_constructable_on_this_core():
    # the plugin relies on it for keyed_groups, whose names are made of cloud values
    plugin = instances.InventoryModule()
    assert plugin._sanitize_group_name("img_" + PAYLOAD) == cloud_values.sanitized_group_name("img_" + PAYLOAD)


def test_an_unexpected_listing_error_is_one_masked_line(monkeypatch):
    """issue 18, finding 7: an error the plugin did not expect reaches Ansible masked, without its traceback."""
    from ansible.errors import AnsibleParserError

    from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # noqa: F401

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    plugin = instances.InventoryModule()
    plugin._path = "clouds.slipway.yml"  # pylint: disable=protected-access

    def broken(address):
        raise RuntimeError("signing failed for %s at %s" % (secret, address))

    monkeypatch.setattr(plugin, "_fetch", broken)
    with pytest.raises(AnsibleParserError) as info:
        plugin._fetched("public")  # pylint: disable=protected-access
    text = str(info.value)
    assert "unexpected error: RuntimeError: signing failed for ***" in text and secret not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
