# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The services' processes: one-shot set-up steps and long-running servers.

Every process is the leader of a process group of its own (stopped by that group's id, so
whatever it started stops with it) and carries ``SLIPWAY_PARENT_PID``: service_side.lifeline ends
it when this process is gone, so a test session killed with SIGKILL leaves nothing running.
Every wait is bounded; a failure says which step or service, and ends with its log's tail.
"""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

LIFELINE_VARIABLE = "SLIPWAY_PARENT_PID"
TAIL_LINES = 25


class StartError(Exception):
    """A set-up step failed or a service did not come up; the message carries its log's tail."""


def tail(path, lines=TAIL_LINES):
    """The last ``lines`` lines of a file ("" when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 200 * lines))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _tails(paths):
    parts = []
    for path in paths:
        text = tail(path)
        if text:
            parts.append("--- %s (last lines)\n%s" % (path, text))
    return "\n".join(parts) or "(no output)"


def child_env(base, extra):
    env = dict(base)
    env.update(extra)
    env[LIFELINE_VARIABLE] = str(os.getpid())
    return env


def run_step(name, argv, env, output, timeout=300, logs=()):
    """Run one set-up command to completion; StartError (with the output's tail) if it fails."""
    with open(output, "ab") as sink:
        sink.write(("$ %s\n" % " ".join(argv)).encode())
        sink.flush()
        process = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                   stdin=subprocess.DEVNULL, process_group=0)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise StartError("%s took more than %d s\n%s" % (name, timeout, _tails((output,) + tuple(logs))))
    if code != 0:
        raise StartError("%s failed (exit %d)\n%s" % (name, code, _tails((output,) + tuple(logs))))


def _kill_group(process, grace=10.0):
    """SIGTERM to the process's group, SIGKILL after ``grace`` seconds; waits for the leader."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def listen_socket():
    """A listening TCP socket on a free 127.0.0.1 port (inheritable: it is handed to a service)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


class Service:
    """One long-running service on a socket bound here; ``health`` is a URL that answers once it is up."""

    def __init__(self, name, argv, env, output, health, listener, logs=()):
        self.name = name
        self.argv = argv
        self.env = env
        self.output = output
        self.health = health
        self.listener = listener
        self.port = listener.getsockname()[1]
        self.logs = tuple(logs)
        self.process = None

    def start(self):
        fd = self.listener.fileno()
        with open(self.output, "ab") as sink:
            self.process = subprocess.Popen(self.argv + ["--fd", str(fd)], env=self.env, pass_fds=(fd,),  # pylint: disable=consider-using-with
                                            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            process_group=0)
        # the service has its copy; ours would keep the port open after the service stopped
        self.listener.close()
        return self

    def failure(self, what):
        return StartError("%s: %s\n%s" % (self.name, what, _tails((self.output,) + self.logs)))

    def wait_ready(self, timeout):
        """Until ``health`` answers (any HTTP status below 500); StartError when it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise self.failure("exited with status %d while starting" % code)
            if answers(self.health):
                return
            if time.monotonic() > deadline:
                raise self.failure("no answer from %s within %.0f s" % (self.health, timeout))
            time.sleep(0.25)

    def stop(self, grace=10.0):
        if self.process is None:
            self.listener.close()          # never started: nobody else holds the port
        elif self.process.returncode is None:
            _kill_group(self.process, grace)


def answers(url, timeout=5.0):
    """True if ``url`` gives an HTTP answer below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (OSError, ValueError):
        return False
