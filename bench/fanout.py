"""Websocket fan-out: many viewers of live counters, through the real web, agent and Redis.

    .venv/bin/python bench/fanout.py [--seconds 60] [--viewers 50] [--labs 20 --spread 200]

Starts the product (``bench/stack.py``), deploys 10-node labs (a router and 9 hosts)
through the API and opens websockets on ``/ws/labs/<id>/`` as the labs' owners, as
the page does. While anyone watches, the lab host's agent publishes one ``counters``
event per lab per second (``topolab:watch:<id>``). Two rounds:

1. ``--viewers`` sockets on one lab for ``--seconds``;
2. ``--spread`` sockets over ``--labs`` labs (as many on each) for ``--seconds``.

Per round: events received, message latency p50/p95/max (receipt time minus the
``time`` the agent stamped on the payload: same host, same clock), dropped frames
(gaps in each socket's ``seq`` after its snapshot), and server CPU (web + agent +
Redis, CPU seconds over wall seconds, in % of one core) against the same processes'
CPU over a quiet stretch of the same length with the labs up and nobody watching
(the baseline). The viewers' own CPU (this process) is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import connect

from bench.stack import Client, Stack, begin, cpu_seconds, descendants, finish, percentile


@dataclass
class Viewer:
    """What one socket saw."""

    counters: int = 0
    latencies: list[float] = field(default_factory=list)
    gaps: int = 0
    last_seq: int = 0
    errors: list[str] = field(default_factory=list)


async def watch(url: str, client: Client, viewer: Viewer, until: float) -> None:
    """Hold one socket open until ``until`` (monotonic), recording what arrives."""
    try:
        async with connect(
            url,
            origin=client.base,
            additional_headers=client.ws_headers(),
            open_timeout=60,
            max_size=2**24,
        ) as ws:
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    return
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=left)
                except TimeoutError:
                    return
                now = time.time()
                message: dict[str, Any] = json.loads(raw)
                kind = message.get("type")
                if kind == "snapshot":
                    viewer.last_seq = int(message["seq"])
                    continue
                if kind == "error":
                    viewer.errors.append(str(message.get("code")))
                    return
                seq = int(message.get("seq", 0))
                if viewer.last_seq and seq > viewer.last_seq + 1:
                    viewer.gaps += seq - viewer.last_seq - 1
                viewer.last_seq = max(viewer.last_seq, seq)
                if kind == "counters":
                    viewer.counters += 1
                    viewer.latencies.append(now - float(message["time"]))
    except Exception as exc:  # a refused or broken socket is a figure, not a crash
        viewer.errors.append(f"{type(exc).__name__}: {exc}")


def server_pids(stack: Stack) -> list[int]:
    """The web, the agent and Redis: the processes that carry the fan-out."""
    pids = stack.lab_host_pids()["agent"] + [stack.procs["redis"].pid]
    return pids + descendants(stack.procs["web"].pid)


def round_(stack: Stack, targets: list[tuple[Client, int]], seconds: float) -> dict[str, Any]:
    """Open one socket per target (client, lab id) for ``seconds``; return the figures."""
    viewers = [Viewer() for _ in targets]
    pids = server_pids(stack)

    async def run() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(
                watch(f"ws://127.0.0.1:{stack.port}/ws/labs/{lab}/", client, v, until)
                for (client, lab), v in zip(targets, viewers, strict=True)
            )
        )

    cpu0, me0, t0 = cpu_seconds(pids), time.process_time(), time.monotonic()
    asyncio.run(run())
    wall = time.monotonic() - t0
    cpu1, me1 = cpu_seconds(pids), time.process_time()
    latencies = [x for v in viewers for x in v.latencies]
    errors = sorted({e for v in viewers for e in v.errors})
    return {
        "viewers": len(targets),
        "labs": len({lab for _, lab in targets}),
        "events": sum(v.counters for v in viewers),
        "expected": int(len(targets) * seconds),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p95_ms": percentile(latencies, 0.95) * 1000 if latencies else None,
        "max_ms": max(latencies) * 1000 if latencies else None,
        "dropped": sum(v.gaps for v in viewers),
        "server_cpu_pct": 100 * (cpu1 - cpu0) / wall,
        "client_cpu_pct": 100 * (me1 - me0) / wall,
        "errors": errors[:5],
    }


def quiet(stack: Stack, seconds: float) -> float:
    """Server CPU (% of one core) with the labs up and no viewer: the baseline."""
    pids = server_pids(stack)
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pids) - cpu0) / (time.monotonic() - t0)


def main() -> int:
    """Run both rounds and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--labs", type=int, default=20)
    parser.add_argument("--spread", type=int, default=200)
    args = parser.parse_args()
    if not begin():
        return 2
    with Stack(concurrency=2) as stack:
        labs = stack.labs("viewer", args.labs)
        stack.deploy_all(labs)
        time.sleep(6)  # past the agent's lab discovery period: every lab is known
        base = quiet(stack, min(args.seconds, 20))
        one = round_(stack, [labs[0]] * args.viewers, args.seconds)
        per = max(1, args.spread // args.labs)
        spread = [pair for pair in labs for _ in range(per)]
        many = round_(stack, spread, args.seconds)
    print(f"server CPU with nobody watching: {base:.1f}% of one core")
    print(
        f"{'viewers':>7} {'labs':>4} {'events':>7} {'expected':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'max ms':>7} {'dropped':>7} {'server CPU':>10} {'viewers CPU':>11}"
    )
    for r in (one, many):
        print(
            f"{r['viewers']:>7} {r['labs']:>4} {r['events']:>7} {r['expected']:>8} "
            f"{r['p50_ms'] or 0:7.1f} {r['p95_ms'] or 0:7.1f} {r['max_ms'] or 0:7.1f} "
            f"{r['dropped']:>7} {r['server_cpu_pct']:9.1f}% {r['client_cpu_pct']:10.1f}%"
            + (f"  errors: {r['errors']}" if r["errors"] else "")
        )
    print(
        f"server CPU ratio to quiet: {one['server_cpu_pct'] / max(base, 0.1):.1f}x (one lab), "
        f"{many['server_cpu_pct'] / max(base, 0.1):.1f}x (spread)"
    )
    return finish({"quiet_cpu_pct": base, "one_lab": one, "spread": many})


if __name__ == "__main__":
    sys.exit(main())
