# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A reverse proxy in front of every service of the loopback cloud, which can inject faults.

Every endpoint in Keystone's catalog points at a listener of this proxy, never at a service. Each
service has two listeners, one per *lane*: ``public`` (the catalog's public endpoints, what
clients use) and ``internal`` (the internal and admin endpoints, what the services use to reach
each other). Faults hit the lanes asked for, by default only ``public``: a client must survive a
503 or a dropped connection, while a fault between Nova and Neutron is not something any client
can retry.

Faults, each with a share of ``rate`` of the requests of the chosen lanes:

* ``503``: answered "503 Service Unavailable" by the proxy, the service never sees the request;
* ``drop-before``: the connection closed with no answer, the service never sees the request;
* ``drop-after``: forwarded, the service acts on it, then the connection closed with no answer
  (the lost answer that makes a naive retry create twice).

``set_faults()`` switches them at run time (0 by default); ``counters()`` says how many requests
each service and lane saw and what was injected. Loopback only; bodies are buffered and capped,
upstream calls time out; daemon threads, stopped by ``close()``.

From another process (``python -m support.openstack_loopback up``), the optional control listener takes
``GET /faults`` (settings and counters) and ``POST /faults`` with JSON ``{"rate": 0.3, "kinds":
[...], "lanes": [...], "seed": 1}``.
"""

import http.client
import json
import random
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("503", "drop-before", "drop-after")
LANES = ("public", "internal")
MAX_BODY = 64 << 20
UPSTREAM_TIMEOUT = 300
IDLE_TIMEOUT = 60
# hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business on each side
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "transfer-encoding", "upgrade", "content-length"))
_UNAVAILABLE = (b"<html><body><h1>503 Service Unavailable</h1>\n"
                b"No server is available to handle this request (slipway fault proxy).\n</body></html>\n")


class FaultPlan:
    """What to inject, and the counters; shared by every listener (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rng = random.Random()
        self.rate = 0.0
        self.kinds = KINDS
        self.lanes = ("public",)
        self._reset_counters()

    def _reset_counters(self):
        self._requests = {}
        self._injected = {kind: 0 for kind in KINDS}

    def configure(self, rate, kinds=KINDS, lanes=("public",), seed=None):
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1, got %r" % (rate,))
        unknown = sorted(set(kinds) - set(KINDS)) + sorted(set(lanes) - set(LANES))
        if unknown or not kinds:
            raise ValueError("unknown fault kinds or lanes %s (kinds: %s; lanes: %s)"
                             % (unknown, ", ".join(KINDS), ", ".join(LANES)))
        with self._lock:
            self.rate, self.kinds, self.lanes = rate, tuple(kinds), tuple(lanes)
            if seed is not None:
                self._rng.seed(seed)

    def decide(self, service, lane):
        """Count one request; the fault to inject (one of KINDS) or None."""
        with self._lock:
            key = "%s/%s" % (service, lane)
            self._requests[key] = self._requests.get(key, 0) + 1
            if lane not in self.lanes or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self._injected[kind] += 1
            return kind

    def counters(self, reset=False):
        """{"rate", "kinds", "lanes", "requests": {"compute/public": n...}, "injected": {kind: n}}."""
        with self._lock:
            state = {"rate": self.rate, "kinds": list(self.kinds), "lanes": list(self.lanes),
                     "requests": dict(self._requests), "injected": dict(self._injected)}
            if reset:
                self._reset_counters()
            return state


def _read_body(handler):
    """The request body (chunked or sized), or None when it is over MAX_BODY."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks, size = [], 0
        while True:
            length = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if length == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
                    pass
                return b"".join(chunks)
            size += length
            if size > MAX_BODY:
                return None
            chunks.append(handler.rfile.read(length))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        return None
    return handler.rfile.read(length) if length else b""


def _handler_class(proxy, service, lane, upstream_port):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"       # keep-alive towards the client, as a real load balancer
        timeout = IDLE_TIMEOUT

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def _answer(self, status, reason, headers, body):
            self.send_response_only(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            if not any(name.lower() == "content-length" for name, _value in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _proxy(self):
            body = _read_body(self)
            if body is None:
                self.close_connection = True
                return self._answer(413, "Request Entity Too Large", [], b"")
            fault = proxy.plan.decide(service, lane)
            if fault == "503":
                return self._answer(503, "Service Unavailable", [("Content-Type", "text/html")], _UNAVAILABLE)
            if fault == "drop-before":
                return self._drop()
            status, reason, headers, payload = self._forward(body)
            if fault == "drop-after":
                return self._drop()
            return self._answer(status, reason, headers, payload)

        def _forward(self, body):
            """(status, reason, headers, body) of the service's answer, or a 502 saying why none came."""
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=UPSTREAM_TIMEOUT)
            try:
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                # a HEAD answer keeps the service's Content-Length: it describes the body a GET would get
                kept = [(k, v) for k, v in response.getheaders()
                        if k.lower() not in _HOP_BY_HOP or (self.command == "HEAD" and k.lower() == "content-length")]
                return response.status, response.reason, kept, payload
            except (OSError, http.client.HTTPException) as error:
                return (502, "Bad Gateway", [("Content-Type", "text/plain")],
                        ("upstream %s (127.0.0.1:%d) failed: %s\n" % (service, upstream_port, error)).encode())
            finally:
                upstream.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _proxy

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return     # a client that hung up (often on purpose, in fault tests) is not news
        super().handle_error(request, client_address)


class FaultProxy:
    """Listeners on 127.0.0.1, one per (service, lane), sharing one FaultPlan."""

    def __init__(self):
        self.plan = FaultPlan()
        self._servers = []
        self.routes = {}          # (service, lane) -> port

    def add(self, service, lane, upstream_port):
        """Start a listener for ``service`` on ``lane`` forwarding to 127.0.0.1:upstream_port; its port."""
        if lane not in LANES:
            raise ValueError("lane must be one of %s, got %r" % (", ".join(LANES), lane))
        server = _Server(("127.0.0.1", 0), _handler_class(self, service, lane, upstream_port))
        self._serve(server, "proxy-%s-%s" % (service, lane))
        port = server.server_address[1]
        self.routes[(service, lane)] = port
        return port

    def url(self, service, lane):
        return "http://127.0.0.1:%d" % self.routes[(service, lane)]

    def add_control(self):
        """A listener for GET/POST /faults from other processes; its port."""
        server = _Server(("127.0.0.1", 0), _control_handler_class(self.plan))
        self._serve(server, "proxy-control")
        return server.server_address[1]

    def _serve(self, server, name):
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
        thread.start()
        self._servers.append((server, thread))

    def set_faults(self, rate, kinds=KINDS, lanes=("public",), seed=None):
        self.plan.configure(rate, kinds, lanes, seed)
        return self.plan.counters()

    def counters(self, reset=False):
        return self.plan.counters(reset)

    def close(self):
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(10)
        self._servers = []


def _control_handler_class(plan):
    class Control(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def _reply(self, status, payload):
            body = json.dumps(payload, indent=1, sort_keys=True).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            if self.path != "/faults":
                return self._reply(404, {"error": "only /faults"})
            return self._reply(200, plan.counters())

        def do_POST(self):  # noqa: N802
            if self.path != "/faults":
                return self._reply(404, {"error": "only /faults"})
            try:
                settings = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                plan.configure(settings.get("rate", 0.0), settings.get("kinds", KINDS),
                               settings.get("lanes", ("public",)), settings.get("seed"))
            except (TypeError, ValueError, AttributeError) as error:
                return self._reply(400, {"error": str(error)})
            return self._reply(200, plan.counters())

    return Control
