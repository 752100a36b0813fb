"""Litestar plugin: ``request.client`` is the real client, ``request.state.realip`` the Result.

::

    from litestar import Litestar
    from realip.litestar import RealIPPlugin

    app = Litestar(route_handlers=[...], plugins=[RealIPPlugin(trusted_proxies=["10.0.0.0/8", "cgnat"])])

Threat model and behaviour are those of :mod:`realip.asgi`, whose middleware the plugin installs: only the socket
peer and the configured trust decide how far a forwarding header is believed, and nothing in a request can make it
raise. Litestar has no proxy handling of its own to replace.

The plugin puts :class:`realip.asgi.RealIPMiddleware` first in the app's middleware, so every route handler, guard,
dependency and websocket listener sees the client in ``request.client`` (``socket.client``), the scheme in
``request.url.scheme`` when ``proto_header`` is set, and the :class:`~realip.Result` in ``request.state.realip``.
The scope is changed in place, so uvicorn's access log shows the client too. The configuration is checked when the
plugin is built, at start-up.

Litestar runs app middleware once a route has matched: a request for an unknown path (a 404) reaches Litestar's
exception handlers with the socket peer. To resolve those too, wrap the whole app instead:
``app = RealIPMiddleware(Litestar(...), trusted_proxies=[...])``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.middleware import DefineMiddleware

from ._adapter import adapter_setup
from .asgi import RealIPMiddleware
from .resolver import Resolver

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

__all__ = ["RealIPPlugin"]


class RealIPPlugin:
    """A Litestar init plugin installing :class:`realip.asgi.RealIPMiddleware` first.

    ``RealIPPlugin(trusted_proxies=[...])`` builds a :class:`~realip.Resolver` from the keyword options;
    ``resolver=`` uses one you built; with neither, ``Resolver.from_env()`` reads the ``REALIP_*`` variables.
    Passing both is a ``TypeError``; a bad option raises :class:`~realip.ConfigError` here.
    """

    __slots__ = ("_layer4", "resolver")

    def __init__(self, *, resolver: Resolver | None = None, layer4: Any = None, **resolver_options: Any) -> None:
        self.resolver, self._layer4 = adapter_setup("RealIPPlugin", resolver, layer4, resolver_options)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Put the middleware first (outermost) among the app's middleware."""
        # realip.asgi types the scope as any mutable mapping; Litestar wants its own TypedDicts.
        middleware = DefineMiddleware(RealIPMiddleware, resolver=self.resolver, layer4=self._layer4)  # type: ignore[arg-type]
        app_config.middleware.insert(0, middleware)
        return app_config
