# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""By hand, from tests/ with the tests' venv (see README.md beside this file):

    python -m support.openstack_loopback install     # build (or find) the services' venv; prints its path
    python -m support.openstack_loopback up          # start a cloud and keep it until Ctrl-C
"""

import argparse
import os
import shlex
import signal
import sys
import threading


def _install(args):
    """0 with the venv's path; 1 when the install fails, or cannot be done here and CI=true;
    0 with a warning when this machine cannot install the services (the tests then skip)."""
    from .install import InstallError, ServicesUnavailable, ensure_venv, in_ci

    try:
        venv = ensure_venv(args.python)
    except InstallError as error:
        sys.stderr.write("installing the OpenStack services failed: %s\n" % error)
        return 1
    except ServicesUnavailable as error:
        if in_ci():
            sys.stderr.write("CI must run the loopback OpenStack tests, but: %s\n" % error)
            return 1
        sys.stderr.write("warning: the OpenStack services cannot be installed here, their tests will skip: %s\n"
                         % error)
        return 0
    print(venv.path)
    return 0


def _up(args):
    from .cloud import CLOUD_NAMES, LoopbackCloud
    from .install import ensure_venv

    cloud = LoopbackCloud(ensure_venv(args.python), report=lambda text: sys.stderr.write(text + "\n"))
    cloud.start()
    control = cloud.proxy.add_control()
    print("# the tests' member user; source these lines, or use clouds.yaml:")
    for key, value in sorted(cloud.env("password").items()):
        print("export %s=%s" % (key, shlex.quote(value)))
    print("export OS_CLIENT_CONFIG_FILE=%s   # clouds: %s" % (cloud.layout.clouds_yaml, ", ".join(CLOUD_NAMES.values())))
    print("# faults: curl -s http://127.0.0.1:%d/faults ; curl -s -d '{\"rate\": 0.3}' http://127.0.0.1:%d/faults"
          % (control, control))
    print("# logs: %s ; Ctrl-C stops and removes everything%s"
          % (cloud.layout.log, " but the directory" if args.keep_dir else ""), flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_args: stopped.set())
    while not stopped.wait(1):
        dead = [name for name, service in cloud.services.items() if service.process.poll() is not None]
        if dead:
            sys.stderr.write("service(s) %s exited; see %s\n" % (", ".join(dead), cloud.layout.log))
            break
    cloud.stop(keep=args.keep_dir)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m support.openstack_loopback", description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=None, help="interpreter of the services' venv (default: python3.11)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="build or find the services' venv")
    up = commands.add_parser("up", help="start a loopback cloud and keep it until Ctrl-C")
    up.add_argument("--keep-dir", action="store_true", help="leave its directory (configs, logs) after stopping")
    args = parser.parse_args(argv)
    return {"install": _install, "up": _up}[args.command](args)


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
