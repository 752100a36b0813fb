"""The one exception realip raises: a bad configuration entry, found at start-up."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration entry realip cannot use; the message names the entry and the accepted forms.

    Raised only while building a :class:`~realip.Resolver` (at start-up), never while resolving a request.
    """
