"""Burst: N students deploy a 10-node lab at the same moment, against the engine alone.

    .venv/bin/python bench/burst.py [--students 10 30 60] [--poll 0.2] [--concurrency 4]

Starts the product (``bench/stack.py``: Redis, database, uvicorn web, one lab host).
For each N, N users (each their own account, signed in over HTTP) have a lab of a
router and 9 hosts; all N ask ``POST /api/labs/<id>/deploy`` at once (threads
released by one barrier), then poll ``GET /api/deployments/<id>`` until it is final.
Prints the wall time (first request to last ``running``), p50/p95 of request ->
``running`` per student, and the ratio of the wall time to the engine deploying the
same N x 10 nodes as one plan in this process (the baseline, measured in the same run
right before). Then every lab is destroyed through the API (also timed).

Poll period ``--poll`` bounds the resolution of each student's time. Run as root.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Client, Stack, begin, finish, percentile, router_lab

SETTLE_S = 1.5  # the kernel frees destroyed namespaces asynchronously (cleanup_net)


def one_plan(students: int) -> dict[str, Any]:
    """The N labs of a burst as one topology: node names prefixed by the student."""
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for s in range(students):
        doc = router_lab(f"s{s}")
        for node in doc["nodes"]:
            nodes.append({**node, "name": f"s{s}{node['name']}"})
        for link in doc["links"]:
            links.append({"a": f"s{s}{link['a']}", "b": f"s{s}{link['b']}"})
    return {"name": "burst", "nodes": nodes, "links": links}


def engine_baseline(students: int) -> float:
    """Seconds for the engine to deploy N x 10 nodes as one plan (then destroyed)."""
    from lab.topology.limits import Limits
    from lab.topology.load import load_topology
    from worker import engine

    topology = load_topology(one_plan(students), Limits(max_nodes=10 * students + 10))
    key = f"bu{secrets.token_hex(3)}"
    try:
        start = time.perf_counter()
        engine.deploy(topology, key)
        return time.perf_counter() - start
    finally:
        engine.destroy(key)
        time.sleep(SETTLE_S)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def where_time_went(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the deployments: queued (saved -> a worker took it) and on the
    worker (its own timing line), and one timing line (the median one) as a sample."""
    queued, worker = [], []
    for dep in deployments:
        if not (dep.get("created") and dep.get("started") and dep.get("finished")):
            continue
        queued.append(_seconds(dep["started"]) - _seconds(dep["created"]))
        totals = [m for line in dep.get("log", []) for m in re.findall(r"total ([0-9.]+)s", line)]
        if totals:
            worker.append(float(totals[-1]))
    out: dict[str, Any] = {}
    lines = [line for dep in deployments for line in dep.get("log", []) if "total" in line]
    if lines:
        out["sample"] = sorted(lines)[len(lines) // 2]  # one worker's phases, for the note
    for name, values in (("queued", queued), ("worker", worker)):
        if values:
            out[name] = statistics.median(values)
    return out


def burst(clients: list[Client], labs: list[int], poll: float, action: str) -> dict[str, Any]:
    """All clients ask for ``action`` at once; return wall time and per-student times."""
    gate = threading.Barrier(len(clients))
    started: list[float] = [0.0] * len(clients)

    errors: list[str] = []
    phases: list[dict[str, Any]] = []

    def student(i: int) -> tuple[float, str]:
        gate.wait()
        started[i] = time.perf_counter()
        dep = clients[i].deploy(labs[i], action)
        final = clients[i].wait(dep["id"], poll=poll)
        if final["state"] == "failed":
            errors.append(str(final.get("error_message") or final.get("error"))[:200])
        phases.append(final)
        return time.perf_counter(), final["state"]

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(student, range(len(clients))))
    times = [end - started[i] for i, (end, _state) in enumerate(results)]
    states = [state for _end, state in results]
    return {
        "wall": max(end for end, _ in results) - min(started),
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "ok": states.count("destroyed" if action == "destroy" else "running"),
        "states": sorted(set(states)),
        "errors": sorted(set(errors)),
        **where_time_went(phases),
    }


def main() -> int:
    """Run the bursts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, nargs="*", default=[10, 30, 60])
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=4, help="lab host worker processes")
    args = parser.parse_args()
    if not begin():
        return 2
    figures: list[dict[str, Any]] = []
    # Room for every lab at once on the one lab host (its default capacity is 500 nodes).
    with Stack(concurrency=args.concurrency, capacity=10 * max(args.students) + 10) as stack:
        pairs = stack.labs("student", max(args.students))
        clients, labs = [c for c, _ in pairs], [lab for _, lab in pairs]
        print(
            f"{'N':>3} {'engine 1 plan':>13} {'burst wall':>10} {'p50':>6} {'p95':>6} "
            f"{'ratio':>6} {'ok':>4} {'destroy wall':>12}"
        )
        for n in args.students:
            alone = engine_baseline(n)
            up = burst(clients[:n], labs[:n], args.poll, "deploy")
            down = burst(clients[:n], labs[:n], args.poll, "destroy")
            time.sleep(SETTLE_S)
            row = {
                "students": n,
                "engine": alone,
                "up": up,
                "down": down,
                "ratio": up["wall"] / alone,
            }
            figures.append(row)
            print(
                f"{n:>3} {alone:12.2f}s {up['wall']:9.2f}s {up['p50']:5.2f}s "
                f"{up['p95']:5.2f}s {row['ratio']:5.2f}x {up['ok']:>4} "
                f"{down['wall']:11.2f}s"
                + ("" if up["ok"] == n else f"  states {up['states']} {up['errors']}")
            )
            print(
                f"    medians per deployment: queued {up.get('queued', 0):.2f}s, on the worker "
                f"{up.get('worker', 0):.2f}s; "
                f"{up.get('sample', '')}",
                flush=True,
            )
    print("goal: ratio <= 1.5x; p95 <= 3 s at 30 students")
    return finish({"burst": figures})


if __name__ == "__main__":
    sys.exit(main())
