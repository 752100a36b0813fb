"""The root marker and --require-all (tests/conftest.py, tests/privileges.py), run as pytest runs them: in a
subprocess, over this suite's own root-only tests and over small suites written here.

"As a user" means a plugin that makes :func:`tests.privileges.is_root` say no, so these tests hold as root too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest_run(tmp_path: Path, *args: str, as_user: bool = False) -> subprocess.CompletedProcess[str]:
    (tmp_path / "as_user.py").write_text("import tests.privileges\ntests.privileges.is_root = lambda: False\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    plugins = ["-p", "as_user"] if as_user else []
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugins, *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)


def collected(out: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split("[")[0] for line in out.stdout.splitlines() if "::" in line}


def test_tests_using_a_root_fixture_are_marked_even_through_other_fixtures(tmp_path: Path) -> None:
    root = collected(
        pytest_run(tmp_path, "--collect-only", "-q", "-m", "root", "tests/lab", "tests/toa", "tests/proxy")
    )
    assert "tests/lab/test_lab.py::test_path" in root  # uses `lab` through the lab's other fixtures
    assert "tests/proxy/test_e2e.py::test_haproxy_v2" in root  # the PROXY protocol lab
    assert "tests/toa/test_e2e.py::test_gunicorn_saved_syn" in root  # `net`
    assert "tests/toa/test_capture.py::test_a_queued_handshake_ack_is_found_by_the_first_lookup" in root
    assert "tests/toa/test_capture.py::test_a_forked_child_restarts_its_own_capture" in root  # its own marker
    unprivileged = collected(pytest_run(tmp_path, "--collect-only", "-q", "-m", "not root", "tests/toa"))
    assert "tests/toa/test_capture.py::test_filter_limits" in unprivileged
    assert "tests/toa/test_capture.py::test_without_cap_net_raw_the_error_names_it_and_the_alternatives" in unprivileged
    assert not root & unprivileged


def test_as_a_user_each_root_test_is_skipped_naming_its_need_and_the_last_line_counts_them(tmp_path: Path) -> None:
    marked = pytest_run(tmp_path, "--collect-only", "-q", "-m", "root", "tests/toa/test_capture.py")
    count = sum("::" in line for line in marked.stdout.splitlines())
    assert count >= 7
    out = pytest_run(tmp_path, "-q", "-rs", "--require-all", "tests/toa/test_capture.py", as_user=True)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "SKIPPED [4] tests/toa/test_capture.py: needs root: CAP_NET_RAW: opens a packet capture on lo" in lines
    assert lines[-1] == f"{count} tests need root: run `sudo ./scripts/test` to run them too"
    assert "Traceback" not in out.stdout


def small_suite(tmp_path: Path) -> Path:
    """A suite under this conftest: one test that passes, one that skips, one that needs root."""
    suite = tmp_path / "suite"
    suite.mkdir()
    # Its own ini file makes the suite its own rootdir, so node ids read `test_small.py::...` wherever the checkout
    # lives. Without one pytest roots the run at the common ancestor of the checkout (the cwd) and tmp_path: `/tmp`
    # for a checkout under /tmp, where the ids become `pytest-of-root/.../suite/test_small.py::...`.
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (suite / "test_small.py").write_text(
        "import pytest\n"
        "def test_passes(): pass\n"
        "def test_skips(): pytest.skip('no reason')\n"
        "@pytest.mark.root('a raw socket')\n"
        "def test_needs_root(): pass\n"
    )
    return suite


def test_require_all_fails_a_run_where_a_test_was_skipped_or_deselected(tmp_path: Path) -> None:
    suite = str(small_suite(tmp_path))
    assert pytest_run(tmp_path, "-q", suite).returncode == 0  # without the option a skip is a pass, as usual
    skipped = pytest_run(tmp_path, "-q", "--require-all", suite)
    assert skipped.returncode == 1, skipped.stdout
    assert "\n--require-all: skipped test_small.py::test_skips\n" in skipped.stdout
    deselected = pytest_run(tmp_path, "-q", "--require-all", "-k", "not skips", suite)
    assert deselected.returncode == 1, deselected.stdout
    assert "--require-all: deselected" in deselected.stdout
    # As a user the root-only test is skipped and allowed; the ordinary skip still fails the run.
    as_user = pytest_run(tmp_path, "-q", "--require-all", "-k", "not skips", suite, as_user=True)
    assert "1 test needs root: run `sudo ./scripts/test` to run them too" in as_user.stdout
