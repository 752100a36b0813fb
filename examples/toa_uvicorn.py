"""Uvicorn behind a Layer-4 full-NAT load balancer that carries the client in a TCP option (TOA).

    REALIP_LAYER4_PROXIES=198.51.100.1 REALIP_LAYER4=toa:capture \\
        python examples/toa_uvicorn.py --host 0.0.0.0 --port 8000

``REALIP_LAYER4`` picks the mode: ``toa:capture`` (handshake-ACK or first-data options; needs CAP_NET_RAW),
``toa:saved-syn`` (options on the SYN; no privilege; the listening socket is made here with TCP_SAVE_SYN and handed
to uvicorn), or ``toa:kernel`` (a loaded toa.ko); ``REALIP_LAYER4_PROXIES`` names the load balancers whose option is
believed. The app is wrapped in realip's ASGI middleware with ``layer4=source``, the one option every adapter takes;
each request answers with the client it resolved, as JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn

from realip import Resolver, Result
from realip.asgi import RealIPMiddleware
from realip_toa import TOASource
from realip_toa.servers import listen
from realip_toa.uvicorn_hooks import toa_protocol

resolver = Resolver.from_env()
source = TOASource.from_env() or TOASource("saved-syn")


async def whoami(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every HTTP request with the client the middleware resolved (and, for show, the raw option)."""
    if scope["type"] != "http":
        return
    result: Result = scope["state"]["realip"]
    toa = scope["state"].get("realip_layer4")  # the option as read, believed or not
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
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    """Bind the listening sockets for the TOA mode, start the capture if any, and run uvicorn on them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", action="append", help="address to listen on (repeatable; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    global source
    if source.capture is not None and not source.capture.ports:
        source = TOASource("capture", kinds=source.kinds, ports=[args.port], interface=source.capture.interface)
    sockets = [listen(host, args.port, save_syn=source.mode == "saved-syn") for host in args.host or ["127.0.0.1"]]
    app = RealIPMiddleware(whoami, resolver=resolver, layer4=source)  # starts the source (the capture, if any)
    http: Any = toa_protocol(source) if source.mode in ("saved-syn", "kernel") else "h11"
    config = uvicorn.Config(app, http=http, lifespan="off", log_level="info")
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
