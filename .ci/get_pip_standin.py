#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip script that ansible-test downloads.

ansible-test bootstraps pip into each virtual environment it makes by running
``~/.ansible/test/cache/get_pip_<version>.py``, which it otherwise fetches from a
host this machine cannot reach. This script does the same job with what is here:
``ensurepip`` from the standard library, then ``pip install --upgrade`` with the
arguments ansible-test passes (``pip==<version>`` from the package index).

``python get_pip_standin.py --install`` copies it to the path the installed
ansible-test looks for (the pip version is read from ansible-test's own source).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import sys

# get-pip options that pip itself does not know.
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def bootstrap(args):
    # Separate processes, each given its own copy of the environment: ensurepip points
    # PIP_CONFIG_FILE at /dev/null in its process, which would drop the CA settings.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=dict(os.environ))
    pip_args = [arg for arg in args if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade"] + pip_args, env=dict(os.environ))
    # Python 3.11's ensurepip also installs setuptools; get-pip would not have.
    if "--no-setuptools" in args:
        subprocess.call(
            [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"],
            env=dict(os.environ),
        )


def ansible_test_pip_version():
    import ansible_test  # the one installed beside this interpreter

    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source, encoding="utf-8") as handle:
        found = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", handle.read())
    if not found:
        raise SystemExit("cannot find the pip version ansible-test bootstraps in %s" % source)
    return found.group(1)


def install():
    version = ansible_test_pip_version()
    target = os.path.expanduser("~/.ansible/test/cache/get_pip_%s.py" % version.replace(".", "_"))
    if not os.path.isdir(os.path.dirname(target)):
        os.makedirs(os.path.dirname(target))
    shutil.copyfile(os.path.abspath(__file__), target)
    print("pip %s bootstrap for ansible-test: %s" % (version, target))


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:
        install()
    else:
        bootstrap(sys.argv[1:])
