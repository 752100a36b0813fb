"""realip in a Starlette app: ``request.client`` is the real client, ``request.state.realip`` the full Result.

Run from the repository root:

    uvicorn examples.starlette_app:app --no-proxy-headers

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
``--no-proxy-headers`` stops uvicorn from rewriting the client itself before realip sees the real peer.
Configuration comes from ``REALIP_*`` variables (a Kubernetes ConfigMap), e.g.
``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS`` below applies where they are unset. ``url`` is the
address the app builds for itself (``request.url_for``): with ``REALIP_HOST_HEADER``, ``REALIP_PREFIX_HEADER`` and
``REALIP_PROTO_HEADER`` set, the one the client used, e.g. ``https://shop.example.com/shop/`` behind a proxy that
serves the app under ``/shop``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from realip import Resolver, Result
from realip.asgi import RealIPMiddleware

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


async def whoami(request: Request) -> JSONResponse:
    result: Result = request.state.realip
    host = request.client.host if request.client else None
    return JSONResponse(
        {
            "client": host,
            "scheme": request.url.scheme,
            "source": result.source,
            "peer": result.peer,
            "url": str(request.url_for("whoami")),
        }
    )


app = Starlette(routes=[Route("/", whoami)])
app.add_middleware(RealIPMiddleware, resolver=Resolver.from_env({**DEFAULTS, **os.environ}))
