"""Django for one test module: configured if nothing configured it yet, else overridden for the module's span.

Django can be configured once per process, and several modules use it (``test_django.py`` and the observability
and rate-limit modules); each takes its settings through :func:`django_for_module` and leaves realip's cached
configuration fresh for the next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import django
from django.conf import settings
from django.test import override_settings


@contextlib.contextmanager
def django_for_module(**values: Any) -> Iterator[None]:
    from realip.django import conf

    conf.reset()
    if not settings.configured:
        # Configured bare, then overridden: leaving the module undoes every value, so no setting (REALIP above all)
        # leaks into the next module that uses Django.
        settings.configure(SECRET_KEY="realip-tests", DATABASES={}, USE_TZ=True)
    django.setup()
    try:
        with override_settings(**values):
            yield
    finally:
        conf.reset()
