"""Flask extension: ``request.client_ip`` and a truthful ``request.remote_addr`` behind proxies.

::

    app = Flask(__name__)
    RealIP(app, trusted_proxies=["10.0.0.0/8", "cgnat"])   # or RealIP() ... realip.init_app(app)

    @app.get("/")
    def index():
        return request.client_ip

Configuration, first match wins: keyword options to :class:`RealIP` (the :class:`~realip.Resolver` keywords);
then the app's ``REALIP_*`` config keys (``REALIP_TRUSTED_PROXIES``, ``REALIP_HEADER``, ... as in
:mod:`realip.options`); then the environment variables of the same names; then the defaults. The ``layer4`` option
(``REALIP_LAYER4``: ``"proxy-protocol"``, ``"toa:capture"``, ...; see :mod:`realip.layer4`) reads the client a
Layer-4 load balancer carries. A string config value is read exactly as the environment variable would be
(``"10.0.0.0/8, cgnat"``); ``None`` or ``""`` leaves the option to the environment. A bad value raises
:class:`~realip.ConfigError` in ``init_app``, naming it.

``init_app`` wraps ``app.wsgi_app`` in :class:`realip.wsgi.RealIPMiddleware` (so ``request.remote_addr`` and the
server's access log show the client; see that module on header-name folding) and stores it, with its ``.resolver``,
in ``app.extensions["realip"]``. It gives requests two properties through :class:`RealIPRequestMixin`:
``request.client_ip`` and ``request.realip`` (the full :class:`~realip.Result`), and with ``layer4``,
``request.realip_layer4`` (what the balancer carried: the PROXY header with its TLVs, or the TOA
address). The app's ``request_class`` is
replaced by a subclass with the mixin, whether it is Flask's default or your own; if you set ``request_class``
after ``init_app``, put :class:`RealIPRequestMixin` first among its bases yourself.

Do not use werkzeug's ``request.access_route``: it is the raw X-Forwarded-For list, which the client writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from flask import Flask, Request, current_app

from .env import ENV_VARIABLES, name_setting, resolver_options_from_env
from .errors import ConfigError
from .layer4 import layer4_source
from .resolver import Resolver, Result
from .wsgi import LAYER4_KEY, RESULT_KEY, RealIPMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "EXTENSION_KEY",
    "RealIP",
    "RealIPOptions",
    "RealIPRequest",
    "RealIPRequestMixin",
    "extension_options",
    "resolver_for_app",
]

#: The key of this extension's state in ``app.extensions``.
EXTENSION_KEY = "realip"


class RealIPOptions(TypedDict, total=False):
    """The keyword options of :class:`RealIP`: those of :class:`~realip.Resolver`."""

    trusted_proxies: Iterable[str]
    header: str | tuple[str, ...]
    trusted_hops: int | None
    max_hops: int
    proto_header: str | None
    layer4_proxies: Iterable[str] | None
    host_header: str | None
    port_header: str | None
    prefix_header: str | None
    allowed_hosts: Iterable[str] | None
    strip_untrusted: bool
    chain: str | Sequence[str] | None
    layer4: Any


_OPTIONS = frozenset(RealIPOptions.__annotations__)
LAYER4_CONFIG_KEY = "REALIP_LAYER4"
_SEQUENCES = (list, tuple, set, frozenset)


def _config_options(config: Mapping[str, Any]) -> dict[str, object]:
    """The Resolver options the app's ``REALIP_*`` config keys set."""
    options: dict[str, object] = {}
    for key, option in ENV_VARIABLES.items():
        value = config.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            options.update(resolver_options_from_env({key: value}))  # its errors name the key
        elif option in ("trusted_proxies", "layer4_proxies", "allowed_hosts") and not isinstance(value, _SEQUENCES):
            raise ConfigError(
                f"{key}={value!r} (Flask config) must be a list of entries or a comma-separated string, "
                "e.g. ['10.0.0.0/8', 'cgnat']"
            )
        else:
            options[option] = value
    return options


def resolver_for_app(config: Mapping[str, Any], options: Mapping[str, Any]) -> Resolver:
    """The Resolver for an app: ``options`` over the ``REALIP_*`` config keys over the environment."""
    from_config = _config_options(config)
    try:
        return Resolver.from_env(**{**from_config, **options})
    except ConfigError as error:
        written = {
            option: f"{key}={config[key]!r}"
            for key, option in ENV_VARIABLES.items()
            if option in from_config and option not in options
        }
        raise name_setting(error, written, " (Flask config)") from None


class RealIPRequestMixin:
    """Adds ``client_ip`` and ``realip`` to a Flask request class; put it first among the bases."""

    environ: WSGIEnvironment

    @property
    def realip(self) -> Result:
        """The :class:`~realip.Result` for this request: the client, the peer, the proxies passed and why."""
        result = self.environ.get(RESULT_KEY)
        if not isinstance(result, Result):
            # A request that did not pass through app.wsgi_app (app.test_request_context()): resolve it now.
            middleware = current_app.extensions.get(EXTENSION_KEY)
            if not isinstance(middleware, RealIPMiddleware):
                raise RuntimeError(f"realip: RealIP was not initialised on the app {current_app.name!r}")
            result = self.environ[RESULT_KEY] = middleware.resolve(self.environ)
        return result

    @property
    def realip_layer4(self) -> Any:
        """What a Layer-4 load balancer carried for this connection (with ``layer4``), or ``None``."""
        self.realip  # noqa: B018  (resolves the request first, when nothing did yet)
        return self.environ.get(LAYER4_KEY)

    @property
    def client_ip(self) -> str | None:
        """The resolved client address (``None`` only for a UNIX-socket peer that is itself the client)."""
        return self.realip.client_ip


class RealIPRequest(RealIPRequestMixin, Request):
    """Flask's default request class with :class:`RealIPRequestMixin`."""


_SUBCLASSES: dict[type[Request], type[Request]] = {Request: RealIPRequest}


def _with_mixin(request_class: type[Request]) -> type[Request]:
    """``request_class`` with the mixin first among its bases (one subclass per class, shared by apps)."""
    subclass = _SUBCLASSES.get(request_class)
    if subclass is None:
        namespace = {"__module__": request_class.__module__, "__qualname__": request_class.__qualname__}
        bases = (RealIPRequestMixin, request_class)
        subclass = _SUBCLASSES[request_class] = type(request_class.__name__, bases, namespace)
    return subclass


def extension_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The extension's keyword options, checked: an unknown name is a TypeError listing the known ones (Flask's and
    Quart's ``RealIP`` take the same)."""
    unknown = set(options) - _OPTIONS
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise TypeError(f"RealIP: unknown option(s) {', '.join(sorted(unknown))}; the options are {known}")
    return dict(options)


class RealIP:
    """The Flask extension: ``RealIP(app, **options)``, or ``RealIP(**options)`` then ``init_app(app)``.

    The extension object holds only the keyword options, so one instance can serve several apps (the factory
    pattern); each app's state lives in ``app.extensions["realip"]``.
    """

    def __init__(self, app: Flask | None = None, **options: Unpack[RealIPOptions]) -> None:
        self.options: dict[str, Any] = extension_options(options)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the app's Resolver (raising :class:`~realip.ConfigError` now), wrap ``wsgi_app``, add the mixin."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"realip: RealIP is already initialised on the app {app.name!r}")
        options = {key: value for key, value in self.options.items() if key != "layer4"}
        resolver = resolver_for_app(app.config, options)
        if "layer4" in self.options:
            layer4, where = self.options["layer4"], "layer4"
        else:
            layer4, where = app.config.get(LAYER4_CONFIG_KEY) or None, f"{LAYER4_CONFIG_KEY} (Flask config)"
        source = layer4_source(layer4, resolver, from_env="layer4" not in self.options, setting=where)
        middleware = RealIPMiddleware(app.wsgi_app, resolver=resolver, layer4=source)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = middleware
        if not issubclass(app.request_class, RealIPRequestMixin):
            app.request_class = _with_mixin(app.request_class)
