"""WSGI middleware: the real client in ``REMOTE_ADDR`` for Flask, Django, or any WSGI app, under any WSGI server.

Threat model: every request header is attacker input. Only the socket peer (``REMOTE_ADDR`` as the server set it)
and the configured trust decide how far a forwarding header is believed; see :mod:`realip.resolver`. Nothing in a
request can make this middleware raise: on an unexpected failure the headers are ignored and the request goes on.

Header-name folding, the WSGI-only pitfall. WSGI puts a header in the environ as ``HTTP_`` + its name upper-cased
with ``-`` turned into ``_``, so ``X-Forwarded-For`` and a look-alike ``X_Forwarded_For`` land on the same key,
``HTTP_X_FORWARDED_FOR``, and the app cannot tell them apart. Servers differ:

- gunicorn >= 22 drops header names containing ``_`` (``header_map="drop"``, the default; never set
  ``--header-map dangerous``), and so does the werkzeug development server: the look-alike never arrives;
- ``wsgiref.simple_server`` appends the look-alike to the real header with a comma, in arrival order.

What a look-alike can and cannot do where the server folds names:

- It can never change an UNTRUSTED peer's answer: the peer is checked before any header is read, so a client
  connecting directly gets its own address, whatever it sends (the check every defence here rests on).
- Behind a trusted proxy it is just another value that proxy forwarded. If it lands left of the proxy's own entry
  it is ignored, like any forged entry; if it lands right of it (the proxy put its line first), it is read as the
  proxy's word, exactly as if the proxy had passed on a client's ``X-Forwarded-For`` untouched.

So the defence belongs where the two names are still distinct, the server or the proxy: nginx and gunicorn drop
the look-alike by default. For wsgiref, serve with :class:`StrictWSGIRequestHandler`, which drops it the same way;
this middleware logs a warning (once) when it finds itself under wsgiref without it. A middleware-side guess (such
as spotting wsgiref's comma joins) could not be sound, since a proxy's own repeated lines look the same.

Under gunicorn, run with ``--forwarded-allow-ips=''`` and let ``proto_header`` decide the scheme: by default
gunicorn sets ``wsgi.url_scheme`` from X-Forwarded-Proto itself for peers 127.0.0.1 and ::1 (and any UNIX-socket
peer), whatever realip trusts; this middleware only writes a scheme that a trusted hop stated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler

from ._adapter import adapter_setup
from ._context import default_port, host_text, host_value
from ._headers import environ_key
from .diagnostics import WARNING_REASONS, FailureLog, report
from .resolver import Resolver, Result

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "LAYER4_KEY",
    "ORIG_KEY",
    "RESULT_KEY",
    "STRICT_KEY",
    "RealIPMiddleware",
    "StrictWSGIRequestHandler",
    "environ_key",
]

logger = logging.getLogger("realip")

#: Environ key of the values this middleware replaced: a dict with ``REMOTE_ADDR``, ``REMOTE_PORT`` and
#: ``wsgi.url_scheme`` as the server set them (``None`` where absent).
ORIG_KEY = "realip.orig"
#: Environ key of the :class:`~realip.Result` for the request.
RESULT_KEY = "realip.result"
#: Environ key of what a Layer-4 load balancer carried (with ``layer4=``): the PROXY header, or the TOA address.
LAYER4_KEY = "realip.layer4"
#: Environ key :class:`StrictWSGIRequestHandler` sets, so the middleware knows look-alike headers were dropped.
STRICT_KEY = "realip.strict_headers"

_WSGIREF_SOFTWARE = "WSGIServer/"  # wsgiref's SERVER_SOFTWARE prefix
_SCHEME = "wsgi.url_scheme"


class RealIPMiddleware:
    """Resolve each request's real client and write it into the WSGI environ, in place.

    - ``REMOTE_ADDR`` becomes the client address (left alone when the client is a UNIX-socket peer, which has none);
    - ``REMOTE_PORT`` becomes the port written with the client's entry, or is removed when the entry had none (the
      proxy's port would be wrong); when the client is the peer it is left as the server set it;
    - ``wsgi.url_scheme`` becomes ``http``/``https`` when ``proto_header`` is set and the trusted hop named one;
    - ``environ["realip.orig"]`` keeps the replaced values, ``environ["realip.result"]`` holds the Result.

    In place, not a copy: gunicorn writes its access log (``%(h)s``) from the very dict it passed to the app, so the
    log shows the resolved client. A request already resolved (``realip.result`` present, e.g. by an outer instance)
    passes through untouched: resolving twice would take the rewritten client for the peer.

    ``RealIPMiddleware(app, trusted_proxies=[...])`` builds a :class:`~realip.Resolver` from the keyword options;
    ``RealIPMiddleware(app, resolver=r)`` uses one you built; with neither, ``Resolver.from_env()`` reads the
    ``REALIP_*`` variables. Passing both is a ``TypeError``; bad configuration raises :class:`~realip.ConfigError`
    here, at start-up.
    """

    __slots__ = (
        "_keys",
        "_layer4",
        "_log_failure",
        "_resolve",
        "_rewrites",
        "_single",
        "_strip",
        "_warned",
        "app",
        "resolver",
    )

    def __init__(
        self, app: WSGIApplication, *, resolver: Resolver | None = None, layer4: Any = None, **resolver_options: Any
    ) -> None:
        self.resolver, self._layer4 = adapter_setup("RealIPMiddleware", resolver, layer4, resolver_options)
        resolver = self.resolver
        self.app = app
        self._resolve = resolver.resolve
        # Only the configured headers are read: (lowercase name, environ key) pairs, computed once.
        self._keys: tuple[tuple[str, str], ...] = tuple((name, environ_key(name)) for name in resolver.read_headers)
        contexts = (resolver.host_header, resolver.port_header, resolver.prefix_header)
        self._rewrites = resolver.strip_untrusted or any(name is not None for name in contexts)
        self._strip = tuple(environ_key(name) for name in sorted(resolver.strip_names()))
        self._single = self._keys[0] if len(self._keys) == 1 else None
        self._log_failure = FailureLog("the headers are ignored and the peer is the client")
        self._warned = False

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if RESULT_KEY not in environ:
            address, port = environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")
            result = self._resolve_environ(environ, address, port)
            environ[ORIG_KEY] = {"REMOTE_ADDR": address, "REMOTE_PORT": port, "wsgi.url_scheme": environ.get(_SCHEME)}
            environ[RESULT_KEY] = result
            if self._layer4 is not None:
                environ[LAYER4_KEY] = self._layer4.details_wsgi(environ)
            if result.client_ip is not None:
                environ["REMOTE_ADDR"] = result.client_ip
            if result.source != "peer":  # the client's port replaces the proxy's, or goes
                if result.client_port is None:
                    environ.pop("REMOTE_PORT", None)
                else:
                    environ["REMOTE_PORT"] = str(result.client_port)
            if result.scheme is not None:
                environ[_SCHEME] = result.scheme
            if self._rewrites:
                rewrite_context(environ, result, self.resolver, self._keys, self._strip)
            if result.reason in WARNING_REASONS:
                report(result, environ)
        return self.app(environ, start_response)

    def resolve(self, environ: WSGIEnvironment) -> Result:
        """The Result for this environ, without changing it. Never raises on request data.

        On an unexpected failure (a server putting non-text values in the environ, say) the failure is logged once
        and the request is resolved as if it carried no forwarding header: the client is the peer.
        """
        return self._resolve_environ(environ, environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))

    def _resolve_environ(self, environ: WSGIEnvironment, address: Any, port: Any) -> Result:
        if type(port) is str and port.isdigit() and port.isascii() and len(port) <= 5:
            port = int(port)
        else:
            port = None
        peer = (address, port) if address else None  # "" or absent: a UNIX socket
        try:
            if not self._warned:
                self._check_server(environ)
            single = self._single
            if single is not None:  # the common case: one header
                value = environ.get(single[1])
                headers = [] if value is None else [(single[0], value)]
            else:
                headers = [(name, environ[key]) for name, key in self._keys if key in environ]
            return self._resolve(peer, headers, None if self._layer4 is None else self._layer4.wsgi(environ))
        except Exception:
            self._log_failure(address)
            return self._resolve(peer, ())

    def _check_server(self, environ: WSGIEnvironment) -> None:
        """Warn once if the server folds look-alike header names; the check itself runs on the first request only."""
        self._warned = True
        software = environ.get("SERVER_SOFTWARE")
        if isinstance(software, str) and software.startswith(_WSGIREF_SOFTWARE) and not environ.get(STRICT_KEY):
            logger.warning(
                "realip: wsgiref folds a look-alike header such as X_Forwarded_For into %s; behind a proxy that "
                "forwards such headers a client could choose the address read. Serve with "
                "handler_class=realip.wsgi.StrictWSGIRequestHandler, or under gunicorn.",
                self._keys[0][1],
            )


def rewrite_context(
    environ: MutableMapping[str, Any],
    result: Result,
    resolver: Resolver,
    keys: tuple[tuple[str, str], ...],
    strip: tuple[str, ...],
) -> None:
    """The forwarded context in a WSGI environ (or Django's ``META``): without the forwarding headers realip did not
    believe (``strip_untrusted``; ``keys`` are the headers read and ``strip`` every forwarding header's key), then
    ``HTTP_HOST``, ``SERVER_NAME``, ``SERVER_PORT`` (a default port stays out of the Host) and ``SCRIPT_NAME``; the
    values replaced join the others in ``realip.orig`` when it is there."""
    orig = environ.get(ORIG_KEY)
    if isinstance(orig, dict):
        for key in ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME"):
            orig[key] = environ.get(key)
    if resolver.strip_untrusted:
        headers = [(name, environ[key]) for name, key in keys if key in environ]
        for key in strip:
            environ.pop(key, None)
        for name, value in resolver.believed_headers(headers, result):
            environ[environ_key(name)] = value
    if result.host is not None or result.server_port is not None:
        scheme = environ.get(_SCHEME)
        host, port = result.host, result.server_port
        if host is None:  # a forwarded port alone: the request's own host, else the server's name
            current = environ.get("HTTP_HOST")
            found = host_value(current) if isinstance(current, str) else None
            host = found[0] if found else environ.get("SERVER_NAME")
        elif port is None:
            port = default_port(scheme)
        if isinstance(host, str):
            environ["HTTP_HOST"] = host_text(host, port, scheme)
            environ["SERVER_NAME"] = host.strip("[]")
            if port is not None:
                environ["SERVER_PORT"] = str(port)
    if result.prefix:  # a WSGI string holds bytes as latin-1 (PEP 3333): the prefix's UTF-8 bytes, like any path
        environ["SCRIPT_NAME"] = result.prefix.encode("utf-8").decode("latin-1") + str(environ.get("SCRIPT_NAME") or "")


class StrictWSGIRequestHandler(WSGIRequestHandler):
    """wsgiref's request handler, dropping header names that contain ``_`` as gunicorn >= 22 does.

    ``make_server(host, port, app, handler_class=StrictWSGIRequestHandler)``: a client's ``X_Forwarded_For`` can no
    longer be folded into ``HTTP_X_FORWARDED_FOR``. It marks the environ with ``realip.strict_headers``.
    """

    def get_environ(self) -> WSGIEnvironment:
        for name in {name for name in self.headers if "_" in name}:
            del self.headers[name]  # removes every line of that name
        environ = super().get_environ()
        environ[STRICT_KEY] = True
        return environ
