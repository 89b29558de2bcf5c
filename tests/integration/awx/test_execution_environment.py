# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment: the built tarball, `ansible-builder introspect` of its install, and
`ansible-builder create` of the sample in awx/ee/ (`build` needs a container engine: not here)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml
from ansible_builder._target_scripts.introspect import EXCLUDE_REQUIREMENTS

from support.collection import ansible_command, ansible_env, collection_root


def run(*args, cwd=None):
    proc = subprocess.run(ansible_command(*args), cwd=cwd, env=ansible_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    assert proc.returncode == 0, "%s failed:\n%s" % (" ".join(args), proc.stdout)
    return proc.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dist")
    run("ansible-galaxy", "collection", "build", collection_root(), "--output-path", str(directory))
    (path,) = directory.glob("slipway-cloud-*.tar.gz")
    return path


def requirement_lines(path):
    with open(path) as handle:
        return [line.split("#")[0].strip() for line in handle if line.split("#")[0].strip()]


def requirement_name(line):
    return re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower()


def test_tarball_holds_what_the_metadata_names_and_no_test_files(tarball):
    with tarfile.open(str(tarball)) as archive:
        names = set(archive.getnames())
        meta = yaml.safe_load(archive.extractfile("meta/execution-environment.yml"))
    assert meta["version"] == 1
    named = [meta["dependencies"]["python"], meta["dependencies"]["system"]]
    assert named == ["requirements.txt", "bindep.txt"]
    assert set(named) <= names
    for sample in ("awx/ee/execution-environment.yml", "awx/ee/README.md", "awx/credential_types/openstack.yml",
                   "playbooks/awx_configure.yml", "inventories/awx/awx.slipway.yml"):
        assert sample in names, sample
    stray = sorted(n for n in names if n.split("/")[0] in ("tests", "benchmarks")
                   or n in ("requirements-test.txt", "pytest.ini", "Makefile", ".ansible-lint"))
    assert stray == []


def test_introspect_of_the_installed_collection_is_its_requirement_files(tarball, tmp_path):
    install = tmp_path / "install"
    run("ansible-galaxy", "collection", "install", "--offline", "--force", "-p", str(install), str(tarball))
    assert (install / "ansible_collections" / "slipway" / "cloud" / "MANIFEST.json").is_file()
    pip, bindep = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    run("ansible-builder", "introspect", str(install), "--write-pip", str(pip), "--write-bindep", str(bindep))

    root = collection_root()
    python = requirement_lines(os.path.join(root, "requirements.txt"))
    # ansible-builder drops what ansible-core already brings (PyYAML among them)
    expected = [line for line in python if requirement_name(line) not in EXCLUDE_REQUIREMENTS]
    assert [requirement_name(line) for line in python if line not in expected] == ["pyyaml"]
    assert requirement_lines(pip) == expected
    assert {"apache-libcloud", "openstacksdk"} <= {requirement_name(line) for line in expected}
    assert requirement_lines(bindep) == requirement_lines(os.path.join(root, "bindep.txt")) == \
        ["openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]"]


def test_ansible_builder_create_accepts_the_sample(tarball, tmp_path):
    sample = os.path.join(collection_root(), "awx", "ee")
    work = tmp_path / "ee"
    shutil.copytree(sample, str(work))
    shutil.copy(str(tarball), str(work / "slipway-cloud.tar.gz"))        # as the sample's README says
    run("ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context", "--output-filename",
        "Containerfile", cwd=str(work))

    context = work / "context"
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-core>=2.18,<2.20" in containerfile and "ansible-runner>=2.4,<2.5" in containerfile
    assert "quay.io/centos/centos:stream9" in containerfile
    assert (context / "_build" / "collections" / "slipway-cloud.tar.gz").is_file()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert galaxy == {"collections": [{"name": "collections/slipway-cloud.tar.gz", "type": "file"}]}
    # the image build runs introspect on the installed collections: the script it uses is in the context
    assert (context / "_build" / "scripts" / "introspect.py").is_file()
    assert "introspect" in containerfile and "assemble" in containerfile
