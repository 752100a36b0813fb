"""Check an installed realip as a user gets it: run by the installation's own Python, from outside the checkout.

    python scripts/check_installed.py

Fails (exit 1, one line per problem) unless the package imported is the installed one, both compiled parts run
(``realip.IMPLEMENTATION`` and ``realip_toa.IMPLEMENTATION`` are ``"c"``; the modules behind them may change), the
installed files include the licence and no C source, and ``realip --version`` agrees with the metadata.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path


def problems() -> list[str]:
    """Everything wrong with the installed realip, as messages naming the fix."""
    import realip
    import realip_toa

    found = []
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for package in (realip, realip_toa):
        where = Path(package.__file__ or "").resolve()
        if site not in where.parents:
            found.append(f"{package.__name__} was imported from {where}, not from this installation ({site})")
        if package.IMPLEMENTATION != "c":
            found.append(
                f"{package.__name__}.IMPLEMENTATION is {package.IMPLEMENTATION!r}: its C extension was not built "
                f"for Python {sys.version.split()[0]}; build it with `pip install -v` to see the compiler's error"
            )
    files = [str(path) for path in metadata.files("realip") or ()]
    if not any(name.endswith("licenses/LICENSE") for name in files):
        found.append("the installed metadata has no licenses/LICENSE: check license-files in pyproject.toml")
    sources = [name for name in files if name.endswith((".c", ".h"))]
    if sources:
        found.append(f"C sources were installed ({', '.join(sources)}): exclude them from the wheel's package data")
    script = Path(sys.executable).with_name("realip")
    # The installation's own console script, no shell: nothing here comes from outside.
    version = subprocess.run(  # noqa: S603
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    expected = f"realip {metadata.version('realip')} (realip: c, realip_toa: c; "
    if not version.stdout.startswith(expected):
        printed = (version.stdout + version.stderr).strip()
        found.append(f"`realip --version` printed {printed!r}, not {expected!r}...")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"check_installed: {problem}", file=sys.stderr)
    if not found:
        import realip

        python = sys.version.split()[0]
        print(f"check_installed: ok, realip {realip.__version__} on Python {python}, compiled parts in use")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
