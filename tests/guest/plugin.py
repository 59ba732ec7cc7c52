"""The test guest, seen from the host's pytest session.

Every test marked ``guest`` runs twice: here, where a kind the host kernel lacks skips
naming its module, and in the test guest (Debian's stock kernel under qemu, see
``machine.py``), where nothing may skip. The guest copy of ``test_x[bond]`` is the item
``test_x[bond]@guest``. The first such item boots one guest for the whole session; it
runs every selected guest copy with the session's own options (``-m guest`` and the
selected node ids) and sends back pytest's serialized reports, which are replayed here as
ordinary results. A test the guest sent no report for fails with the tail of the guest
console; a guest that overruns its time is ended by qemu's PID.

Environment: ``TOPOLAB_GUEST=0`` leaves the guest copies out (ad-hoc runs);
``TOPOLAB_GUEST_TIMEOUT`` (seconds) bounds the guest run; ``TOPOLAB_GUEST_LAUNCHER=local``
runs the guest's side as a host process (the plugin's own tests).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.guest.inside import FINISH, REPORTS_FILE
from tests.guest.machine import ROOT, GuestUnavailableError, Machine, Outcome
from tests.guest.runner import RUN_FILE

IN_GUEST = os.environ.get("TOPOLAB_IN_GUEST") == "1"
SUFFIX = "@guest"
ARTIFACTS = ROOT / "test-artifacts" / "guest"
# Options whose value the guest must not inherit: the selection is sent as node ids, and
# files the host would write are the host's.
_DROP_WITH_VALUE = {"-m", "-k", "--junitxml", "--junit-xml", "--basetemp", "--deselect"}
# pytest-django's options: the guest does not load it (see runner.PLUGINS).
_DJANGO_OPTIONS = ("--no-migrations", "--nomigrations", "--reuse-db", "--create-db", "--ds", "--dc")
# Environment the guest's session shares with the host's.
_PASS_ENV = ("TOPOLAB_NETNS_GUARD", "CI", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS")
_KEY = pytest.StashKey["GuestRun"]()


class GuestItem(pytest.Item):
    """The guest's copy of a ``guest`` test: replayed from the guest's reports, never run here."""

    def __init__(self, *, original: pytest.Item, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.original = original
        # The guest run is bounded by TOPOLAB_GUEST_TIMEOUT, not by the per-test timeout.
        self.own_markers.append(pytest.mark.timeout(0).mark)
        self.own_markers.extend(m for m in original.iter_markers() if m.name != "timeout")
        self.keywords.update(original.keywords)

    def setup(self) -> None:
        """Make sure the guest has run (the first guest item boots it for all of them)."""
        self.config.stash[_KEY].get(self.session)

    def runtest(self) -> None:
        """Nothing here: the test ran in the guest; ``pytest_runtest_makereport`` tells."""

    def reportinfo(self) -> tuple[Any, int | None, str]:
        """Point at the original test's source."""
        path, line, name = self.original.reportinfo()
        return path, line, f"{name}{SUFFIX}"


def guest_args(invocation: list[str], positionals: list[str]) -> list[str]:
    """Return the host's options for the guest's session, without selection or output files.

    ``positionals`` are the paths and node ids the host was given (``config.args``): the
    guest gets the selected node ids instead.
    """
    out: list[str] = []
    skip_next = False
    for arg in invocation:
        if skip_next:
            skip_next = False
            continue
        if arg in _DROP_WITH_VALUE:
            skip_next = True
            continue
        if any(arg.startswith(f"{opt}=") for opt in _DROP_WITH_VALUE if opt.startswith("--")):
            continue
        if re.fullmatch(r"-[mk].+", arg) or arg in positionals:
            continue
        out.append(arg)
    return out


def guest_addopts(addopts: list[str]) -> str:
    """Return the ini ``addopts`` for the guest's session (pytest-django's options left out)."""
    kept = [a for a in addopts if not a.startswith(_DJANGO_OPTIONS)]
    return " ".join(shlex.quote(a) for a in kept)


def guest_env(environ: dict[str, str]) -> dict[str, str]:
    """Return the environment variables the guest's session inherits."""
    return {k: environ[k] for k in _PASS_ENV if k in environ}


def default_timeout(tests: int) -> float:
    """Return the guest run's time bound: boot, collection, and a margin per test."""
    return float(os.environ.get("TOPOLAB_GUEST_TIMEOUT") or 300 + 60 * tests)


@dataclass
class Results:
    """What came back from one guest run."""

    reports: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    collect_errors: list[str] = field(default_factory=list)
    finished: bool = False
    problem: str = ""  # why reports may be missing: qemu's exit, a timeout, no guest


class GuestRun:
    """The session's one guest run, started by the first guest item."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.launcher = os.environ.get("TOPOLAB_GUEST_LAUNCHER", "qemu")
        self.results: Results | None = None
        self.outcome: Outcome | None = None
        self.run_dir: Path | None = None

    def get(self, session: pytest.Session) -> Results:
        """Return the guest's results, booting it on the first call."""
        if self.results is None:
            items = [i for i in session.items if isinstance(i, GuestItem)]
            self.results = self._run([i.original.nodeid for i in items])
        return self.results

    def _run(self, nodeids: list[str]) -> Results:
        self.run_dir = Path(tempfile.mkdtemp(prefix="topolab-guest-"))
        spec = {
            "args": [
                "-o",
                f"addopts={guest_addopts(list(self.config.getini('addopts')))}",
                *guest_args(list(self.config.invocation_params.args), list(self.config.args)),
                "-m",
                "guest",
                *nodeids,
            ],
            "nodeids": nodeids,
            "rootdir": str(self.config.rootpath),
            "env": guest_env(dict(os.environ)),
        }
        (self.run_dir / RUN_FILE).write_text(json.dumps(spec))
        results = Results()
        try:
            self.outcome = Machine(self.run_dir, self.launcher).run(default_timeout(len(nodeids)))
        except GuestUnavailableError as exc:
            results.problem = str(exc)
            return results
        self._read(results)
        out = self.outcome
        if out.timed_out:
            results.problem = (
                f"the test guest overran its {default_timeout(len(nodeids)):.0f} s and was "
                f"ended (qemu pid {out.pid})"
            )
        elif not results.finished:
            results.problem = (
                f"the test guest stopped before its session ended (exit {out.returncode})"
            )
        self._report_times(len(nodeids))
        return results

    def _read(self, results: Results) -> None:
        assert self.run_dir is not None
        path = self.run_dir / REPORTS_FILE
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a guest that died
            if data.get("$report_type") == FINISH:
                results.finished = True
                continue
            report = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
            if isinstance(report, pytest.CollectReport):
                results.collect_errors.append(f"{report.nodeid}: {report.longreprtext}")
            elif isinstance(report, pytest.TestReport):
                results.reports[report.nodeid].append(report)

    def _report_times(self, tests: int) -> None:
        assert self.outcome is not None
        text = self.outcome.console_tail(10_000)
        # Seconds since the guest kernel started, as init.sh and inside.py print them.
        marks = [
            (what, m.group(1))
            for what, pattern in (
                ("userland up", r"guest: up after ([0-9.]+) s"),
                ("tests start", r"guest: tests start after ([0-9.]+) s"),
                ("done", r"guest: done after ([0-9.]+) s"),
            )
            if (m := re.search(pattern, text))
        ]
        line = f"test guest: {tests} tests in {self.outcome.seconds:.1f} s" + (
            " (guest clock: " + ", ".join(f"{w} {s} s" for w, s in marks) + ")" if marks else ""
        )
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            # The guest runs in the first guest item's setup, whose output is captured.
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)

    def report(self, item: GuestItem, when: str) -> pytest.TestReport:
        """Return the guest's report of ``item``'s phase ``when``, or the failure saying why not.

        The guest's report is rewritten to the guest item's id. When the guest sent
        nothing for the test, its setup passes here and its call fails; a test cut off
        after its call fails at teardown.
        """
        assert self.results is not None
        have = self.results.reports.get(item.original.nodeid, [])
        for report in have:
            if report.when == when:
                report.nodeid, report.location = item.nodeid, item.location
                return report
        cut_after_call = any(r.when == "call" for r in have)
        if (when == "setup" and not have) or (when == "teardown" and not cut_after_call):
            # Nothing to say in this phase: the failure is the call's (or the setup's).
            return self._report(item, when, "passed", None)
        return self._report(item, when, "failed", self._missing(item, have))

    @staticmethod
    def _report(item: GuestItem, when: str, outcome: str, text: str | None) -> pytest.TestReport:
        return pytest.TestReport(
            nodeid=item.nodeid,
            location=item.location,
            keywords={k: 1 for k in item.keywords},
            outcome=outcome,  # type: ignore[arg-type]
            longrepr=text,
            when=when,  # type: ignore[arg-type]
        )

    def _missing(self, item: GuestItem, have: list[Any]) -> str:
        """Say why a guest item's reports did not all come back, with the console's tail."""
        assert self.results is not None
        what = "complete report" if have else "report"
        parts = [f"the test guest sent no {what} for {item.original.nodeid}"]
        if self.results.problem:
            parts.append(self.results.problem)
        if self.results.collect_errors:
            parts.append(
                "collection failed in the guest:\n" + "\n".join(self.results.collect_errors)
            )
        if self.outcome is not None:
            parts.append("last lines of the guest console:\n" + self.outcome.console_tail())
        return "\n".join(parts)

    def close(self) -> None:
        """Keep the console in test-artifacts/guest/ and remove the run directory."""
        if self.run_dir is None:
            return
        console = self.run_dir / "console.log"
        if console.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(console, ARTIFACTS / "console.log")
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _active(config: pytest.Config) -> bool:
    return not IN_GUEST and os.environ.get("TOPOLAB_GUEST", "1") != "0"


def pytest_configure(config: pytest.Config) -> None:
    """Set up the session's guest run (nothing boots until a guest item runs)."""
    if _active(config):
        config.stash[_KEY] = GuestRun(config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the guest's copy right after each ``guest`` test (before -m/-k deselect)."""
    if _KEY not in config.stash:
        return
    out: list[pytest.Item] = []
    for item in items:
        out.append(item)
        if item.get_closest_marker("guest") is not None and not isinstance(item, GuestItem):
            out.append(
                GuestItem.from_parent(item.parent, name=f"{item.name}{SUFFIX}", original=item)
            )
    items[:] = out


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> pytest.TestReport | None:
    """A guest item's phases report what the guest's did (the normal protocol runs them).

    Going through pytest's own protocol keeps its setup state right: the modules a
    guest item belongs to are torn down when the next test needs them no more.
    """
    if not isinstance(item, GuestItem) or call.excinfo is not None:
        return None  # a host-side error in a guest item is reported as it is
    return item.config.stash[_KEY].report(item, call.when)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Clean up the guest's run directory."""
    run = config.stash.get(_KEY, None)
    if run is not None:
        run.close()
