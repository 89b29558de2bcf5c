# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way slipway.cloud hides secrets in text that leaves the engine (messages, results, logs).

Providers mask their own error messages with ``mask``; the engine masks every record it returns
with a ``Masker`` that collected the credentials of every cloud it opened. No Ansible imports.
"""

from __future__ import annotations

import threading

MASK = "***"
#: values shorter than this are not masked: they would mangle innocent text ("1", "eu")
#: and are not what a leaked credential looks like
MIN_SECRET_LENGTH = 4


def _worth_masking(value):
    return isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH


def mask(text, secrets):
    """``text`` with every secret value replaced by ``***`` (the longest first, so a secret that
    contains another is masked whole)."""
    text = str(text)
    for secret in sorted((s for s in secrets or () if _worth_masking(s)), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class Masker:
    """Collects secrets from several clouds (threads add at once) and masks text and JSON-able data."""

    def __init__(self, secrets=()):
        self._secrets = set()
        self._lock = threading.Lock()
        self.add(secrets)

    def add(self, values):
        with self._lock:
            self._secrets.update(v for v in values or () if _worth_masking(v))

    def text(self, value):
        if not isinstance(value, str):
            return value
        with self._lock:
            secrets = list(self._secrets)
        return mask(value, secrets) if secrets else value

    def data(self, value):
        if isinstance(value, dict):
            return {self.text(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return self.text(value)
