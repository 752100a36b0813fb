"""Gunicorn workers that read the PROXY protocol header, under realip_toa's listener policy, before gunicorn does.

gunicorn's own ``--proxy-protocol`` takes a header "if present" and checks ``proxy_allow_ips`` only when one
arrives; these workers require it from trusted peers, refuse it from others and bound its arrival by a timeout
(see :mod:`realip_toa.proxy_listener`). Leave gunicorn's own option off. ``REALIP_LAYER4_PROXIES`` names the load
balancers (the same variable realip's adapters read) and the ``REALIP_PROXY_PROTOCOL_*`` variables tune the rest::

    gunicorn --worker-class realip_toa.gunicorn_workers.ProxyProtocolSyncWorker app:app
    gunicorn --worker-class realip_toa.gunicorn_workers.ProxyProtocolThreadWorker --threads 8 app:app

The header is read with ``MSG_PEEK`` and exactly its bytes are consumed, so gunicorn's parser (and TLS, if gunicorn
terminates it) starts on the request as if there had been no header. The sync worker reads it in its one thread: a
silent trusted peer holds that worker for up to the timeout, as any slow client does a sync worker. The gthread
worker reads it in the pool thread that serves the connection.
"""

from __future__ import annotations

import functools
from typing import Any

from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]
from gunicorn.workers.sync import SyncWorker  # type: ignore[import-untyped]

from ._table import conn_key
from .proxy_listener import Pass, ProxyProtocolSource, Refuse, read_header

__all__ = ["ProxyProtocolSyncWorker", "ProxyProtocolThreadWorker", "source"]


@functools.cache
def source() -> ProxyProtocolSource:
    """The workers' source, from the environment (once per process; a bad variable fails the worker's boot)."""
    made = ProxyProtocolSource.from_env()
    made.start()
    return made


def _examine(worker: Any, sock: Any, addr: Any) -> Any:
    """Read the header of an accepted socket; the connection's table key, or ``None`` after refusing it."""
    chosen = source()
    peer = addr[0] if isinstance(addr, tuple) and addr else None
    try:
        verdict: Pass | Refuse = read_header(sock, peer, chosen.policy)
        key = conn_key(addr, sock.getsockname()) if isinstance(verdict, Pass) else None
    except Exception:  # never raise out of the hook: refuse
        verdict, key = Refuse("connection could not be examined", "error"), None
    if isinstance(verdict, Pass) and not chosen.record(key, verdict.header):
        verdict = Refuse("too many connections to record", "full")
    if isinstance(verdict, Refuse):
        chosen.policy.count(verdict.counter)
        log = worker.log.warning if peer is not None and chosen.policy.is_trusted(peer) else worker.log.debug
        log("realip_toa: closed a connection from %s: %s", peer or "a UNIX socket peer", verdict.reason)
        try:
            sock.close()
        except OSError:
            pass
        return None
    chosen.policy.count("header" if verdict.header is not None else "plain")
    return key if key is not None else False


class ProxyProtocolSyncWorker(SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker, with the PROXY protocol read first."""

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        key = _examine(self, client, addr)
        if key is None:
            return
        try:
            super().handle(listener, client, addr)
        finally:
            source().forget(key or None)


class ProxyProtocolThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, with the PROXY protocol read first (in the pool thread, once per connection)."""

    def handle(self, conn: Any) -> Any:
        if not getattr(conn, "_realip_examined", False):
            key = _examine(self, conn.sock, conn.client)
            if key is None:
                return False  # finish_request closes the connection
            conn._realip_examined = True
            if key:
                # gthread closes connections in several places (finished, keep-alive expired, pending expired):
                # the entry goes with whichever close comes.
                close = conn.close

                def close_and_forget() -> None:
                    source().forget(key)
                    close()

                conn.close = close_and_forget
        return super().handle(conn)
