# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of a cloud library's version: a family calls it when it starts, and a release outside
the range its tests proved is one clear error saying what to install (libraries change their answers
between releases; a silent mismatch is worse than a refusal). No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.slipway.cloud.plugins.module_utils.model import ProviderError


def parse_version(text):
    """"3.9.1" -> (3, 9, 1); "3.10.0rc1" -> (3, 10, 0); "garbage" -> ()."""
    numbers = []
    for part in str(text).split(".")[:3]:
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group(0)))
    return tuple(numbers)


class LibraryRange:
    """A Python package slipway.cloud supports in ``[low, high)`` (major, minor) releases."""

    def __init__(self, package, low, high, why):
        self.package = package
        self.low, self.high = low, high
        self.text = ">=%s,<%s" % (".".join(map(str, low)), ".".join(map(str, high)))
        self.why = why                   # "(drivers change between releases)"

    def check(self, installed):
        """The parsed version of ``installed``; ProviderError unless it is within the range."""
        version = parse_version(installed)
        if not version or not self.low <= version[:2] < self.high:
            raise ProviderError(
                "%s %s is installed, but slipway.cloud supports %s %s %s; install one with: pip install '%s%s'"
                % (self.package, installed, self.package, self.text, self.why, self.package, self.text),
                installed=str(installed), supported=self.text)
        return version

    def missing(self):
        """The error for a library that is not installed at all."""
        return ProviderError("%s is not installed; slipway.cloud needs %s %s (pip install '%s%s')"
                             % (self.package, self.package, self.text, self.package, self.text),
                             installed=None, supported=self.text)
