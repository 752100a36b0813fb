"""The one exception realip raises: a bad configuration entry, found at start-up."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration entry realip cannot use; the message names the entry and the accepted forms.

    Raised only while building a :class:`~realip.Resolver` or an adapter (at start-up), never while resolving a
    request. ``option`` names the :class:`~realip.Resolver` keyword it is about (``"max_hops"``, ...), or is ``None``,
    so an adapter can say which of its own settings to fix without reading the message.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        #: The keyword option the error is about, or None.
        self.option = option
