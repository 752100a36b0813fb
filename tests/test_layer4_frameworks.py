"""The ``layer4=`` option through the aiohttp, Sanic and Tornado adapters, which look a Layer-4 client up by the
connection's peer and local addresses (as tests/test_layer4_adapters.py does for ASGI, WSGI and Flask): a TOA
registered for one connection is believed from a balancer in ``layer4_proxies``, and its headers are not read."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from tornado import httputil

from realip import Reason
from realip.aiohttp import REALIP, REALIP_LAYER4, realip_middleware
from realip.sanic import RealIP
from realip.tornado import RealIPHTTPServer
from realip_toa import TOA
from realip_toa._table import conn_key
from realip_toa.source import REGISTRY

LB = ("100.64.0.1", 40000)  # the load balancer after full NAT: the socket peer
SERVER = ("100.64.9.9", 8000)
CLIENT = ("198.51.100.7", 51234)  # carried in the TCP option
OPTIONS: dict[str, Any] = {"layer4_proxies": ["cgnat"], "layer4": "toa:saved-syn"}
FORGED = [("X-Forwarded-For", "192.0.2.66")]


@pytest.fixture(autouse=True)
def registered_connection() -> Iterator[None]:
    key = conn_key(LB, SERVER)
    assert key is not None
    REGISTRY.put(key, TOA(254, *CLIENT))
    yield
    REGISTRY.forget(key)


def check(result: Any, details: Any) -> None:
    assert (result.client_ip, result.client_port, result.source, result.reason) == (
        CLIENT[0],
        CLIENT[1],
        "toa",
        Reason.LAYER4,
    )
    assert result.peer == LB[0]
    assert details == CLIENT


def test_aiohttp() -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {"peername": LB, "sockname": SERVER}.get(name)
    request = make_mocked_request("GET", "/", headers=FORGED, transport=transport)

    async def handler(received: web.Request) -> web.StreamResponse:
        return web.Response()

    asyncio.run(realip_middleware(**OPTIONS)(request, handler))
    check(request[REALIP], request[REALIP_LAYER4])
    assert request.remote == CLIENT[0]


def test_sanic() -> None:
    from sanic import Request, Sanic
    from sanic.compat import Header

    class Conn:
        peername = LB
        sockname = SERVER

    app: Sanic[Any, Any] = Sanic("realip_layer4_test")
    extension = RealIP(app, **OPTIONS)
    request = Request(b"/", Header(FORGED), "1.1", "GET", None, app)  # type: ignore[arg-type]
    request.conn_info = Conn()  # type: ignore[assignment]
    extension.on_request(request)
    check(request.ctx.realip, request.ctx.realip_layer4)
    assert request.client_ip == CLIENT[0]


def test_tornado() -> None:
    class Context:
        address = LB
        address_family = socket.AF_INET
        remote_ip = LB[0]
        protocol = "http"

    class Connection(httputil.HTTPConnection):
        context = Context()
        stream = mock.Mock()

    Connection.stream.socket.getsockname.return_value = SERVER
    connection = Connection()
    headers = httputil.HTTPHeaders({"Host": "app.test", **dict(FORGED)})
    server = RealIPHTTPServer(mock.Mock(), **OPTIONS)
    server.start_request(None, connection).headers_received(httputil.RequestStartLine("GET", "/", "HTTP/1.1"), headers)
    context: Any = connection.context
    check(context.realip, context.realip_layer4)
    assert context.remote_ip == CLIENT[0]
