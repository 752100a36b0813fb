"""Suite-wide settings and the root-only tests.

- hypothesis without per-example deadlines (CI shares 2 cores with real servers), and a ``stress`` profile
  (``HYPOTHESIS_PROFILE=stress pytest tests/test_properties.py``) for long property runs;
- the ``root`` marker (tests/privileges.py): without root, each root-only test is skipped with one line naming what
  it needs, and the run ends with one line counting them and saying how to run them;
- ``--require-all``: the run fails if a test that could run here was skipped or deselected. ./scripts/test passes
  it, so CI, which runs as root, fails unless every test ran.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests import privileges
from tests.privileges import HOW_TO_RUN, MARK, root_needs

settings.register_profile("default", deadline=None)
settings.register_profile("stress", deadline=None, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-all",
        action="store_true",
        help="fail the run if a test was skipped or deselected (root-only tests excepted when not root); CI's check",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(what): needs root for `what`; skipped with that reason without root")
    config.pluginmanager.register(NotRun(config), "realip-not-run")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so tests marked through their fixtures can be selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = privileges.is_root()
    for item in items:
        what = root_needs(item)
        if what is None:
            continue
        if item.get_closest_marker(MARK) is None:
            item.add_marker(getattr(pytest.mark, MARK)(what))
        if not root:
            item.add_marker(pytest.mark.skip(reason=f"needs root: {what}"))


class NotRun:
    """Counts the tests that did not run: root-only ones skipped without root, and every other skip or deselection."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.for_root = 0
        self.others: list[str] = []

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.others.extend(f"deselected {item.nodeid}" for item in items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        if MARK in report.keywords and not privileges.is_root():
            self.for_root += 1
        else:
            self.others.append(f"skipped {report.nodeid}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._failing() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self._failing():
            return
        for line in self.others:
            terminalreporter.write_line(f"--require-all: {line}", red=True)
        terminalreporter.write_line(
            f"--require-all: {len(self.others)} tests did not run; every test must run here "
            "(a skip's reason above names what it needs)",
            red=True,
        )

    def _failing(self) -> bool:
        return bool(self.config.getoption("require_all") and self.others)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The run's last line: how many root-only tests were skipped, and the command that runs them."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if self.for_root and reporter is not None:
            tests = "test needs" if self.for_root == 1 else "tests need"
            reporter.write_line(f"{self.for_root} {tests} root: run `{HOW_TO_RUN}` to run them too", yellow=True)
