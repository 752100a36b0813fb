"""Suite-wide settings: hypothesis without per-example deadlines (CI shares 2 cores with real servers), and a
``stress`` profile (``HYPOTHESIS_PROFILE=stress pytest tests/test_properties.py``) for long property runs."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("stress", deadline=None, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
