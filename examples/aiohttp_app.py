"""realip in an aiohttp app: ``request.remote`` (and aiohttp's access log) is the real client, ``request[REALIP]`` the
full Result.

Run from the repository root:

$ python -m aiohttp.web -H 127.0.0.1 -P 8000 examples.aiohttp_app:init

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
Configuration comes from ``REALIP_*`` variables (a Kubernetes ConfigMap), e.g.
``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS`` below applies where they are unset.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

from realip import Resolver
from realip.aiohttp import REALIP, realip_middleware

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


async def whoami(request: web.Request) -> web.Response:
    result = request[REALIP]
    return web.json_response(
        {"client": request.remote, "scheme": request.scheme, "source": result.source, "peer": result.peer}
    )


def init(argv: list[str] | None = None) -> web.Application:
    """The app factory ``python -m aiohttp.web`` calls."""
    logging.basicConfig(level=logging.INFO)  # aiohttp's access log, showing the client
    resolver = Resolver.from_env({**DEFAULTS, **os.environ})
    app = web.Application(middlewares=[realip_middleware(resolver=resolver)])
    app.router.add_get("/", whoami)
    return app
