"""The who-am-I probe the Kubernetes examples deploy (``realip serve``), as an app object for uvicorn ``--fd``.

``realip serve`` binds by host name, and uvicorn's ``--host ::`` is IPv6-only; the lab serves the same app on its
dual-stack socket (see :mod:`tests.lab.dualstack`), configured from ``REALIP_*`` exactly as the manifests do.

One addition for the lab, outside the probe: every forwarding header that reached the app, as the proxies sent it
(before realip rewrote any), comes back in an ``X-Lab-Received`` response header (JSON pairs, in arrival order). The
probe itself echoes only the headers realip reads; this shows X-Forwarded-Host, -Port, -Prefix and Host too.
"""

from __future__ import annotations

import json
from typing import Any

from realip import Resolver
from realip.asgi import ASGIApp, Message, Receive, Scope, Send
from realip.serve import create_app

#: The headers echoed: Host, and every forwarding header the lab's proxies write or pass.
RECEIVED = frozenset((b"host", b"forwarded", b"x-real-ip", b"x-original-forwarded-for", b"x-client-proto"))


def received(name: bytes) -> bool:
    return name in RECEIVED or name.startswith(b"x-forwarded-")


class EchoReceived:
    """Adds ``X-Lab-Received`` to the response: the forwarding headers of the request as it arrived."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pairs = [[bytes(n).decode("latin-1"), bytes(v).decode("latin-1")] for n, v in scope["headers"]]
        echo = json.dumps([pair for pair in pairs if received(pair[0].lower().encode("latin-1"))]).encode("ascii")

        async def send_echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"x-lab-received", echo)]}
            await send(message)

        await self.app(scope, receive, send_echo)


app: Any = EchoReceived(create_app(Resolver.from_env()))
