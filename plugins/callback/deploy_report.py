# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: deploy_report
type: aggregate
short_description: Table, JSON file and HTML page of the machines a run deployed
version_added: 0.1.0
author:
  - slipway.cloud contributors (@slipway-cloud)
description:
  - At the end of a playbook run, prints one row per machine deployed by
    M(slipway.cloud.instance) tasks, cloud, image, flavor, CPU and RAM, address, SSH URL,
    deployment seconds and how many recorded checks passed.
  - Writes the same data as a JSON file and as a self-contained HTML page (inline CSS and an
    inline SVG bar chart of the deployment time per cloud), the "run page" of the run.
  - Machines come from the C(instances) list returned by M(slipway.cloud.instance); machines in its
    C(removed) list are marked as torn down in the JSON file.
  - Checks come from C(ansible.builtin.set_stats) data under the key C(slipway_checks), a list
    of mappings with C(check), C(passed) (bool), optionally C(expected) and C(found), and which
    machine they are about - C(cloud) and C(name), else C(machine), the inventory name
    (C(NAME.CLOUD) for hosts added by the collection's playbooks).
    The roles of this collection (verify_size, nginx, firewall) record their checks this way;
    a playbook can record its own checks the same way. Set C(per_host=false) and
    C(aggregate=true) so that the lists recorded by every host add up.
  - Enable it with C(callbacks_enabled = slipway.cloud.deploy_report) in C(ansible.cfg) or
    E(ANSIBLE_CALLBACKS_ENABLED).
requirements:
  - enable in configuration
options:
  output_dir:
    description:
      - Directory where the JSON file and the HTML page are written; created if missing.
      - When not set, the files go beside the playbook that ran.
    type: path
    env:
      - name: SLIPWAY_REPORT_DIR
    ini:
      - section: slipway_deploy_report
        key: output_dir
  basename:
    description:
      - File name, without extension, of the JSON file and the HTML page.
      - When not set, the playbook's file name followed by C(-report).
    type: str
    env:
      - name: SLIPWAY_REPORT_BASENAME
    ini:
      - section: slipway_deploy_report
        key: basename
  write_files:
    description: Whether to write the JSON file and the HTML page; the table is always printed.
    type: bool
    default: true
    env:
      - name: SLIPWAY_REPORT_WRITE_FILES
    ini:
      - section: slipway_deploy_report
        key: write_files
  disabled:
    description:
      - Print nothing and write nothing, for example in a nested run that another report covers.
    type: bool
    default: false
    env:
      - name: SLIPWAY_REPORT_DISABLED
"""

import html
import json
import os
import time

from ansible.plugins.callback import CallbackBase

INSTANCE_ACTIONS = frozenset(("slipway.cloud.instance", "instance"))
CHECKS_KEY = "slipway_checks"
COLUMNS = (
    ("cloud", "cloud"),
    ("name", "machine"),
    ("image", "image"),
    ("flavor", "flavor"),
    ("size", "cpu/ram"),
    ("address", "address"),
    ("ssh_url", "ssh URL"),
    ("deploy_seconds", "deploy s"),
    ("checks", "checks passed"),
)


def _number(value):
    """Compact text for 1.0 -> '1', 0.5 -> '0.5'; '-' for nothing."""
    if value is None or value == "":
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return ("%d" % number) if number == int(number) else ("%g" % number)


def deploy_seconds(instance):
    """Seconds from the create request until the machine answered SSH (or was running)."""
    timings = instance.get("timings") or {}
    if timings.get("deploy_seconds") is not None:
        return round(float(timings["deploy_seconds"]), 2)
    start = timings.get("requested_at")
    end = timings.get("ssh_ready_at") or timings.get("running_at")
    if start is None or end is None:
        return None
    return round(float(end) - float(start), 2)


def instances_of(result, key="instances"):
    """The machine records under ``key`` of one task result, including each loop item's."""
    found = list(result.get(key) or [])
    for item in result.get("results") or []:
        if isinstance(item, dict):
            found.extend(item.get(key) or [])
    return [one for one in found if isinstance(one, dict)]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "slipway.cloud.deploy_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.machines = {}            # (cloud, name) -> row dict, in deployment order
        self.playbook_path = None
        self.started = time.time()

    # -- collecting ---------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self.playbook_path = os.path.abspath(playbook._file_name)
        self.started = time.time()

    def v2_runner_on_ok(self, result):
        self._collect(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        # A partly failed create still returns the machines it made: they belong in the report.
        self._collect(result)

    def _collect(self, result):
        task = getattr(result, "task", None) or result._task
        action = getattr(task, "resolved_action", None) or task.action
        if action not in INSTANCE_ACTIONS:
            return
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        for instance in instances_of(data, "removed"):
            key = (instance.get("cloud"), instance.get("name") or instance.get("id"))
            if key in self.machines:
                self.machines[key]["torn_down"] = True
        for instance in instances_of(data):
            key = (instance.get("cloud"), instance.get("name") or instance.get("id"))
            row = self.machines.setdefault(key, {"torn_down": False})
            row.update(self._row(instance, row))

    @staticmethod
    def _row(instance, previous):
        seconds = deploy_seconds(instance)
        if seconds is None:
            # A later task that only found the machine again has no creation timings.
            seconds = previous.get("deploy_seconds")
        address = instance.get("public_ip") or instance.get("private_ip") or instance.get("address")
        return {
            "cloud": instance.get("cloud"),
            "name": instance.get("name"),
            "id": instance.get("id"),
            "image": instance.get("image"),
            "flavor": instance.get("flavor"),
            "cpu": instance.get("cpu"),
            "ram_gb": instance.get("ram_gb"),
            "login_user": instance.get("login_user"),
            "address": address,
            "ssh_url": instance.get("ssh_url"),
            "deployment": instance.get("deployment"),
            "deploy_seconds": seconds,
        }

    # -- reporting ----------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        if self.get_option("disabled"):
            return
        checks = self._checks(stats)
        rows = list(self.machines.values())
        for row in rows:
            mine = [check for check in checks if self._belongs(check, row, rows)]
            row["checks_total"] = len(mine)
            row["checks_passed"] = sum(1 for check in mine if check.get("passed"))
        if not rows and not checks:
            return
        report = {
            "playbook": self.playbook_path,
            "started_at": round(self.started, 3),
            "finished_at": round(time.time(), 3),
            "machines": rows,
            "deploy_seconds_per_cloud": self._per_cloud(rows),
            "checks": checks,
            "all_checks_passed": all(check.get("passed") for check in checks),
        }
        report["run_seconds"] = round(report["finished_at"] - report["started_at"], 2)
        self._display.banner("SLIPWAY DEPLOYMENT REPORT")
        self._display.display(self.table(rows))
        failed = [check for check in checks if not check.get("passed")]
        for check in failed:
            self._display.display("check failed: %s %s: expected %s, found %s" % (
                check.get("machine"), check.get("check"), check.get("expected"), check.get("found")),
                color="red")
        if self.get_option("write_files"):
            self._write(report)

    @staticmethod
    def _checks(stats):
        custom = getattr(stats, "custom", {}) or {}
        checks = []
        for host in sorted(custom, key=lambda name: (name != "_run", name)):
            value = (custom.get(host) or {}).get(CHECKS_KEY) or []
            for check in value if isinstance(value, list) else []:
                if isinstance(check, dict):
                    checks.append(dict(check, machine=check.get("machine") or host))
        return checks

    @staticmethod
    def _belongs(check, row, rows):
        """Whether a recorded check is about the machine of ``row``.

        Checks carry cloud and name (the roles take them from slipway_cloud and slipway_name);
        otherwise the inventory name NAME.CLOUD, or NAME when no other cloud uses it, is matched.
        """
        if check.get("cloud") and check.get("name"):
            return (check["cloud"], check["name"]) == (row["cloud"], row["name"])
        machine = check.get("machine")
        if machine == "%s.%s" % (row["name"], row["cloud"]):
            return True
        return machine == row["name"] and sum(1 for other in rows if other["name"] == row["name"]) == 1

    @staticmethod
    def _per_cloud(rows):
        """Per cloud, the time until its last machine was ready (what a user waits for)."""
        per_cloud = {}
        for row in rows:
            if row["deploy_seconds"] is None:
                continue
            per_cloud[row["cloud"]] = max(per_cloud.get(row["cloud"], 0), row["deploy_seconds"])
        return per_cloud

    @staticmethod
    def cells(row):
        checks = "-"
        if row.get("checks_total"):
            checks = "%d/%d" % (row["checks_passed"], row["checks_total"])
        return {
            "cloud": row.get("cloud") or "-",
            "name": row.get("name") or "-",
            "image": row.get("image") or "-",
            "flavor": row.get("flavor") or "-",
            "size": "%s/%s GB" % (_number(row.get("cpu")), _number(row.get("ram_gb"))),
            "address": row.get("address") or "-",
            "ssh_url": row.get("ssh_url") or "-",
            "deploy_seconds": _number(row.get("deploy_seconds")),
            "checks": checks,
        }

    def table(self, rows):
        lines = [[title for _key, title in COLUMNS]]
        for row in rows:
            cells = self.cells(row)
            lines.append([cells[key] for key, _title in COLUMNS])
        widths = [max(len(line[index]) for line in lines) for index in range(len(COLUMNS))]
        text = []
        for number, line in enumerate(lines):
            text.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
            if number == 0:
                text.append("  ".join("-" * width for width in widths))
        return "\n".join(text)

    def _target(self):
        directory = self.get_option("output_dir")
        if not directory:
            directory = os.path.dirname(self.playbook_path) if self.playbook_path else os.getcwd()
        basename = self.get_option("basename")
        if not basename:
            stem = os.path.splitext(os.path.basename(self.playbook_path or "playbook"))[0]
            basename = stem + "-report"
        return os.path.expanduser(directory), basename

    def _write(self, report):
        directory, basename = self._target()
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory)
            json_path = os.path.join(directory, basename + ".json")
            html_path = os.path.join(directory, basename + ".html")
            with open(json_path, "w") as handle:
                json.dump(report, handle, indent=2, sort_keys=True)
                handle.write("\n")
            with open(html_path, "w") as handle:
                handle.write(render_html(report, [self.cells(row) for row in report["machines"]]))
        except (IOError, OSError) as error:
            self._display.warning("slipway.cloud.deploy_report could not write its files in %s: %s"
                                  % (directory, error))
            return
        self._display.display("report: %s\nreport: %s" % (json_path, html_path))


def bar_chart(per_cloud):
    """An inline SVG with one horizontal bar per cloud, labelled with the seconds."""
    if not per_cloud:
        return "<p>No deployment times were recorded.</p>"
    bar_height, gap, label_width, chart_width = 26, 10, 160, 420
    longest = max(per_cloud.values()) or 1.0
    height = len(per_cloud) * (bar_height + gap) + gap
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" '
             'aria-label="deployment seconds per cloud">' % (label_width + chart_width + 80, height)]
    for index, (cloud, seconds) in enumerate(sorted(per_cloud.items())):
        top = gap + index * (bar_height + gap)
        width = max(2, int(round(chart_width * seconds / longest)))
        parts.append('<text x="%d" y="%d" text-anchor="end" class="label">%s</text>'
                     % (label_width - 8, top + bar_height * 0.7, html.escape(str(cloud))))
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" class="bar"><title>%s: %s s</title></rect>'
                     % (label_width, top, width, bar_height, html.escape(str(cloud)), _number(seconds)))
        parts.append('<text x="%d" y="%d" class="value">%s s</text>'
                     % (label_width + width + 6, top + bar_height * 0.7, _number(seconds)))
    parts.append("</svg>")
    return "".join(parts)


def render_html(report, cell_rows):
    escape = html.escape
    header = "".join("<th>%s</th>" % escape(title) for _key, title in COLUMNS)
    body = []
    for cells in cell_rows:
        tds = []
        for key, _title in COLUMNS:
            value = escape(cells[key])
            if key == "ssh_url" and cells[key].startswith("ssh://"):
                value = '<a href="%s">%s</a>' % (value, value)
            tds.append("<td>%s</td>" % value)
        body.append("<tr>%s</tr>" % "".join(tds))
    checks = []
    for check in report["checks"]:
        checks.append("<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
            "ok" if check.get("passed") else "bad",
            escape(str(check.get("machine"))), escape(str(check.get("check"))),
            "passed" if check.get("passed") else "FAILED",
            escape(str(check.get("expected", ""))), escape(str(check.get("found", "")))))
    verdict = "every check passed" if report["all_checks_passed"] else "some checks FAILED"
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>slipway.cloud run: %(title)s</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;font-size:.9em}
th{background:#f0f0f0}
tr.bad td{background:#fde8e8}
.bar{fill:#3b7dd8}.label,.value{font-size:13px;fill:#222}
</style></head><body>
<h1>slipway.cloud run</h1>
<p>Playbook <code>%(title)s</code>, %(seconds)s s, %(verdict)s.</p>
<h2>Machines</h2>
<table><thead><tr>%(header)s</tr></thead><tbody>%(body)s</tbody></table>
<h2>Deployment time per cloud</h2>
%(chart)s
<h2>Checks</h2>
<table><thead><tr><th>machine</th><th>check</th><th>result</th><th>expected</th><th>found</th></tr></thead>
<tbody>%(checks)s</tbody></table>
</body></html>
""" % {
        "title": escape(str(report.get("playbook") or "")),
        "seconds": _number(report.get("run_seconds")),
        "verdict": verdict,
        "header": header,
        "body": "".join(body),
        "chart": bar_chart(report["deploy_seconds_per_cloud"]),
        "checks": "".join(checks),
    }
