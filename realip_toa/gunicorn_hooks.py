"""Gunicorn server hooks for realip_toa, configured by ``REALIP_LAYER4=toa:MODE`` (see ``TOASource.from_env``).

In a gunicorn config file::

    from realip_toa.gunicorn_hooks import post_worker_init, when_ready  # noqa: F401

``when_ready`` (master, after binding) turns on ``TCP_SAVE_SYN`` on every listener in saved-syn mode and checks a
capture can start (so a missing ``CAP_NET_RAW`` fails at start-up, not per request) and, unless
``REALIP_TOA_PORTS`` is set, narrows it to the bound ports; ``post_worker_init`` starts the capture of every
TOASource made in the worker. WSGI lookups read ``environ["gunicorn.socket"]``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from . import savedsyn
from .source import TOASource, started_sources

__all__ = ["post_worker_init", "when_ready"]


def when_ready(server: Any) -> None:
    """Prepare the listeners for the configured mode (saved-syn: ``TCP_SAVE_SYN``); check a capture can start."""
    source = TOASource.from_env()
    if source is None:
        return
    if source.mode == "saved-syn":
        for listener in getattr(server, "LISTENERS", []):
            savedsyn.enable(listener.sock)
    elif source.mode == "capture":
        source.start()  # raises TOAConfigError naming CAP_NET_RAW if the capability is missing
        source.stop()
        if not os.environ.get("REALIP_TOA_PORTS"):
            # Workers (forked later, app imported there) capture only the served ports.
            ports = sorted(
                {
                    listener.sock.getsockname()[1]
                    for listener in getattr(server, "LISTENERS", [])
                    if listener.sock.family in (socket.AF_INET, socket.AF_INET6)
                }
            )
            os.environ["REALIP_TOA_PORTS"] = ",".join(map(str, ports))
    server.log.info("realip_toa: %s mode ready in the master", source.mode)


def post_worker_init(worker: Any) -> None:
    """Start the TOA sources the worker's app made (captures do not survive the fork), and log each one."""
    for source in started_sources():
        worker.log.info("realip_toa: worker %s: %s", os.getpid(), source.status())
