"""A lab host's reports to the control plane: typed messages on the ``control`` queue.

Every report carries this host's name and a sequence number that only grows
(microseconds since the epoch, bumped past the last one this process sent), so
the control plane can drop a replayed or duplicated report and order the rest,
also across a worker's restarts. Sending is the only thing a lab host does
toward the control plane: it never reads or writes the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from lab import wire

logger = logging.getLogger(__name__)

# Progress is sent at most this often (first and last op always): a 100-node lab has
# hundreds of ops, and the control plane writes the database for each report.
PROGRESS_EVERY = 0.15

_seq_lock = threading.Lock()
_last_seq = 0


def next_seq() -> int:
    """Return a sequence number greater than any this process returned before."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
        return _last_seq


Send = Callable[[dict[str, Any]], None]


def celery_send(payload: dict[str, Any]) -> None:
    """Send one encoded report as the control plane's report task.

    Raises:
        Exception: whatever the broker raises when the message cannot be sent.
    """
    from worker.celery import app

    app.send_task(wire.REPORT_TASK, args=[payload], queue=wire.CONTROL_QUEUE, ignore_result=True)


class Reporter:
    """Sends this host's reports (``send`` is the Celery one unless a test injects one)."""

    def __init__(self, host: str, send: Send | None = None) -> None:
        self.host = host
        self._send = send or celery_send

    def send(self, report: wire.Report) -> bool:
        """Send ``report`` (already stamped); False when it was lost (logged, never raised).

        The control plane converges without it: a later report carries the newer
        state, and a deployment nobody reports on is ordered again.
        """
        try:
            self._send(wire.encode(report))
            return True
        except Exception:
            logger.exception("could not send %s report", report.TYPE)
            return False

    def started(self, deployment: int, action: str, plan: list[str]) -> None:
        """Report that this host planned its part and starts applying it."""
        self.send(
            wire.PartStarted(
                host=self.host,
                seq=next_seq(),
                deployment=deployment,
                action=action,
                plan=tuple(plan),
            )
        )

    def progress(self, deployment: int, done: int, total: int, step: str) -> None:
        """Report op ``done`` of ``total``."""
        self.send(
            wire.PartProgress(
                host=self.host,
                seq=next_seq(),
                deployment=deployment,
                done=done,
                total=total,
                step=step[:300],
            )
        )

    def done(self, deployment: int, action: str, **fields: Any) -> None:
        """Report the outcome of an order (``ok``, and the failure's fields)."""
        self.send(
            wire.PartDone(
                host=self.host, seq=next_seq(), deployment=deployment, action=action, **fields
            )
        )


class Progress:
    """Progress of one order (op n of N, what it is doing), off the hot path.

    ``begin()`` carries the plan (the ``part.started`` report). The engine calls it
    after every op; a reporter thread sends the latest value
    at most every ``PROGRESS_EVERY`` seconds, so the kernel work never waits for
    the broker. ``close()`` sends the last value and stops the thread: call it
    before the final report, so every progress report precedes it.
    """

    def __init__(self, reporter: Reporter, deployment: int, prefix: str = "") -> None:
        self.reporter = reporter
        self.deployment = deployment
        self.prefix = prefix
        self._cond = threading.Condition()
        self._latest: tuple[int, int, str] | None = None
        self._sent: tuple[int, int, str] | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._begun: tuple[str, list[str]] | None = None

    def begin(self, action: str, plan: list[str]) -> None:
        """Say the part starts applying ``plan``: reported with the first progress (one
        period in) or, for a part done sooner, just before the final report."""
        with self._cond:
            self._begun = (action, plan)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()

    def _send_begun(self) -> None:
        with self._cond:
            begun, self._begun = self._begun, None
        if begun is not None:
            self.reporter.started(self.deployment, *begun)

    def __call__(self, done: int, total: int, step: object) -> None:
        """Record that op ``done`` of ``total`` (an op, or a line) is done."""
        describe = getattr(step, "describe", None)
        line = str(describe()) if callable(describe) else str(step)
        with self._cond:
            if self._closed:
                return
            self._latest = (done, total, self.prefix + line)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        # The first report waits one period too: a part built faster than that sends
        # only its last progress (from close()), which keeps the control plane's work
        # (a database write and an event per report) off a short deploy's path.
        with self._cond:
            self._cond.wait_for(lambda: self._closed, timeout=PROGRESS_EVERY)
        self._send_begun()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._latest != self._sent or self._closed)
                item, closing = self._latest, self._closed
            if item is not None and item != self._sent:
                self.reporter.progress(self.deployment, *item)
                self._sent = item
            if closing:
                return
            with self._cond:
                self._cond.wait_for(lambda: self._closed, timeout=PROGRESS_EVERY)

    def close(self) -> None:
        """Send the last progress and stop reporting (idempotent)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
