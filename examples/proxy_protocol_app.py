"""The app behind the PROXY protocol examples: who the client is, and what the load balancer's header said.

Both apps (ASGI for uvicorn, WSGI for gunicorn) are wrapped in realip's middleware with ``layer4="proxy-protocol"``:
the header's source address takes the peer's place exactly as a TOA address does, and realip believes it only from
the load balancers named by ``REALIP_LAYER4_PROXIES`` (the server hooks read the same variable). ``GET /health``
answers ``ok`` (for the balancer's health checks, which arrive as PROXY ``LOCAL`` headers); every other path answers
JSON with the resolved client, the socket peer, the header (with its decoded TLVs, e.g. the AWS VPC endpoint id for an
allow-list) and which parser read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from realip import Resolver, Result
from realip.asgi import RealIPMiddleware as ASGIMiddleware
from realip.wsgi import RealIPMiddleware as WSGIMiddleware
from realip_toa import proxy_protocol
from realip_toa.proxy_protocol import ProxyHeader

resolver = Resolver.from_env()


def answer(result: Result, header: ProxyHeader | None) -> bytes:
    """The JSON body: the resolved client and the Layer-4 header behind it."""
    return json.dumps(
        {
            "client_ip": result.client_ip,
            "client_port": result.client_port,
            "source": result.source,
            "peer": result.peer,
            "layer4": header.as_dict() if header is not None else None,
            "parser": proxy_protocol.IMPLEMENTATION,
        }
    ).encode()


async def _asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        body = b"ok"
    else:
        body = answer(scope["state"]["realip"], scope["state"].get("realip_layer4"))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/health":
        body = b"ok"
    else:
        body = answer(environ["realip.result"], environ.get("realip.layer4"))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


#: ASGI: ``uvicorn --http realip_toa.uvicorn_hooks:ProxyProtocolH11 examples.proxy_protocol_app:asgi``
asgi = ASGIMiddleware(_asgi, resolver=resolver, layer4="proxy-protocol")
#: WSGI: ``gunicorn --worker-class realip_toa.gunicorn_workers.ProxyProtocolSyncWorker
#: examples.proxy_protocol_app:wsgi``
wsgi = WSGIMiddleware(_wsgi, resolver=resolver, layer4="proxy-protocol")
