"""valgrind's memcheck over a driver that calls one of our C extensions: no error and no leak of ours.

Shared by the memcheck tests of realip/_kernel.c, realip_toa/_toa.c and realip_toa/_proxy.c. Each driver is run
twice, doing its work once and then twice over (``--repeat 1``, ``--repeat 2``, the same inputs each time), and
three rules hold on every supported CPython:

- No record in valgrind's log has a frame in the extension: no invalid access, no use of uninitialised memory, no
  definite leak allocated under one of its calls. A frame of ours reads ``fn (_proxy.c:546)`` when the build has
  debug information, ``fn (in /.../_proxy.cpython-312-x86_64-linux-gnu.so)`` when it has none; both are matched.
  Records with no frame of ours are the interpreter's (CPython 3.11 has known false positives, maybe_small_long).
- The bytes and blocks definitely lost are the same after both runs, so a leak per call shows even when nothing of
  ours is on its stack (a reference kept to the caller's object is allocated by the interpreter): every path the
  first run leaked on, the second takes twice.
- On CPython before 3.12, which frees everything at exit, nothing at all is definitely lost.

Why not simply "definitely lost: 0 bytes" everywhere: CPython 3.12 and later never free interned strings (they are
immortal), so the interpreter alone loses hundreds of kilobytes at exit, most allocated by marshal for the names in
imported code. Where valgrind pins one of those on us, an attribute name that our module's exec slot adds,
valgrind-cpython.supp beside this file suppresses it, and says why.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SUPPRESSIONS = Path(__file__).resolve().with_name("valgrind-cpython.supp")
_LOST = re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks")


def run_memcheck(
    valgrind: str, log: Path, driver: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> tuple[str, str]:
    """valgrind's log and the driver's output, after checking that the driver ran to the end and found no mismatch."""
    run = subprocess.run(
        [valgrind, "--leak-check=full", "--show-leak-kinds=definite", "--num-callers=50",
         f"--suppressions={SUPPRESSIONS}", f"--log-file={log}", sys.executable, *driver],
        capture_output=True, text=True, timeout=timeout, env=dict(env), cwd=cwd,
    )  # fmt: skip  (50 callers: a leak allocated deep inside an API call we make still reaches our frame)
    assert run.returncode == 0 and " 0 failures" in run.stdout, run.stdout + run.stderr
    text = log.read_text()
    assert "ERROR SUMMARY" in text, text[-3000:]
    return text, run.stdout


def through(text: str, source: str, library: str) -> list[str]:
    """The log's records with a frame in the extension, built from ``source`` (``_proxy.c``) into ``library``."""
    marks = (f"({source}:", f"/{library})")
    return [record for record in re.split(r"==\d+== \n", text) if any(mark in record for mark in marks)]


def definitely_lost(text: str) -> tuple[int, int]:
    """Bytes and blocks definitely lost at exit (valgrind prints no summary when every block was freed)."""
    if "All heap blocks were freed" in text:
        return 0, 0
    found = _LOST.search(text)
    assert found is not None, text[-3000:]
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


def assert_clean(
    valgrind: str,
    tmp_path: Path,
    driver: Sequence[str],
    *,
    source: Path,
    library: str,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
) -> None:
    """The three rules of this module's docstring, for ``python DRIVER... --repeat N`` with N = 1 and 2."""
    lost = []
    for repeat in (1, 2):
        text, _ = run_memcheck(
            valgrind, tmp_path / f"valgrind-{repeat}.log", [*driver, "--repeat", str(repeat)], env, cwd, timeout
        )
        ours = through(text, source.name, library)
        assert not ours, f"valgrind errors in {source.name} (--repeat {repeat}):\n" + "\n".join(ours)
        lost.append(definitely_lost(text))
    once, twice = lost
    assert once == twice, (
        f"definitely lost grows with the calls: {once[0]:,} bytes in {once[1]:,} blocks doing the work once, "
        f"{twice[0]:,} bytes in {twice[1]:,} blocks doing it twice (logs: {tmp_path}): a leak per call"
    )
    if sys.version_info < (3, 12):
        assert once == (0, 0), f"definitely lost at exit: {once[0]:,} bytes in {once[1]:,} blocks (logs: {tmp_path})"
