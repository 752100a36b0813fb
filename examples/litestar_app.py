"""realip in a Litestar app: ``request.client`` (and uvicorn's access log) is the real client,
``request.state.realip`` the full Result.

Run from the repository root:

$ uvicorn examples.litestar_app:app --host 127.0.0.1 --port 8000 --no-proxy-headers

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
``--no-proxy-headers`` stops uvicorn from rewriting the client itself before realip sees the real peer.
Configuration comes from ``REALIP_*`` variables, e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS``
below applies where they are unset.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, Request, get

from realip import Resolver, Result
from realip.litestar import RealIPPlugin

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


@get("/")
async def whoami(request: Request[Any, Any, Any]) -> dict[str, Any]:
    result: Result = request.state.realip
    client = request.client.host if request.client else None
    return {"client": client, "scheme": request.url.scheme, "source": result.source, "peer": result.peer}


app = Litestar(route_handlers=[whoami], plugins=[RealIPPlugin(resolver=Resolver.from_env({**DEFAULTS, **os.environ}))])
