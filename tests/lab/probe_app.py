"""The who-am-I probe the Kubernetes examples deploy (``realip serve``), as an app object for uvicorn ``--fd``.

``realip serve`` binds by host name, and uvicorn's ``--host ::`` is IPv6-only; the lab serves the same app on its
dual-stack socket (see :mod:`tests.lab.dualstack`), configured from ``REALIP_*`` exactly as the manifests do.
"""

from __future__ import annotations

from realip import Resolver
from realip.serve import create_app

app = create_app(Resolver.from_env())
