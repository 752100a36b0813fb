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


def _check(rewrite: Any, reference: Any, request: dict[str, Any], result_of: Any) -> bool:
    """C's ``rewrite`` of ``request`` writes what the Python ``reference`` writes, or declines leaving it untouched;
    returns whether C took it."""
    mine, theirs = copy.deepcopy(request), copy.deepcopy(request)
    answer = rewrite(mine)
    if answer is None:
        assert mine == request, "the C twin declined but changed the request"
        return False
    reference(theirs)
    assert mine == theirs, (request, mine, theirs)
    assert type(answer) is Result and answer is result_of(mine)
    return True


def check_scope(fast: Any, reference: Any, scope: dict[str, Any]) -> bool:
    """C's rewrite of an ASGI scope against the ASGI middleware's Python path."""
    return _check(fast.rewrite_scope, reference._rewrite_python, scope, lambda done: done["state"]["realip"])


def check_environ(fast: Any, reference: Any, environ: dict[str, Any]) -> bool:
    """C's rewrite of a WSGI environ against the WSGI middleware's Python path."""
    return _check(fast.rewrite_environ, reference._rewrite_python, environ, lambda done: done["realip.result"])


def check_toa(fast: Any, reference: Resolver, peer: Any, toa: Any) -> bool:
    """C's TOA answer equals the general Python path's (or C declined); returns whether C took it."""
    answer = fast.resolve_toa(peer, toa)
    if answer is None:
        return False
    assert answer == reference.resolve(peer, [], toa), (peer, toa, answer)
    assert type(answer) is Result and answer.source == "toa"
    return True
