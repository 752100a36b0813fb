"""realip: the real client address behind load balancers, ingress controllers and Kubernetes Services.

Build a :class:`Resolver` once with the proxies you trust, then resolve each request from its socket peer and
headers. ``import realip`` imports no web framework; the adapters live in ``realip.asgi``, ``realip.wsgi``,
``realip.flask`` and ``realip.django``.
"""

from ._trust import NAMED_SETS
from ._walk import IMPLEMENTATION
from .errors import ConfigError
from .resolver import Reason, Resolver, Result

__all__ = ["IMPLEMENTATION", "NAMED_SETS", "ConfigError", "Reason", "Resolver", "Result", "__version__"]

__version__ = "0.1.0"
