"""The Python references the C twin's whole-request rewrites are checked against, and the checks themselves."""

from __future__ import annotations

import copy
from typing import Any

from realip import Resolver, Result
from realip.asgi import RealIPMiddleware as AsgiMiddleware
from realip.wsgi import RealIPMiddleware as WsgiMiddleware


class PythonOnly(Resolver):
    """A Resolver that never takes a C shortcut: no C twin, a subclass (adapters then stay in Python), and tuple
    headers (so not the Python twin of the C fast path either: the general path)."""

    __slots__ = ()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._c_fast = None
        self.resolve_common = None

    def resolve(self, peer: Any, headers: Any, toa: Any = None) -> Result:
        return super().resolve(peer, tuple(headers), toa)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    return []


def references(**options: Any) -> tuple[Any, Any, Any]:
    """(C twin, ASGI reference middleware, WSGI reference middleware) for one configuration."""
    fast = Resolver(**options)._c_fast
    assert fast is not None, "the C twin should take this configuration"
    wsgi = WsgiMiddleware(_wsgi_app, resolver=PythonOnly(**options))
    wsgi._warned = True  # the server check is the middleware's, not part of the rewrite
    return fast, AsgiMiddleware(_app, resolver=PythonOnly(**options)), wsgi


def check_scope(fast: Any, reference: Any, scope: dict[str, Any]) -> bool:
    """C's rewrite of ``scope`` equals the Python reference's (or C left it untouched); returns whether C took it."""
    mine, theirs = copy.deepcopy(scope), copy.deepcopy(scope)
    answer = fast.rewrite_scope(mine)
    if answer is None:
        assert mine == scope, "the C twin declined but changed the scope"
        return False
    reference._rewrite_python(theirs)
    assert mine == theirs, (scope, mine, theirs)
    assert type(answer) is Result and answer is mine["state"]["realip"]
    return True


def check_toa(fast: Any, reference: Resolver, peer: Any, toa: Any) -> bool:
    """C's TOA answer equals the general Python path's (or C declined); returns whether C took it."""
    answer = fast.resolve_toa(peer, toa)
    if answer is None:
        return False
    assert answer == reference.resolve(peer, [], toa), (peer, toa, answer)
    assert type(answer) is Result and answer.source == "toa"
    return True


def check_environ(fast: Any, reference: Any, environ: dict[str, Any]) -> bool:
    """C's rewrite of ``environ`` equals the Python reference's (or C left it untouched); returns whether C took it."""
    mine, theirs = dict(environ), dict(environ)
    answer = fast.rewrite_environ(mine)
    if answer is None:
        assert mine == environ, "the C twin declined but changed the environ"
        return False
    reference._rewrite_python(theirs)
    assert mine == theirs, (environ, mine, theirs)
    assert type(answer) is Result and answer is mine["realip.result"]
    return True
