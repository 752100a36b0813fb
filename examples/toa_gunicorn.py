"""Gunicorn (WSGI) behind a Layer-4 full-NAT load balancer that carries the client in a TCP option (TOA).

    REALIP_LAYER4_PROXIES=198.51.100.1 REALIP_LAYER4=toa:saved-syn \\
        gunicorn -c examples/toa_gunicorn_conf.py --bind 0.0.0.0:8000 examples.toa_gunicorn:app

The config file's hooks turn on TCP_SAVE_SYN on the listeners (saved-syn) or start the capture in each worker
(capture; needs CAP_NET_RAW). The app is wrapped in realip's WSGI middleware with ``layer4=source``, the one option
every adapter takes; each request answers with the client it resolved, as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from realip import Resolver, Result
from realip.wsgi import RealIPMiddleware
from realip_toa import TOASource

resolver = Resolver.from_env()
source = TOASource.from_env() or TOASource("saved-syn")


def whoami(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer every request with the client the middleware resolved (and, for show, the raw option)."""
    result: Result = environ["realip.result"]
    toa = environ.get("realip.layer4")  # the option as read (by gunicorn.socket), believed or not
    body = json.dumps(
        {
            "client_ip": result.client_ip,
            "client_port": result.client_port,
            "source": result.source,
            "peer": result.peer,
            "toa": list(toa) if toa else None,
            "mode": source.mode,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


app = RealIPMiddleware(whoami, resolver=resolver, layer4=source)
