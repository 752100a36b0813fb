"""realip in a Quart app: ``request.remote_addr`` (and hypercorn's access log) is the real client,
``request.realip`` the full Result.

Run from the repository root:

$ hypercorn examples.quart_app:app --bind 127.0.0.1:8000 --access-logfile -

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
Configuration: keyword options, then ``app.config["REALIP_*"]``, then the ``REALIP_*`` environment variables (a
Kubernetes ConfigMap), e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; the config below sets defaults that the
environment overrides.
"""

from __future__ import annotations

import os
from typing import Any

from quart import Quart, request

from realip.quart import RealIP

app = Quart(__name__)
for key, default in {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}.items():
    app.config[key] = os.environ.get(key) or default
RealIP(app)


@app.get("/")
async def whoami() -> dict[str, Any]:
    result = request.realip  # type: ignore[attr-defined]
    return {"client": request.remote_addr, "scheme": request.scheme, "source": result.source, "peer": result.peer}
