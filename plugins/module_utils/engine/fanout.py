# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one per-cloud fan-out of the engine: the same work on several clouds at once, each cloud with its
own outcome, one cloud's failure never hiding or undoing another's.

Used by the instance converge (deploy.py), the listing (listing.py), the security-group converge
(group_converge.py) and the inventory plugin. Every secret of every opened cloud is masked in what
comes back. No Ansible imports.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.slipway.cloud.plugins.module_utils.masking import Masker
from ansible_collections.slipway.cloud.plugins.module_utils.model import SlipwayError
from ansible_collections.slipway.cloud.plugins.module_utils.providers.base import get_provider


class CloudOutcome:
    """What happened on one cloud: ``status`` ok or failed, the ``error`` record, ``seconds`` taken.
    The engines subclass it with what their work produces."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.status = "ok"
        self.error = None
        self.seconds = None

    @property
    def failed(self):
        return self.status == "failed"

    def fail(self, error_record):
        self.status = "failed"
        self.error = error_record

    def mask(self, masker):
        """Mask what this outcome carries (subclasses mask their own fields too)."""
        if self.error is not None:
            self.error = masker.data(self.error)


def error_record(exc, masker):
    """The JSON-able form of a failure: msg plus details, secrets masked."""
    if isinstance(exc, SlipwayError):
        return {"msg": masker.text(exc.msg), "details": masker.data(dict(exc.details))}
    return {"msg": masker.text("%s: %s" % (type(exc).__name__, exc)),
            "details": {"type": type(exc).__name__}}


def provider_opener(provider_factory=None, environ=None):
    """The function that opens a cloud's provider: the given factory, else get_provider with ``environ``."""
    return provider_factory or (lambda cloud: get_provider(cloud, environ))


def secrets_of(provider):
    """The values to mask once a provider is open: its credentials, and every value the task's
    ``credentials`` option gave (an EC2 session token too, which the catalog may not name)."""
    values = list((getattr(provider, "credentials", None) or {}).values())
    environ = getattr(provider, "environ", None)
    values.extend(environ[name] for name in getattr(environ, "given", ()) if name in environ)
    return values


def _close(provider):
    try:
        provider.close()
    except Exception:  # pylint: disable=broad-except  # closing must not hide the result
        pass


def open_providers(clouds, opener, masker):
    """{cloud name: provider} for every cloud, opened up front: a cloud that cannot even be opened
    (unknown family, missing credential, bad option) fails the whole request before any cloud is touched."""
    providers = {}
    try:
        for cloud in clouds:
            providers[cloud.name] = opener(cloud)
            masker.add(secrets_of(providers[cloud.name]))
    except Exception:
        for provider in providers.values():
            _close(provider)
        raise
    return providers


def for_each_cloud(clouds, work, opener, masker=None, outcome_type=CloudOutcome, providers=None, timeout=None,
                   on_failure=None):
    """Run ``work(cloud, provider, outcome)`` for every cloud in parallel; returns {name: outcome}, in order.

    ``providers`` already opened (open_providers) are used and closed; otherwise each cloud's provider is
    opened in its own thread, so a cloud that cannot be opened is one failed outcome among the others.
    An exception becomes the cloud's failed outcome (``on_failure(cloud, provider, outcome)`` may then add
    what exists); a cloud still running after ``timeout`` seconds is failed with "no answer" and its daemon
    thread does not hold the process. Every outcome is masked with ``masker``.
    """
    masker = masker if masker is not None else Masker()
    outcomes = {cloud.name: outcome_type(cloud.name) for cloud in clouds}
    finished = set()

    def run(cloud):
        outcome = outcomes[cloud.name]
        started = time.time()
        provider = None
        try:
            provider = providers[cloud.name] if providers else opener(cloud)
            masker.add(secrets_of(provider))
            work(cloud, provider, outcome)
        except Exception as exc:  # pylint: disable=broad-except  # one cloud's failure never hides the others
            outcome.fail(error_record(exc, masker))
            if on_failure is not None and provider is not None:
                try:
                    on_failure(cloud, provider, outcome)
                except Exception:  # pylint: disable=broad-except  # the failure itself is reported
                    pass
        finally:
            if provider is not None:
                _close(provider)
        outcome.seconds = round(time.time() - started, 3)
        finished.add(cloud.name)

    if len(clouds) == 1 and timeout is None:
        run(clouds[0])
    else:
        threads = [threading.Thread(target=run, args=(cloud,), name="slipway-" + cloud.name, daemon=True)
                   for cloud in clouds]
        for thread in threads:
            thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    for cloud in clouds:
        if cloud.name not in finished:
            late = outcome_type(cloud.name)
            late.fail({"msg": "no answer within %s seconds" % timeout, "details": {"timeout": timeout}})
            outcomes[cloud.name] = late
    for outcome in outcomes.values():
        outcome.mask(masker)
    return outcomes


def failure_message(errors, total, verb="failed", tail=""):
    """The one message for a partial failure: "2 of 3 clouds failed: a: ... | b: ...".

    ``errors`` is [(cloud, message)] in the clouds' order; ``tail`` says what happened to the others.
    """
    return "%d of %d clouds %s: %s%s" % (len(errors), total, verb, " | ".join("%s: %s" % e for e in errors), tail)


def failures_of(per_cloud):
    """[(cloud, message)] of the failed clouds of an engine's per-cloud result dicts, in their order."""
    return [(cloud, result["error"]["msg"]) for cloud, result in per_cloud.items() if result.get("status") == "failed"]
