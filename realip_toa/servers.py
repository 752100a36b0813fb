"""Server-neutral helpers: a listening socket ready for saved-SYN mode, and forgetting a closed connection."""

from __future__ import annotations

import socket
from typing import Any

from . import savedsyn
from ._table import conn_key
from .source import REGISTRY

__all__ = ["forget_connection", "listen"]


def listen(host: str, port: int, *, save_syn: bool = False, backlog: int = 2048) -> socket.socket:
    """A bound, listening TCP socket (IPv6 if ``host`` has a colon), with ``TCP_SAVE_SYN`` when ``save_syn``.

    Pass it to the server (uvicorn ``Server.run(sockets=[sock])`` or ``--fd``, gunicorn ``--bind fd://N``): the SYN
    of every connection is saved from the first one on.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if save_syn:
            savedsyn.enable(sock)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def forget_connection(sock: Any) -> None:
    """Drop what the registry remembers for a closing connection (its 4-tuple may be reused)."""
    try:
        key = conn_key(sock.getpeername(), sock.getsockname())
    except OSError:
        return
    if key is not None:
        REGISTRY.forget(key)
