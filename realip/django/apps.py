"""The Django app: registers realip's system checks, so bad settings are reported at start-up."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]
from django.core import checks  # type: ignore[import-untyped]


class RealIPConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    """``"realip.django"`` in INSTALLED_APPS. No models; label ``realip``."""

    name = "realip.django"
    label = "realip"
    verbose_name = "realip"

    def ready(self) -> None:
        from .checks import check_middleware, check_settings

        checks.register(check_settings, "realip", checks.Tags.security)
        checks.register(check_middleware, "realip", checks.Tags.security)
