"""The one ``toa=`` option every adapter takes: where a Layer-4 load balancer's TCP-option client comes from.

``toa`` is a :class:`realip_toa.TOASource`, a mode name (``"capture"``, ``"saved-syn"``, ``"kernel"``) or ``None``
(off). An adapter configured entirely from the environment also reads ``REALIP_TOA`` (and ``REALIP_TOA_KINDS``,
``REALIP_TOA_PORTS``, ``REALIP_TOA_INTERFACE``). ``realip_toa`` is imported only when TOA is asked for, so the core
stays free of it. The address a source finds is handed to :meth:`~realip.Resolver.resolve` and believed only when
the socket peer (the load balancer) is a trusted proxy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realip_toa import TOASource

__all__ = ["toa_source"]


def toa_source(value: Any, *, from_env: bool, environ: Mapping[str, str] | None = None) -> TOASource | None:
    """The started TOA source for an adapter: ``value`` if given, else ``REALIP_TOA`` when ``from_env``.

    Raises :class:`realip.ConfigError` (at start-up) for a bad mode or a capture without ``CAP_NET_RAW``.
    """
    env = os.environ if environ is None else environ
    if value is None and not (from_env and env.get("REALIP_TOA", "").strip()):
        return None
    from realip_toa import TOASource

    source = TOASource.coerce(value) if value is not None else TOASource.from_env(env)
    if source is not None:
        source.start()
    return source
