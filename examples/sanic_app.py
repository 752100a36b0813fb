"""realip in a Sanic app: ``request.client_ip`` (and Sanic's access log) is the real client, ``request.ctx.realip``
the full Result.

Run from the repository root:

$ sanic examples.sanic_app:app --host 127.0.0.1 --port 8000 --single-process --access-logs

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
Leave Sanic's own ``PROXIES_COUNT``, ``FORWARDED_SECRET`` and ``REAL_IP_HEADER`` unset: realip replaces them (the
server refuses to start otherwise). Configuration comes from ``REALIP_*`` variables, e.g.
``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS`` below applies where they are unset.
"""

from __future__ import annotations

import os

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from realip import Resolver
from realip.sanic import RealIP

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}

app = Sanic("realip_example")
RealIP(app, resolver=Resolver.from_env({**DEFAULTS, **os.environ}))


@app.get("/")
async def whoami(request: Request) -> HTTPResponse:
    result = request.ctx.realip
    return json({"client": request.client_ip, "scheme": request.scheme, "source": result.source, "peer": result.peer})
