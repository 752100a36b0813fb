"""realip in a plain WSGI app, no framework: the resolved client is in ``environ["REMOTE_ADDR"]``.

Run from the repository root:

    gunicorn examples.wsgi_app:app --forwarded-allow-ips=''

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``,
and gunicorn's access log shows it too. ``--forwarded-allow-ips=''`` leaves the scheme to realip: by default gunicorn
believes X-Forwarded-Proto from 127.0.0.1 on its own, whatever realip trusts. Configuration comes from
``REALIP_*`` variables (a Kubernetes ConfigMap), e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS``
below applies where they are unset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from realip import Resolver
from realip.wsgi import RESULT_KEY, RealIPMiddleware

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}

resolver = Resolver.from_env({**DEFAULTS, **os.environ})  # a bad value fails here, naming the variable


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer with the client: ``REMOTE_ADDR`` now holds it; ``environ["realip.result"]`` is the full Result."""
    result = environ[RESULT_KEY]
    client, scheme = environ.get("REMOTE_ADDR"), environ["wsgi.url_scheme"]
    body = json.dumps({"client": client, "scheme": scheme, "source": result.source, "peer": result.peer})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode() + b"\n"]


app = RealIPMiddleware(hello, resolver=resolver)
