"""``python -m worker``: run a lab host (Celery worker on ``host.<name>`` + telemetry agent).

Usage::

    python -m worker [--host NAME] [--underlay ADDR] [--capacity N] [--concurrency N]
    python -m worker agent [--host NAME]

The first form is how a lab host joins: as root, pointing at the same Redis
(``TOPOLAB_REDIS_URL``) as the control plane; it needs no database. It starts
the Celery worker and the telemetry agent as child processes, forwards
SIGTERM/SIGINT to them, and exits when either ends (a supervisor restarts it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from lab.wire import host_queue


def _default_host() -> str:
    import socket

    return os.environ.get("TOPOLAB_HOST_NAME") or socket.gethostname().split(".")[0]


def worker_argv(host: str, concurrency: int, loglevel: str = "INFO") -> list[str]:
    """Return the argv of this host's Celery worker (its own queue: the control plane's orders)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery",
        "worker",
        "-Q",
        host_queue(host),
        "-n",
        f"{host}@%h",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


def agent_argv(host: str) -> list[str]:
    """Return the argv of this host's telemetry agent."""
    return [sys.executable, "-m", "worker", "agent", "--host", host]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.split("\n")[0])
    parser.add_argument("role", nargs="?", choices=["host", "agent"], default="host")
    parser.add_argument("--host", default=_default_host(), help="lab host name (queue host.NAME)")
    parser.add_argument(
        "--underlay",
        default=os.environ.get("TOPOLAB_UNDERLAY"),
        help="this host's address other hosts reach for VXLAN stitches",
    )
    parser.add_argument("--capacity", type=int, default=None, help="nodes this host may hold")
    parser.add_argument(
        "--concurrency", type=int, default=int(os.environ.get("TOPOLAB_WORKER_CONCURRENCY", "4"))
    )
    parser.add_argument("--no-agent", action="store_true", help="run only the Celery worker")
    return parser.parse_args(list(argv))


def run_host(args: argparse.Namespace) -> int:
    """Run the worker and the agent until one of them ends; return its exit status."""
    env = dict(os.environ, TOPOLAB_HOST_NAME=args.host)
    if args.underlay:
        env["TOPOLAB_UNDERLAY"] = args.underlay
    if args.capacity is not None:
        env["TOPOLAB_HOST_CAPACITY"] = str(args.capacity)
    children = [subprocess.Popen(worker_argv(args.host, args.concurrency), env=env)]
    if not args.no_agent:
        children.append(subprocess.Popen(agent_argv(args.host), env=env))

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        while True:
            for child in children:
                code = child.poll()
                if code is not None:
                    forward(signal.SIGTERM, None)
                    for other in children:
                        try:
                            other.wait(timeout=20)
                        except subprocess.TimeoutExpired:
                            other.kill()
                            other.wait()
                    return code
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m worker``."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.role == "agent":
        from worker.agent import main as agent_main

        return agent_main(args.host)
    return run_host(args)


if __name__ == "__main__":
    sys.exit(main())
