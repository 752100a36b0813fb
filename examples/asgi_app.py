"""realip in a plain ASGI app, no framework: the resolved client is in ``scope["client"]``.

Run from the repository root:

    uvicorn examples.asgi_app:app --no-proxy-headers

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
``--no-proxy-headers`` stops uvicorn from rewriting the client itself before realip sees the real peer.
Configuration comes from ``REALIP_*`` variables (a Kubernetes ConfigMap), e.g.
``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS`` below applies where they are unset.
"""

from __future__ import annotations

import json
import os

from realip import Resolver
from realip.asgi import RealIPMiddleware, Receive, Scope, Send

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}

resolver = Resolver.from_env({**DEFAULTS, **os.environ})  # a bad value fails here, naming the variable


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the client the middleware resolved; ``scope["state"]["realip"]`` holds the full Result."""
    if scope["type"] != "http":
        return  # this example serves plain HTTP only; lifespan events need no answer
    result = scope["state"]["realip"]
    host = scope["client"][0] if scope.get("client") else None
    body = json.dumps({"client": host, "scheme": scope["scheme"], "source": result.source, "peer": result.peer})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body.encode()})


app = RealIPMiddleware(whoami, resolver=resolver)
