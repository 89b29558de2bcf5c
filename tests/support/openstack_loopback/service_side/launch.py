# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serve one OpenStack service on a listening socket the harness passes in.

    python -m service_side.launch KIND --fd N

KIND is keystone, placement, glance, neutron or nova. The harness binds the socket (a free
port on 127.0.0.1, so two sessions never race for one) and hands its descriptor over; the
service finds its configuration through its own environment variables (OS_NOVA_CONFIG_FILES...),
which the harness sets. ``nova`` is the API, conductor, scheduler and compute (fake driver) in
this one process, on oslo.messaging's in-process ``fake`` transport: it has no broker-less
transport that crosses processes.
"""

import argparse
import os
import socket
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from service_side import fake_host, lifeline, sqlite_locking


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # the access log goes to the service's output file, not to the harness's terminal
        sys.stderr.write("%s\n" % (format % args))


def serve(app, fd):
    """Serve ``app`` forever on the already listening socket ``fd`` (threads, wsgiref)."""
    listener = socket.socket(fileno=fd)
    host, port = listener.getsockname()[:2]
    server = _Server((host, port), _Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.server_name, server.server_port = host, port
    server.setup_environ()
    server.set_app(app)
    print("serving on %s:%d" % (host, port), flush=True)
    server.serve_forever()


def keystone():
    from keystone.server.wsgi import initialize_public_application

    return initialize_public_application()


def placement():
    from placement.wsgi import api

    return api.application


def glance():
    from glance.common import wsgi_app

    return wsgi_app.init_app()


def neutron():
    from neutron.wsgi import api

    return api.application


def nova():
    """The compute API app, with conductor, scheduler and compute started beside it."""
    from nova import monkey_patch

    monkey_patch.patch(backend="threading")      # native threads (OS_NOVA_DISABLE_EVENTLET_PATCHING)
    from nova.api.openstack import wsgi_app

    app = wsgi_app.init_application("osapi_compute", "nova-api-os-compute")   # parses config, rpc.init()
    from nova import rpc, service
    from nova.compute import rpcapi as compute_rpcapi

    # Each cell mapping names a transport URL and nova opens a transport per URL; every fake
    # transport is a bus of its own, so point them all at this process's one bus (as nova's
    # own functional tests do).
    rpc.create_transport = lambda url: rpc.TRANSPORT
    fake_host.size_fake_driver()
    # Nova 34's compute also listens on the compute-alt topic: external events (a floating IP
    # attached) arrive there.
    for binary, topic, topic_alt in (("nova-conductor", "conductor", None),
                                     ("nova-scheduler", "scheduler", None),
                                     ("nova-compute", compute_rpcapi.RPC_TOPIC, compute_rpcapi.RPC_TOPIC_ALT)):
        service.Service.create(binary=binary, topic=topic, topic_alt=topic_alt).start()
        print("started %s" % binary, flush=True)
    return app


APPS = {"keystone": keystone, "placement": placement, "glance": glance, "neutron": neutron, "nova": nova}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--fd", type=int, required=True, help="descriptor of the listening socket")
    args = parser.parse_args(argv)
    lifeline.watch()
    sqlite_locking.install()
    # The services parse sys.argv themselves (oslo.config): leave them nothing of ours.
    sys.argv = sys.argv[:1]
    app = APPS[args.kind]()
    serve(app, args.fd)


if __name__ == "__main__":
    os.umask(0o077)
    main()
