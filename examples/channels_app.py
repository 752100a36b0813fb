"""realip in a Django Channels app under Daphne: a websocket consumer's ``scope["client"]`` is the real client,
``scope["state"]["realip"]`` the full Result.

Run from the repository root:

$ daphne -b 127.0.0.1 -p 8000 examples.channels_app:application

then a websocket to ``ws://127.0.0.1:8000/ws/`` with ``X-Forwarded-For: 198.51.100.7`` receives
``{"client": "198.51.100.7", ...}`` (plain HTTP on ``/`` answers the same). Run Daphne without ``--proxy-headers``:
it would take the leftmost X-Forwarded-For entry, which the client writes, for the peer. Configuration comes from
``REALIP_*`` variables, e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS`` below applies where they
are unset.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    secret = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32)  # no sessions here: any key will do
    settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], USE_TZ=True, SECRET_KEY=secret)
    django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # (imported after the settings)
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from realip import Resolver, Result
from realip.asgi import RealIPMiddleware

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


def describe(scope: dict[str, Any]) -> dict[str, Any]:
    result: Result = scope["state"]["realip"]
    client = scope.get("client")
    return {"client": client[0] if client else None, "scheme": scope.get("scheme"), "source": result.source,
            "peer": result.peer}  # fmt: skip


class WhoAmI(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()
        await self.send_json(describe(self.scope))


async def whoami_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps(describe(scope)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


application = RealIPMiddleware(
    ProtocolTypeRouter({"http": whoami_http, "websocket": URLRouter([path("ws/", WhoAmI.as_asgi())])}),
    resolver=Resolver.from_env({**DEFAULTS, **os.environ}),
)
