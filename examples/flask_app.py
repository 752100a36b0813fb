"""realip in a Flask app: ``request.client_ip`` is the real client, and ``request.remote_addr`` agrees.

Run from the repository root:

    gunicorn examples.flask_app:app --forwarded-allow-ips=''

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``,
and gunicorn's access log shows it too. ``--forwarded-allow-ips=''`` leaves the scheme to realip: by default gunicorn
believes X-Forwarded-Proto from 127.0.0.1 on its own, whatever realip trusts. Configuration comes from
``REALIP_*`` variables (a Kubernetes ConfigMap), e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``, or Flask
config keys of the same names; ``DEFAULTS`` below applies where the environment sets nothing. ``url`` is the address
the app builds for itself (``url_for(..., _external=True)``): with ``REALIP_HOST_HEADER``, ``REALIP_PREFIX_HEADER``
and ``REALIP_PROTO_HEADER`` set, the one the client used, e.g. ``https://shop.example.com/shop/`` behind a proxy that
serves the app under ``/shop``.
"""

from __future__ import annotations

import os

from flask import Flask, request, url_for

from realip.flask import RealIP

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}

app = Flask(__name__)
app.config.from_mapping({name: os.environ.get(name, value) for name, value in DEFAULTS.items()})
RealIP(app)  # reads the REALIP_* config keys, then the environment; a bad value fails here, naming the key


@app.get("/")
def whoami() -> dict[str, object]:
    """Answer with the client; ``request.realip`` is the full Result (peer, proxies passed, why)."""
    return {
        "client": request.client_ip,  # type: ignore[attr-defined]
        "remote_addr": request.remote_addr,
        "scheme": request.scheme,
        "source": request.realip.source,  # type: ignore[attr-defined]
        "peer": request.realip.peer,  # type: ignore[attr-defined]
        "url": url_for("whoami", _external=True),
    }
