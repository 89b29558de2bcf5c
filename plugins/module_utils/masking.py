# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way slipway.cloud hides secrets in text that leaves the engine (messages, results, logs).

Providers mask their own error messages with ``mask``; the engine masks every record it returns
with a ``Masker`` that collected the credentials of every cloud it opened. Every Masker also tells
the process-wide set (``seen_secrets``), so that an unexpected error, caught far from the engine's
Masker, is masked with what the run collected. ``excerpt`` is the one short, masked form of a rejected
value an error message may show (never a key's body). No Ansible imports.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
#: values shorter than this are not masked: they would mangle innocent text ("1", "eu")
#: and are not what a leaked credential looks like
MIN_SECRET_LENGTH = 4
#: the most of a rejected value an error message shows (characters of its repr)
EXCERPT_CHARS = 40
#: a PEM block (private key, certificate...) or a PuTTY key, up to its end line when there is one
_KEY_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{0,40})-----.*?(?:-----END [A-Z0-9 ]{0,40}-----|\Z)"
                        r"|PuTTY-User-Key-File-\d+:.*\Z", re.DOTALL)
#: one word of 20 or more base64/base64url characters, mixing upper case, lower case and digits: a token or key
_TOKEN = re.compile(r"(?=[^a-z]*[a-z])(?=[^A-Z]*[A-Z])(?=[^0-9]*[0-9])[A-Za-z0-9+/=_-]{20,}\Z")
_SEEN = set()
_SEEN_LOCK = threading.Lock()


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
        values = [v for v in values or () if _worth_masking(v)]
        with self._lock:
            self._secrets.update(values)
        with _SEEN_LOCK:
            _SEEN.update(values)

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


def seen_secrets():
    """Every secret any Masker of this process collected (for errors caught outside the engine's Masker)."""
    with _SEEN_LOCK:
        return set(_SEEN)


def _key_word(header):
    return "a private key" if "PRIVATE" in header or not header else "a %s block" % header.strip().lower()


def redact_keys(text):
    """``text`` with every PEM block or PuTTY key replaced by "<a private key, N characters>"."""
    return _KEY_BLOCK.sub(lambda m: "<%s, %d characters>" % (_key_word(m.group(1) or ""), len(m.group(0))), text)


def excerpt(value, secrets=(), limit=EXCERPT_CHARS):
    """A short, masked form of a rejected value for an error message: its repr cut to ``limit`` characters
    (with its length when cut), ``secrets`` masked; a key or a token-like word is only described."""
    if isinstance(value, (dict, list, tuple, set)):
        return "a %s of %d item%s" % ("mapping" if isinstance(value, dict) else "list", len(value),
                                      "" if len(value) == 1 else "s")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if -10 ** limit < value < 10 ** limit else "<a number of about %d digits>" % (
            value.bit_length() * 0.30103 + 1)
    if isinstance(value, float):
        return repr(value)
    if not isinstance(value, str):
        return "<a value of type %s>" % type(value).__name__
    if _KEY_BLOCK.search(value):
        return "<%s, %d characters>" % (_key_word(_KEY_BLOCK.search(value).group(1) or ""), len(value))
    if _TOKEN.match(value.strip()):
        return "<a secret-looking word, %d characters>" % len(value)
    masked = mask(value, secrets) if secrets else value
    shown = repr(masked[:limit])
    if len(shown) > limit + 2:      # escapes made it longer: cut it and close the quote
        shown = shown[:limit + 1] + shown[0]
    return shown if len(masked) <= limit else "%s... (%d characters)" % (shown, len(value))


def path_excerpt(path, limit=4 * EXCERPT_CHARS):
    """A path as an error shows it: as given up to ``limit`` characters (paths are long, and seldom secret),
    a key (given where a path goes) only described."""
    path = str(path)
    if _KEY_BLOCK.search(path):
        return excerpt(path)
    if len(path) <= limit and path.isprintable():
        return path
    return excerpt(path, limit=limit)


def name_excerpt(name, limit=EXCERPT_CHARS):
    """A key or name as an error shows it in a key path: as written when short, printable and not
    secret-looking, else as ``excerpt`` shows it."""
    if isinstance(name, str) and len(name) <= limit and name.isprintable() and excerpt(name) == repr(name):
        return name
    return excerpt(name)
