"""Quart extension: ``request.remote_addr`` is the real client, ``request.realip`` the Result (websockets too).

::

    app = Quart(__name__)
    RealIP(app, trusted_proxies=["10.0.0.0/8", "cgnat"])   # or RealIP() ... realip.init_app(app)

    @app.get("/")
    async def index():
        return request.client_ip

Quart is Flask's API on ASGI, and this extension is :mod:`realip.flask`'s twin: the same configuration, first match
wins (keyword options; the app's ``REALIP_*`` config keys; the ``REALIP_*`` environment variables; the defaults), a
bad value raising :class:`~realip.ConfigError` in ``init_app``, naming it. ``init_app`` wraps ``app.asgi_app`` in
:class:`realip.asgi.RealIPMiddleware` (Quart's documented place for ASGI middleware, outside Quart's own request
handling), so ``request.remote_addr``, ``websocket.remote_addr`` and the server's access log (hypercorn's, uvicorn's)
show the client, and ``request.scheme`` follows the trusted hop when ``proto_header`` is set. It gives the request and
websocket classes ``client_ip``, ``realip`` (the :class:`~realip.Result`) and ``realip_layer4``, and keeps the
middleware, with its ``.resolver``, in ``app.extensions["realip"]``.

Do not use ``request.access_route``: it is the raw X-Forwarded-For list, which the client writes.
"""

from __future__ import annotations

from typing import Any, Unpack

from quart import Quart

from .asgi import RealIPMiddleware
from .errors import ConfigError
from .flask import LAYER4_CONFIG_KEY, RealIPOptions, extension_options, resolver_for_app
from .layer4 import STATE_KEY, layer4_source
from .resolver import Result

__all__ = ["EXTENSION_KEY", "RealIP", "RealIPRequestMixin"]

#: The key of this extension's state in ``app.extensions``.
EXTENSION_KEY = "realip"


class RealIPRequestMixin:
    """Adds ``client_ip``, ``realip`` and ``realip_layer4`` to Quart's request and websocket classes."""

    scope: Any

    @property
    def realip(self) -> Result | None:
        """The :class:`~realip.Result` of this request (``None`` if it did not pass through ``app.asgi_app``)."""
        state = self.scope.get("state")
        found = state.get("realip") if isinstance(state, dict) else None
        return found if isinstance(found, Result) else None

    @property
    def realip_layer4(self) -> Any:
        """What a Layer-4 load balancer carried for this connection (with ``layer4``), or ``None``."""
        state = self.scope.get("state")
        return state.get(STATE_KEY) if isinstance(state, dict) else None

    @property
    def client_ip(self) -> str | None:
        """The resolved client address (``None`` only for a UNIX-socket peer that is itself the client)."""
        found = self.realip
        return None if found is None else found.client_ip


_SUBCLASSES: dict[type[Any], type[Any]] = {}


def _with_mixin(cls: type[Any]) -> type[Any]:
    if issubclass(cls, RealIPRequestMixin):
        return cls
    subclass = _SUBCLASSES.get(cls)
    if subclass is None:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        subclass = _SUBCLASSES[cls] = type(cls.__name__, (RealIPRequestMixin, cls), namespace)
    return subclass


class RealIP:
    """The Quart extension: ``RealIP(app, **options)``, or ``RealIP(**options)`` then ``init_app(app)``."""

    def __init__(self, app: Quart | None = None, **options: Unpack[RealIPOptions]) -> None:
        self.options: dict[str, Any] = extension_options(options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Build the app's Resolver (raising :class:`~realip.ConfigError` now), wrap ``asgi_app``, add the mixin."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"realip: RealIP is already initialised on the app {app.name!r}")
        options = {key: value for key, value in self.options.items() if key != "layer4"}
        try:
            resolver = resolver_for_app(app.config, options)
        except ConfigError as error:  # the shared reader names the Flask config: here it is Quart's
            raise ConfigError(str(error).replace("(Flask config)", "(Quart config)"), error.option) from None
        if "layer4" in self.options:
            layer4, where = self.options["layer4"], "layer4"
        else:
            layer4, where = app.config.get(LAYER4_CONFIG_KEY) or None, f"{LAYER4_CONFIG_KEY} (Quart config)"
        source = layer4_source(layer4, resolver, from_env="layer4" not in self.options, setting=where)
        middleware = RealIPMiddleware(app.asgi_app, resolver=resolver, layer4=source)  # type: ignore[arg-type]
        app.asgi_app = middleware  # type: ignore[method-assign,assignment]
        app.extensions[EXTENSION_KEY] = middleware
        app.request_class = _with_mixin(app.request_class)
        app.websocket_class = _with_mixin(app.websocket_class)
