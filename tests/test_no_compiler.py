"""Installing realip where no C compiler exists: pip succeeds and says, without ``-v``, that the pure-Python twins
will run and how to get the compiled ones; the installed package then runs them.

pip shows a build backend's Python warnings (and hides its other output) since pip 26.3, which the ``test`` extra
asks for. The compiler is made missing with ``CC``: setuptools runs whatever it names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md", "SECURITY.md")


def test_pip_install_without_a_compiler_warns_and_installs_the_pure_twins(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(ROOT / name, source / name)
    for package in ("realip", "realip_toa"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    target = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALIP_", "PIP_VERBOSE", "PYTHONWARNINGS"))}
    env["CC"] = "realip-test-no-such-compiler"
    # --no-build-isolation: the setuptools the test extra installed builds it, with no download.
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-cache-dir",
         "--target", str(target), str(source)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    output = installed.stdout + installed.stderr
    assert installed.returncode == 0, output
    for extension in ("realip._kernel", "realip_toa._toa", "realip_toa._proxy"):
        assert (
            f"realip: the optional C extension {extension} could not be built "
            "(no compiler: realip-test-no-such-compiler not found); installing without it, "
            "so realip and realip_toa use their pure-Python twins (same answers, slower). To build it, install a "
            "C compiler and the Python headers (Debian: apt-get install gcc python3-dev) and reinstall."
        ) in output, output
    assert not list(target.rglob("*.so"))

    # The installed copy says which twin runs. Not this checkout's: -S keeps site from running the editable
    # install's finder (it would serve realip's submodules, C ones included, from here); netaddr comes from the
    # test environment.
    import netaddr

    code = "import realip, realip_toa; print(realip.__file__, realip.IMPLEMENTATION, realip_toa.IMPLEMENTATION)"
    path = os.pathsep.join([str(target), str(Path(netaddr.__file__).parent.parent)])
    ran = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path,
        env={**env, "PYTHONPATH": path}, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    where, core, toa = ran.stdout.split()
    assert (Path(where).parent.parent, core, toa) == (target, "python", "python")
    assert "realip_toa: the C parser (realip_toa._toa) is not built" in ran.stderr
