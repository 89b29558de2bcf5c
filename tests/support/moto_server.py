# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto's EC2 API server on loopback, as the tests need it.

Two things sit between moto and the clients, here in the tests and never in the product:

* moto 5.2.x writes the EC2 namespace as ``http://ec2.amazonaws.com/doc/2016-11-15``
  while libcloud (and real EC2) use ``.../2016-11-15/``; libcloud looks every element
  up with the slash, so without a fix every parse comes back empty. The wrapper adds it.
* moto also namespaces its error documents, which real EC2 does not; libcloud reads
  ``Errors/Error`` without a namespace, so every error code would be lost. The wrapper
  drops the namespace from error answers.
* moto picks the service from the SigV4 ``Authorization`` header and sends anything
  unsigned to S3; the wrapper sends unsigned API calls (``?Action=...``) to EC2.

And a fault injector for the reliability tests: a share of API calls (``rate``) gets
``RequestLimitExceeded`` (503), a 503, or a 500 instead of an answer, either before moto
sees the call (``when="before"``) or after moto has acted on it and the answer is lost
(``when="after"``, the case that makes naive retries create duplicates), or both at random.

Use in-process (``MotoServer(mode="thread")``) or as a subprocess (``mode="process"``, for
``ansible-playbook`` runs that outlive a fixture's thread), or from a shell::

    python tests/support/moto_server.py [--port 0] [--fault-rate 0.3]
    # prints "READY http://127.0.0.1:PORT" and serves until SIGTERM/SIGINT

Control while running: ``POST /moto-api/reset`` (moto) clears all state;
``POST /_slipway/faults`` with JSON ``{"rate": 0.3, "when": "before|after|both",
"kinds": [...], "seed": 1, "only": ["RunInstances"], "limit": 1}`` sets the injector; ``GET /_slipway/faults`` returns its
settings and counters (``actions``: calls seen per API action; ``by_action``: faults
injected per action). ``stop()`` ends only what this object started.
"""

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

FAULT_KINDS = ("throttle", "unavailable", "internal", "html503")
_FAULTS = {
    "throttle": (503, "Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."),
    "unavailable": (503, "Service Unavailable", "Unavailable", "The server is overloaded and cannot handle the request."),
    "internal": (500, "Internal Server Error", "InternalError", "An internal error has occurred."),
    # What a load balancer in front of an API answers: a 503 that is not XML at all.
    "html503": (503, "Service Unavailable", None, "<html><body><h1>503 Service Unavailable</h1></body></html>"),
}
_NAMESPACE_WITHOUT_SLASH = re.compile(rb'xmlns="(http://ec2\.amazonaws\.com/doc/\d{4}-\d{2}-\d{2})"')
CONTROL_PATH = "/_slipway/faults"


class FaultInjector:
    """Decides, per API call, whether to fail it and how. Thread-safe, seedable."""

    def __init__(self, rate=0.0, when="before", kinds=FAULT_KINDS, seed=None):
        self.lock = threading.Lock()
        self.only = None
        self.limit = None
        self.configure(rate=rate, when=when, kinds=kinds, seed=seed)

    def configure(self, rate=None, when=None, kinds=None, seed=None, only=None, limit=None, reset_counters=True):
        """``only``: fail only these API actions; ``limit``: stop after this many faults."""
        with self.lock:
            self.only = frozenset(only) if only else None
            self.limit = int(limit) if limit is not None else None
            if rate is not None:
                if not 0.0 <= float(rate) <= 1.0:
                    raise ValueError("fault rate must be within 0..1, got %r" % (rate,))
                self.rate = float(rate)
            if when is not None:
                if when not in ("before", "after", "both"):
                    raise ValueError("when must be before, after or both, got %r" % (when,))
                self.when = when
            if kinds is not None:
                unknown = set(kinds) - set(FAULT_KINDS)
                if unknown or not kinds:
                    raise ValueError("fault kinds must be among %s, got %r" % (", ".join(FAULT_KINDS), kinds))
                self.kinds = tuple(kinds)
            if seed is not None or not hasattr(self, "rng"):
                self.rng = random.Random(seed)
            if reset_counters:
                self.calls = 0
                self.faults = {"before": 0, "after": 0}
                self.by_action = {}
                self.actions = {}

    def decide(self, action):
        """(kind, when) for a call to fail, or None to let it through."""
        with self.lock:
            self.calls += 1
            self.actions[action] = self.actions.get(action, 0) + 1
            if self.rate <= 0 or (self.only is not None and action not in self.only):
                return None
            if self.limit is not None and sum(self.faults.values()) >= self.limit:
                return None
            if self.rng.random() >= self.rate:
                return None
            kind = self.rng.choice(self.kinds)
            when = self.when if self.when != "both" else self.rng.choice(("before", "after"))
            self.faults[when] += 1
            self.by_action[action] = self.by_action.get(action, 0) + 1
            return kind, when

    def state(self):
        with self.lock:
            return {"rate": self.rate, "when": self.when, "kinds": list(self.kinds), "calls": self.calls,
                    "only": sorted(self.only) if self.only else None, "limit": self.limit,
                    "faults": dict(self.faults), "by_action": dict(self.by_action), "actions": dict(self.actions)}


def fault_response(kind):
    status, reason, code, message = _FAULTS[kind]
    if code is None:
        return status, reason, "text/html", message.encode()
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
            "<Message>%s</Message></Error></Errors><RequestID>slipway-fault-%d</RequestID></Response>"
            % (code, message, random.randint(0, 10 ** 9)))
    return status, reason, "text/xml", body.encode()


class Ec2CompatApp:
    """WSGI app around moto's dispatcher: namespace fix, unsigned routing, faults."""

    def __init__(self, faults=None):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.dispatcher = DomainDispatcherApplication(create_backend_app)
        self.faults = faults or FaultInjector()

    # -- routing -------------------------------------------------------------
    def _ec2_app(self):
        with self.dispatcher.lock:
            app = self.dispatcher.app_instances.get("ec2")
            if app is None:
                app = self.dispatcher.create_app("ec2")
                self.dispatcher.app_instances["ec2"] = app
            return app

    @staticmethod
    def _read_body(environ):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _action(environ, body):
        query = environ.get("QUERY_STRING", "")
        for text in (query, body.decode("utf-8", "replace")
                     if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") else ""):
            match = re.search(r"(?:^|&)Action=([A-Za-z0-9]+)", text)
            if match:
                return match.group(1)
        return None

    def _call(self, app, environ):
        """Run a WSGI app, collect its whole answer (we may rewrite it)."""
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = list(headers)
            return lambda data: captured.setdefault("written", []).append(data)

        chunks = app(environ, start_response)
        try:
            body = b"".join(captured.get("written", [])) + b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], body

    # -- WSGI ----------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH:
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.dispatcher(environ, start_response)

        body = self._read_body(environ)
        action = self._action(environ, body)
        signed = bool(environ.get("HTTP_AUTHORIZATION"))
        app = self.dispatcher if signed or not action else self._ec2_app()

        fault = self.faults.decide(action) if action else None
        if fault and fault[1] == "before":
            return self._send_fault(fault[0], start_response)

        status, headers, payload = self._call(app, environ)
        if fault:        # moto acted on the call; the client never hears of it
            return self._send_fault(fault[0], start_response)

        if b"ec2.amazonaws.com/doc/" in payload[:400]:
            if status[:1] in ("4", "5"):
                # Real EC2 error documents carry no namespace and libcloud reads
                # "Errors/Error" without one; moto namespaces them, hiding every error code.
                payload = _NAMESPACE_WITHOUT_SLASH.sub(b"", payload, count=1).replace(b"<Response >", b"<Response>")
            else:
                payload = _NAMESPACE_WITHOUT_SLASH.sub(rb'xmlns="\1/"', payload, count=1)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(payload))))
        start_response(status, headers)
        return [payload]

    @staticmethod
    def _send_fault(kind, start_response):
        status, reason, content_type, body = fault_response(kind)
        start_response("%d %s" % (status, reason), [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    def _control(self, environ, start_response):
        try:
            if environ.get("REQUEST_METHOD") == "POST":
                settings = json.loads(self._read_body(environ) or b"{}")
                self.faults.configure(**settings)
            body = json.dumps(self.faults.state()).encode()
            status = "200 OK"
        except (TypeError, ValueError) as exc:
            body = json.dumps({"error": str(exc)}).encode()
            status = "400 Bad Request"
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _quiet_handler():
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):   # one line per call drowns test output
            pass

    return QuietHandler


def _make_server(host, port, app):
    from werkzeug.serving import make_server

    return make_server(host, port, app, threaded=True, request_handler=_quiet_handler())


class MotoServer:
    """moto EC2 on 127.0.0.1 at a free port, in a thread or a subprocess."""

    def __init__(self, mode="thread", host="127.0.0.1", port=0, fault_rate=0.0, fault_when="before",
                 fault_seed=None, startup_timeout=60.0, environ=None):
        """``environ``: variables added to a subprocess server's environment (moto's settings, e.g.
        ``INITIAL_NO_AUTH_ACTION_COUNT`` to check every signature); only with ``mode="process"``."""
        if mode not in ("thread", "process"):
            raise ValueError("mode must be thread or process, got %r" % (mode,))
        if environ and mode != "process":
            raise ValueError("environ needs mode='process' (moto reads its settings when it is imported)")
        self.environ = dict(environ or {})
        self.mode = mode
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._fault_settings = {"rate": fault_rate, "when": fault_when, "seed": fault_seed}
        self._server = None
        self._thread = None
        self._process = None
        self.app = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    # -- lifecycle -----------------------------------------------------------
    def start(self):
        if self.mode == "thread":
            self.app = Ec2CompatApp(FaultInjector(**self._fault_settings))
            self._server = _make_server(self.host, self.port, self.app)
            self.port = self._server.server_port
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
            self._thread.start()
        else:
            command = [sys.executable, os.path.abspath(__file__), "--host", self.host, "--port", str(self.port),
                       "--fault-rate", str(self._fault_settings["rate"]), "--fault-when", self._fault_settings["when"]]
            if self._fault_settings["seed"] is not None:
                command += ["--fault-seed", str(self._fault_settings["seed"])]
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                             stdin=subprocess.DEVNULL, text=True, env=dict(os.environ, **self.environ))
            self.port = self._await_ready_line()
        self._await_answer()
        return self

    def _await_ready_line(self):
        result = {}

        def read():
            result["line"] = self._process.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        line = result.get("line") or ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("moto server did not start within %.0f s (got %r)" % (self.startup_timeout, line))
        return int(line.rsplit(":", 1)[1])

    def _await_answer(self):
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self.faults()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._process is not None:
            process, self._process = self._process, None
            if process.poll() is None:
                process.terminate()          # only the pid we started
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            if process.stdout:
                process.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- control -------------------------------------------------------------
    def _post(self, path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else b""
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def reset(self):
        """Clear every moto resource, switch faults off and zero the counters."""
        self._post("/moto-api/reset")
        self.set_faults(rate=0.0, when="before", kinds=FAULT_KINDS)

    def clear_counters(self):
        """Zero the per-action call counters, keeping the fault settings."""
        state = self.faults()
        return self.set_faults(rate=state["rate"], when=state["when"], kinds=state["kinds"], only=state["only"],
                               limit=state["limit"])

    def set_faults(self, rate, when="before", kinds=None, seed=None, only=None, limit=None):
        payload = {"rate": rate, "when": when, "only": list(only) if only else None, "limit": limit}
        if kinds is not None:
            payload["kinds"] = list(kinds)
        if seed is not None:
            payload["seed"] = seed
        return json.loads(self._post(CONTROL_PATH, payload))

    def faults(self):
        """The injector's settings and counters (calls seen, faults injected)."""
        with urllib.request.urlopen(self.url + CONTROL_PATH, timeout=10) as response:
            return json.loads(response.read())


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="moto EC2 server for slipway.cloud tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-when", default="before", choices=("before", "after", "both"))
    parser.add_argument("--fault-seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("this test server only listens on loopback")

    app = Ec2CompatApp(FaultInjector(rate=args.fault_rate, when=args.fault_when, seed=args.fault_seed))
    server = _make_server(args.host, args.port, app)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY http://%s:%d" % (args.host, server.server_port), flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
