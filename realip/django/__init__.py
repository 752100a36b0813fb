"""realip for Django: add ``"realip.django"`` to INSTALLED_APPS and ``"realip.django.RealIPMiddleware"`` first in
MIDDLEWARE; configure with ``REALIP = {...}`` or ``REALIP_*`` variables (:mod:`realip.django.conf`).

Views then read ``request.client_ip`` (and ``request.realip``, the full :class:`~realip.Result`); bad settings are
reported by ``manage.py check`` (:mod:`realip.django.checks`) and stop the app when it loads.
"""

from .middleware import RealIPMiddleware

__all__ = ["RealIPMiddleware"]
