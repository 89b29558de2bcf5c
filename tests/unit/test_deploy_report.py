# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy_report callback's pieces: timings, check matching, the table, the HTML page.

The whole callback runs for real in tests/integration/tutorial (table, JSON and HTML of a real run).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.slipway.cloud.plugins.callback import deploy_report as report


def row(cloud, name, seconds=1.5, **extra):
    data = {"cloud": cloud, "name": name, "image": "debian-12", "flavor": "Small", "cpu": 2.0, "ram_gb": 0.5,
            "address": "198.18.1.2", "ssh_url": "ssh://root@198.18.1.2", "deploy_seconds": seconds}
    data.update(extra)
    return data


def test_deploy_seconds_prefers_the_modules_figure_then_the_timings():
    assert report.deploy_seconds({"timings": {"deploy_seconds": 1.234, "requested_at": 0, "ssh_ready_at": 9}}) == 1.23
    assert report.deploy_seconds({"timings": {"requested_at": 10.0, "running_at": 11.0, "ssh_ready_at": 12.5}}) == 2.5
    assert report.deploy_seconds({"timings": {"requested_at": 10.0, "running_at": 11.25}}) == 1.25
    assert report.deploy_seconds({"timings": {"requested_at": None}}) is None
    assert report.deploy_seconds({}) is None


def test_instances_of_reads_loop_results_too():
    result = {"instances": [{"name": "a"}], "results": [{"instances": [{"name": "b"}, "junk"]}, {"skipped": True}]}
    assert [i["name"] for i in report.instances_of(result)] == ["a", "b"]
    assert report.instances_of({"removed": [{"name": "c"}]}, "removed") == [{"name": "c"}]


def test_checks_belong_to_the_machine_of_their_cloud():
    rows = [row("local-a", "web"), row("local-b", "web"), row("local-b", "db")]
    by_cloud = {"cloud": "local-b", "name": "web", "check": "x"}
    assert [report.CallbackModule._belongs(by_cloud, r, rows) for r in rows] == [False, True, False]
    # Without cloud and name: NAME.CLOUD matches exactly; a bare NAME only when no other cloud uses it.
    assert [report.CallbackModule._belongs({"machine": "web.local-a"}, r, rows) for r in rows] == [True, False, False]
    assert [report.CallbackModule._belongs({"machine": "web"}, r, rows) for r in rows] == [False, False, False]
    assert [report.CallbackModule._belongs({"machine": "db"}, r, rows) for r in rows] == [False, False, True]


def test_per_cloud_time_is_the_slowest_machine_of_the_cloud():
    rows = [row("local-a", "a", 1.0), row("local-a", "b", 3.5), row("local-b", "c", 2.0), row("x", "d", None)]
    assert report.CallbackModule._per_cloud(rows) == {"local-a": 3.5, "local-b": 2.0}


def test_table_has_one_aligned_row_per_machine():
    module = report.CallbackModule.__new__(report.CallbackModule)
    rows = [row("local-a", "web", checks_total=6, checks_passed=6), row("local-b", "web-long-name", None)]
    lines = module.table(rows).splitlines()
    assert lines[0].split() == ["cloud", "machine", "image", "flavor", "cpu/ram", "address", "ssh", "URL", "deploy",
                                "s", "checks", "passed"]
    assert set(lines[1]) <= {"-", " "}
    assert re.match(r"local-a\s+web\s+debian-12\s+Small\s+2/0.5 GB\s+198.18.1.2\s+ssh://root@198.18.1.2\s+1.5\s+6/6$",
                    lines[2])
    assert lines[3].split()[-2:] == ["-", "-"]       # no time, no checks
    # Columns line up: each column starts at the same offset on every line.
    starts = [m.start() for m in re.finditer(r"(?<=  )\S", lines[0])]
    for line in lines[2:]:
        assert all(line[i - 1] == " " and line[i] != " " for i in starts)


def test_html_page_escapes_and_draws_one_bar_per_cloud():
    rows = [row("local-a", "<script>", 1.0), row("local-b", "b", 4.0)]
    data = {"playbook": "/p/tutorial.yml", "run_seconds": 12.0, "all_checks_passed": False,
            "deploy_seconds_per_cloud": {"local-a": 1.0, "local-b": 4.0},
            "checks": [{"machine": "b", "check": "ram", "passed": False, "expected": "<1 GiB>", "found": "2"}]}
    page = report.render_html(data, [report.CallbackModule.cells(r) for r in rows])
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;1 GiB&gt;" in page
    assert page.count("<rect ") == 2
    widths = [int(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', page)]
    assert widths[1] == 4 * widths[0]            # bars proportional to the seconds
    assert "some checks FAILED" in page and 'class="bad"' in page
    assert not re.search(r"<(link|script)\b|\bsrc=", page)
