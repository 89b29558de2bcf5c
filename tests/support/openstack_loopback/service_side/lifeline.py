# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End this service when the test session that started it is gone.

A pytest killed with SIGKILL runs no teardown: its children are re-parented and would run on.
Every service process therefore watches its parent and, once the parent is not the one named in
``SLIPWAY_PARENT_PID`` any more, kills its own process group (itself and whatever it started;
the harness starts each service as the leader of a group of its own).
"""

import os
import signal
import threading
import time

PARENT_VARIABLE = "SLIPWAY_PARENT_PID"


def watch(interval=0.5):
    """Start the watcher thread (a no-op when the variable is not set: a service run by hand)."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent:
        return None
    parent = int(parent)

    def run():
        while os.getppid() == parent:
            time.sleep(interval)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    thread = threading.Thread(target=run, name="slipway-lifeline", daemon=True)
    thread.start()
    return thread
