"""Build the optional C extensions (all metadata lives in pyproject.toml): ``realip._kernel``, the inner loop of
the walk, ``realip_toa._toa``, the TOA parser, and ``realip_toa._proxy``, the PROXY protocol parser.

Each extension is optional: if it cannot be compiled (no compiler, no Python headers, not Linux), the install
still succeeds with a warning and the package uses its pure-Python twin (same answers, slower). The warning is a
Python warning because that is what a build frontend shows without ``-v`` (pip 26.3 and later, ``python -m build``);
tests/test_no_compiler.py checks it.
"""

from __future__ import annotations

import re
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _why(exc: BaseException) -> str:
    """The failure in one short line: a failed compiler command is named by its program and exit status."""
    text = str(exc)
    failed = re.search(r"Command '\['([^']+)'.*returned non-zero exit status (\d+)", text, re.S)
    if failed:
        return f"{failed.group(1)} exited with status {failed.group(2)}"
    missing = re.search(r"No such file or directory: '([^']+)'|command '([^']+)' failed: No such file", text)
    if missing:
        return f"no compiler: {missing.group(1) or missing.group(2)} not found"
    return text if len(text) <= 200 else text[:197] + "..."


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns a failed compile into a warning instead of a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._warn("the optional C extensions", exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(f"the optional C extension {ext.name}", exc)

    @staticmethod
    def _warn(what: str, exc: BaseException) -> None:
        message = (
            f"realip: {what} could not be built ({_why(exc)}); installing without it, so realip and realip_toa use "
            "their pure-Python twins (same answers, slower). To build it, install a C compiler and the Python "
            "headers (Debian: apt-get install gcc python3-dev) and reinstall."
        )
        warnings.warn(message, stacklevel=1)


setup(
    ext_modules=[
        Extension(
            "realip._kernel",
            sources=["realip/_kernel.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        ),
        Extension(
            "realip_toa._toa",
            sources=["realip_toa/_toa.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        ),
        Extension(
            "realip_toa._proxy",
            sources=["realip_toa/_proxy.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
