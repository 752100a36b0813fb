"""The C PROXY parser under AddressSanitizer + UndefinedBehaviorSanitizer (a bounded libFuzzer run whose harness
checks properties of every answer) and under valgrind: no invalid access, no undefined behaviour, no leak.

Both tools must be installed (Debian: apt-get install clang libclang-rt-14-dev valgrind); a missing tool is a
failure that names the package, never a skip. ``REALIP_PROXY_FUZZ_SECONDS`` sets the fuzzing time (default 20).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .vectors import VECTORS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FUZZ_SECONDS = int(os.environ.get("REALIP_PROXY_FUZZ_SECONDS", "20"))


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required for this test: apt-get install -y {package}")
    return path


def test_fuzz_c_parser_under_asan_and_ubsan(tmp_path: Path) -> None:
    clang = tool("clang", "clang libclang-rt-14-dev")
    binary = tmp_path / "fuzz_proxy"
    flags = ["-g", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=fuzzer,address,undefined"]
    build = subprocess.run(
        [clang, *flags, "-fno-sanitize-recover=all", str(HERE / "fuzz_proxy.c"), "-o", str(binary)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert build.returncode == 0, f"fuzz harness did not build (apt-get install libclang-rt-14-dev?):\n{build.stderr}"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, (_name, data, _expected) in enumerate(VECTORS):
        (corpus / f"seed{index}").write_bytes(b"\xff\xff" + data)
    run = subprocess.run(
        [
            str(binary),
            f"-max_total_time={FUZZ_SECONDS}",
            "-max_len=600",
            "-timeout=5",
            "-rss_limit_mb=1024",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        cwd=tmp_path,
    )
    log = run.stderr[-4000:]
    assert run.returncode == 0, f"libFuzzer found a problem:\n{log}"
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done is not None and int(done.group(1)) > 10_000, log
    print(f"\nlibFuzzer: {done.group(1)} runs in {FUZZ_SECONDS}s under ASan+UBSan, no finding")


def test_c_parser_is_valgrind_clean(tmp_path: Path) -> None:
    valgrind = tool("valgrind", "valgrind")
    log_path = tmp_path / "valgrind.log"
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": str(REPO)}
    env.pop("REALIP_TOA_PURE", None)
    run = subprocess.run(
        [
            valgrind,
            "--leak-check=full",
            "--show-leak-kinds=definite",
            f"--log-file={log_path}",
            sys.executable,
            str(HERE / "valgrind_driver.py"),
            "1500",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failures" in run.stdout
    log = log_path.read_text()
    assert "ERROR SUMMARY" in log
    # CPython 3.11 has known valgrind false positives of its own; only records whose stack passes through the
    # extension count.
    records = re.split(r"==\d+== \n", log)
    ours = [
        record
        for record in records
        if "_proxy" in record and ("Invalid" in record or "uninitialised" in record or "definitely lost" in record)
    ]
    assert not ours, "valgrind errors in the C parser:\n" + "\n".join(ours)
    assert re.search(r"definitely lost: 0 bytes", log) or "All heap blocks were freed" in log, log[-3000:]
