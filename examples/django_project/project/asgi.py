"""ASGI entry point: ``uvicorn --no-proxy-headers project.asgi:application``.

``--no-proxy-headers``: uvicorn otherwise rewrites the client from X-Forwarded-For itself (trusting 127.0.0.1)
before Django runs, and realip would see uvicorn's guess instead of the socket peer.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_asgi_application()
