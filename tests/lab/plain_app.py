"""The throughput baseline: examples/starlette_app.py's answer without realip (the client is the socket peer)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def whoami(request: Request) -> JSONResponse:
    host = request.client.host if request.client else None
    url = str(request.url_for("whoami"))
    return JSONResponse({"client": host, "scheme": request.url.scheme, "source": "peer", "peer": host, "url": url})


app = Starlette(routes=[Route("/", whoami)])
