"""The C extension is optional: a failed compile installs fine with a clear warning, and a missing extension falls
back to the pure parser at import with a warning that says how to fix it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def copy_build_tree(tmp_path: Path) -> Path:
    """setup.py and the C sources alone (the metadata in pyproject.toml is not needed to build the extensions)."""
    (tmp_path / "realip_toa").mkdir()
    (tmp_path / "realip").mkdir()
    shutil.copy(REPO / "setup.py", tmp_path / "setup.py")
    shutil.copy(REPO / "realip_toa" / "_toa.c", tmp_path / "realip_toa" / "_toa.c")
    shutil.copy(REPO / "realip_toa" / "_proxy.c", tmp_path / "realip_toa" / "_proxy.c")
    shutil.copy(REPO / "realip" / "_kernel.c", tmp_path / "realip" / "_kernel.c")
    return tmp_path


def build(tree: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tree,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_failed_compile_does_not_fail_the_install(tmp_path: Path) -> None:
    tree = copy_build_tree(tmp_path)
    done = build(tree, CC="false")
    assert done.returncode == 0, done.stderr
    assert "could not be built" in done.stderr and "pure-Python twins" in done.stderr
    assert not list((tree / "realip_toa").glob("_toa*.so"))
    assert not list((tree / "realip_toa").glob("_proxy*.so"))
    assert not list((tree / "realip").glob("_kernel*.so"))


def test_a_working_compiler_builds_the_extension(tmp_path: Path) -> None:
    tree = copy_build_tree(tmp_path)
    done = build(tree)
    assert done.returncode == 0, done.stderr
    assert "could not be built" not in done.stderr
    assert list((tree / "realip").glob("_kernel*.so"))  # the resolver's kernel is built by the same step
    code = "import realip_toa._toa as t; print(t.parse_options(bytes([200, 8, 0, 80, 192, 0, 2, 1]), bytes([200, 8])))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(200, b'\\xc0\\x00\\x02\\x01', 80)"
    code = "import realip_toa._proxy as p; print(p.parse(b'PROXY UNKNOWN\\r\\n'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(2, 15, 1, 1, 0, 0, b'', 0, b'', 0, (), False)"


def test_without_the_extension_import_warns_and_uses_the_pure_parser() -> None:
    code = (
        "import sys, warnings\n"
        "sys.modules['realip_toa._toa'] = None  # as if it was never built\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import realip_toa\n"
        "print(realip_toa.IMPLEMENTATION)\n"
        "print(caught[0].category.__name__, caught[0].message)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "REALIP_TOA_PURE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "python"
    assert lines[1].startswith("RuntimeWarning") and "REALIP_TOA_PURE=1" in lines[1] and "python3-dev" in lines[1]
