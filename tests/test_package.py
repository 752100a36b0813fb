"""Packaging promises: public names, py.typed, and a core that imports no web framework."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import realip

FRAMEWORKS = (
    "starlette",
    "fastapi",
    "flask",
    "werkzeug",
    "django",
    "uvicorn",
    "gunicorn",
    "aiohttp",
    "sanic",
    "tornado",
    "litestar",
    "quart",
    "falcon",
    "channels",
    "daphne",
    "granian",
    "hypercorn",
)


def test_public_names() -> None:
    assert set(realip.__all__) >= {"Resolver", "Result", "ConfigError"}
    for name in realip.__all__:
        assert getattr(realip, name) is not None
        if name not in ("__version__", "IMPLEMENTATION"):
            assert getattr(realip, name).__doc__, f"{name} has no docstring"


def test_py_typed_is_shipped() -> None:
    assert resources.files("realip").joinpath("py.typed").is_file()


def test_importing_realip_imports_no_framework() -> None:
    code = (
        "import sys, realip, realip.explain, realip.env, realip.cli; "
        f"loaded = [m for m in {FRAMEWORKS!r} if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
