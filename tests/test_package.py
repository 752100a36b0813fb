"""Packaging promises: public names, py.typed, a core that imports no web framework, one version, the compiled
parts in use, and what the sdist holds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from importlib import resources
from pathlib import Path

import realip

ROOT = Path(__file__).resolve().parent.parent
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


def test_the_version_is_written_once() -> None:
    """realip/__init__.py holds it; the metadata (pyproject's dynamic version) and `realip --version` follow it."""
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "realip.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", realip.__version__)
    assert version("realip") == realip.__version__


def test_the_compiled_parts_are_in_use() -> None:
    """Each package runs its C extension, unless REALIP_PURE / REALIP_TOA_PURE ask for the pure-Python twin.

    The build turns a failed compile into a warning (a user without a compiler still gets a working install), so
    this test is what fails when a compiled part did not build where it should (./scripts/test installs gcc and the
    Python headers; CI runs it on every supported Python).
    """
    import realip_toa

    for package, variable in ((realip, "REALIP_PURE"), (realip_toa, "REALIP_TOA_PURE")):
        pure = os.environ.get(variable, "") not in ("", "0")
        expected = "python" if pure else "c"
        assert package.IMPLEMENTATION == expected, (
            f"{package.__name__}.IMPLEMENTATION is {package.IMPLEMENTATION!r} on Python {sys.version.split()[0]}"
            + ("" if pure else ": its C extension was not built; reinstall with `pip install -v -e .` to see why")
        )


def test_the_sdist_has_what_builds_realip_and_no_tests(tmp_path: Path) -> None:
    """The sdist ships the packages, their C sources and stubs, LICENSE and the docs a user reads; not the suite,
    which needs root, Chromium, nginx and the repository's examples and benchmarks (see MANIFEST.in)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv*", ".tox", "build", "dist", "*.so",
                                                                   "__pycache__", "*.egg-info", "_build"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"],
        cwd=source, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (sdist,) = tmp_path.glob("realip-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "SECURITY.md", "pyproject.toml", "setup.py", "PKG-INFO"} <= names
    sources = [path for package in ("realip", "realip_toa") for path in (ROOT / package).rglob("*")]
    shipped = {str(path.relative_to(ROOT)) for path in sources
               if path.suffix in (".py", ".c", ".h", ".pyi") or path.name == "py.typed"}  # fmt: skip
    assert shipped <= names, shipped - names
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/", "examples/", "docs/"))]
    assert not [name for name in names if name.endswith((".so", ".pyc"))]
