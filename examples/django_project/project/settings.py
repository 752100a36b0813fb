"""Settings for the realip example: no database, two views, realip configured by ``REALIP_*`` variables.

Every ``REALIP`` key left out below comes from its environment variable (``REALIP_TRUSTED_PROXIES``,
``REALIP_HEADER``, ``REALIP_TRUSTED_HOPS``, ``REALIP_MAX_HOPS``, ``REALIP_PROTO_HEADER``), then from realip's
default, so a Kubernetes ConfigMap configures the app without a code change.
"""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "realip-example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
# Add your hostnames with DJANGO_ALLOWED_HOSTS=app.example.com,other.example.com
_EXTRA_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", *filter(None, _EXTRA_HOSTS.split(","))]

INSTALLED_APPS = ["realip.django"]  # registers realip's system checks (manage.py check)
MIDDLEWARE = [
    "realip.django.RealIPMiddleware",  # first: every middleware and view after it sees the real client
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Only what the environment cannot say; e.g. REALIP_TRUSTED_PROXIES="loopback,10.0.0.0/8,cgnat" sets the rest.
REALIP = {"REWRITE_REMOTE_ADDR": True}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
