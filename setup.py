"""Build the optional C extensions (all metadata lives in pyproject.toml): ``realip._kernel``, the inner loop of
the walk, ``realip_toa._toa``, the TOA parser, and ``realip_toa._proxy``, the PROXY protocol parser.

Each extension is optional: if it cannot be compiled (no compiler, no Python headers, not Linux), the install
still succeeds with a warning and the package uses its pure-Python twin (same answers, slower).
"""

from __future__ import annotations

import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns a failed compile into a warning instead of a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        message = (
            f"realip: an optional C extension could not be built ({exc}); installing without it. "
            "realip and realip_toa use their pure-Python twins instead (same answers, slower). "
            "To build it, install a C compiler and the Python headers (Debian: apt-get install gcc python3-dev) "
            "and reinstall."
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
