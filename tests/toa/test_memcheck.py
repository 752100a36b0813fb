"""The C parser under AddressSanitizer (a bounded libFuzzer run) and under valgrind: no invalid access, no leak.

Both tools must be installed (Debian: apt-get install clang libclang-rt-14-dev valgrind); a missing tool is a
failure that names the package, never a skip.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.memcheck import assert_clean

from .vectors import OPTION_VECTORS, PACKET_VECTORS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FUZZ_SECONDS = int(os.environ.get("REALIP_TOA_FUZZ_SECONDS", "20"))


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required for this test: apt-get install -y {package}")
    return path


def test_fuzz_c_parser_under_asan(tmp_path: Path) -> None:
    clang = tool("clang", "clang libclang-rt-14-dev")
    binary = tmp_path / "fuzz_toa"
    build = subprocess.run(
        [
            clang,
            "-g",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all",
            str(HERE / "fuzz_toa.c"),
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, f"fuzz harness did not build (apt-get install libclang-rt-14-dev?):\n{build.stderr}"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, (_name, data, _kinds, _expected) in enumerate(OPTION_VECTORS + PACKET_VECTORS):
        (corpus / f"seed{index}").write_bytes(b"\x00" + data)
    run = subprocess.run(
        [
            str(binary),
            f"-max_total_time={FUZZ_SECONDS}",
            "-max_len=256",
            "-timeout=5",
            "-rss_limit_mb=1024",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 60,
        cwd=tmp_path,
    )
    log = run.stderr[-4000:]
    assert run.returncode == 0, f"libFuzzer found a problem:\n{log}"
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done is not None and int(done.group(1)) > 10_000, log
    print(f"\nlibFuzzer: {done.group(1)} runs in {FUZZ_SECONDS}s under ASan+UBSan, no finding")


def test_c_parser_is_valgrind_clean(tmp_path: Path) -> None:
    """No error or leak in the extension's frames, none growing with the calls, none at all before 3.12."""
    valgrind = tool("valgrind", "valgrind")
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": str(REPO)}
    env.pop("REALIP_TOA_PURE", None)
    spec = importlib.util.find_spec("realip_toa._toa")
    assert spec is not None and spec.origin is not None, "the C extension realip_toa._toa was not built"
    assert_clean(
        valgrind,
        tmp_path,
        [str(HERE / "valgrind_driver.py"), "1500"],
        source=REPO / "realip_toa/_toa.c",
        library=Path(spec.origin).name,
        env=env,
        cwd=REPO,
        timeout=240,
    )
