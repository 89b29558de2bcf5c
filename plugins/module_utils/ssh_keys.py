# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of an SSH public key, and the key-pair name every provider registers it under.

No Ansible imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from ansible_collections.slipway.cloud.plugins.module_utils.model import InputError, ProviderError

KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")


class PublicKeyError(InputError, ProviderError):
    """An SSH key that is not one OpenSSH public key line. Both kinds: the modules check the option before
    any cloud is touched, and a provider called directly checks what it is given."""


@dataclass(frozen=True)
class PublicKey:
    key_type: str          # ssh-ed25519, ecdsa-sha2-nistp256, ...
    data: str              # the base64 blob
    comment: str = ""

    @property
    def line(self):
        """"type base64" (what clouds store; the comment stays on the controller)."""
        return "%s %s" % (self.key_type, self.data)

    def with_comment(self, default="slipway"):
        """The whole line with its comment (some APIs, and libcloud, name a key pair after it)."""
        return "%s %s" % (self.line, self.comment or default)

    @property
    def pair_name(self):
        """slipway-<sha256 of the key blob>: the same key gets the same name on every cloud and run."""
        blob = base64.b64decode(self.data.encode("ascii"))
        return "slipway-" + hashlib.sha256(blob).hexdigest()[:24]


def as_public_key(key):
    """A PublicKey from a PublicKey or the text of one (providers accept both)."""
    return key if isinstance(key, PublicKey) else parse_public_key(key)


def parse_public_key(text, option="ssh_public_key", file=None):
    """The PublicKey of one OpenSSH public key line, or one clear error naming ``option``.

    A private key given by mistake is refused without echoing it.
    """
    text = str(text or "").strip()
    if "PRIVATE KEY" in text:
        raise PublicKeyError("the SSH key given in %s is a private key; give the public one (the .pub file)" % option,
                             option=option, file=file)
    lines = text.splitlines()
    parts = lines[0].split(None, 2) if lines else []
    if len(lines) != 1 or len(parts) < 2 or not parts[0].startswith(KEY_TYPE_PREFIXES):
        raise PublicKeyError("%s must be one OpenSSH public key line like 'ssh-ed25519 AAAA... comment' (what was "
                             "given is not an OpenSSH public key)" % option,
                             option=option, file=file)
    try:
        base64.b64decode(parts[1].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise PublicKeyError("%s: the key data after %s is not valid base64" % (option, parts[0]), option=option,
                             file=file)
    return PublicKey(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
