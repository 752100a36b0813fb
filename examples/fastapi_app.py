"""realip in a FastAPI app: ``request.client`` is the real client, ``request.state.realip`` the full Result.

Run from the repository root:

    uvicorn examples.fastapi_app:app --no-proxy-headers

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
``--no-proxy-headers`` stops uvicorn from rewriting the client itself before realip sees the real peer.
Configuration comes from ``REALIP_*`` variables (a Kubernetes ConfigMap), e.g.
``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS`` below applies where they are unset.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request

from realip import Resolver, Result
from realip.asgi import RealIPMiddleware

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}

app = FastAPI()
app.add_middleware(RealIPMiddleware, resolver=Resolver.from_env({**DEFAULTS, **os.environ}))


@app.get("/")
def whoami(request: Request) -> dict[str, str | None]:
    result: Result = request.state.realip
    host = request.client.host if request.client else None
    return {"client": host, "scheme": request.url.scheme, "source": result.source, "peer": result.peer}
