"""The pytest plugin of the guest's session: the host's selection, no skips, JSON reports.

Loaded by ``tests.guest.runner`` with ``-p``. Every report (and every failed collection)
is one JSON line in ``<run dir>/reports.jsonl``, in pytest's own serializable form, so the
host replays it as an ordinary result. A skip here is a failure: the guest exists so that
nothing the host kernel lacks has to skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

REPORTS_FILE = "reports.jsonl"
FINISH = "SessionFinish"


class GuestReporter:
    """Writes the session's reports to the results share."""

    def __init__(self, config: pytest.Config, run_dir: Path) -> None:
        self.config = config
        self.path = run_dir / REPORTS_FILE
        self.wanted = set(json.loads((run_dir / "run.json").read_text())["nodeids"])
        self.path.write_text("")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (one write per line: a guest that dies leaves whole lines)."""
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _send(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        self.write(
            self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Say on the console when the tests start (the host reports it as a measurement)."""
        try:
            with open("/proc/uptime") as f:
                uptime = f.read().split()[0]
        except OSError:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"guest: tests start after {uptime} s")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Keep only the tests the host selected (its -k, -m and paths already applied)."""
        dropped = [item for item in items if item.nodeid not in self.wanted]
        if dropped:
            self.config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.nodeid in self.wanted]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self) -> Generator[None, Any, None]:
        """Turn a skip into a failure: in the guest every module is there."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
            reason = reason.removeprefix("Skipped: ")
            report.outcome = "failed"
            report.longrepr = f"skipped in the test guest, where nothing may skip: {reason}"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Send the report to the host."""
        self._send(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Send a failed collection (its tests would otherwise just be missing)."""
        if report.failed:
            self._send(report)

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        """Mark the end of the run."""
        self.write({"$report_type": FINISH, "exitstatus": int(exitstatus)})


def pytest_configure(config: pytest.Config) -> None:
    """Register the reporter on the run directory the runner named."""
    run_dir = Path(os.environ["TOPOLAB_GUEST_RUN_DIR"])
    config.pluginmanager.register(GuestReporter(config, run_dir), "topolab-guest-reporter")
