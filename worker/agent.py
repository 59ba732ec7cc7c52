"""``python -m worker agent``: the lab host's telemetry agent process.

The agent (counters at 1 Hz, captures, consoles, journeys) is the telemetry
room's ``worker.telemetry.agent.run_agent``; this module only sets Django up,
names the host, and runs it until SIGTERM.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)


def main(host: str) -> int:
    """Run the telemetry agent of lab host ``host`` until SIGTERM/SIGINT; return 0."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    os.environ["TOPOLAB_HOST_NAME"] = host
    import django

    django.setup()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        module = importlib.import_module("worker.telemetry.agent")
    except ImportError:
        logger.warning("no telemetry agent is installed; the host runs without telemetry")
        stop.wait()
        return 0
    run_agent = module.run_agent
    params = inspect.signature(run_agent).parameters
    kwargs: dict[str, object] = {}
    if "host" in params:
        kwargs["host"] = host
    if "stop" in params:
        kwargs["stop"] = stop
    run_agent(**kwargs)
    return 0
