"""realip in a Falcon app, served by granian: ``req.remote_addr`` is the real client, ``req.env["realip.result"]``
the full Result. Falcon's ``req.access_route`` stays the forwarding headers as sent: never use it.

Run from the repository root:

$ granian --interface wsgi --host 127.0.0.1 --port 8000 examples.falcon_app:app

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
The whole Falcon app is wrapped, outermost (for ``falcon.asgi.App`` use ``realip.asgi.RealIPMiddleware`` the same
way). Configuration comes from ``REALIP_*`` variables, e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``;
``DEFAULTS`` below applies where they are unset.
"""

from __future__ import annotations

import os

import falcon

from realip import Resolver
from realip.wsgi import RESULT_KEY, RealIPMiddleware

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


class WhoAmI:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        result = req.env[RESULT_KEY]
        resp.media = {"client": req.remote_addr, "scheme": req.scheme, "source": result.source, "peer": result.peer}


falcon_app = falcon.App()
falcon_app.add_route("/", WhoAmI())
app = RealIPMiddleware(falcon_app, resolver=Resolver.from_env({**DEFAULTS, **os.environ}))
