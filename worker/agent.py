"""``python -m worker agent``: the lab host's telemetry agent process.

The agent (counters at 1 Hz, captures, consoles, journeys) is the telemetry
room's ``worker.telemetry.agent.run_agent``; this module names the host and
runs it until SIGTERM. Like the worker, it needs only Redis: no database.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)


def main(host: str) -> int:
    """Run the telemetry agent of lab host ``host`` until SIGTERM/SIGINT; return 0."""
    from worker.telemetry.agent import run_agent

    os.environ["TOPOLAB_HOST_NAME"] = host
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_agent(host=host, stop=stop)
    return 0
