"""Live edit: add one link, and remove one, on a running 500-node lab; engine time.

    .venv/bin/python bench/live_edit.py [--nodes 500] [--repeat 3] [--topology chain star]

Deploys a chain of N routers (or a star of N-1 hosts on one switch), then edits it
while it runs, each edit applied and undone ``--repeat`` times, three ways:

* door: ``Engine().apply(edited, key)`` as the engine door does it today (the whole
  lab discovered, planned, the difference applied);
* scoped: ``worker.plan.edit_scope(edited, running)``, then discovery of
  ``scope.read`` only, the scoped plan and its ops: what the door does once it is
  given the running topology (``PartOrder.restore``);
* baseline: the same change as one `ip -batch` (and `ip -n NS -batch` per namespace),
  as ``bench/deploy.py`` renders a plan.

Also timed on their own: discovery of the whole lab, discovery of the scope, and the
full ``verify`` the orchestration runs after an apply. After every scoped edit the
full planner must find nothing left to do (printed as "converged"). Run as root.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import _limits, remove_lab, run_ip_batch
from bench.stack import begin, finish
from lab.topology.load import load_topology
from lab.topology.schema import Topology
from worker import engine, executor
from worker.engine import Engine
from worker.kernel import default_kernel
from worker.plan import edit_scope, plan
from worker.state import discover


def chain_doc(n: int) -> dict[str, Any]:
    """N routers in a line, each with two spare interfaces (x0, x1) to link later."""
    nodes = []
    for i in range(n):
        ifaces: list[dict[str, Any]] = []
        if i > 0:
            ifaces.append({"name": "left", "addresses": [f"10.{i // 250}.{i % 250}.2/30"]})
        if i < n - 1:
            j = i + 1
            ifaces.append({"name": "right", "addresses": [f"10.{j // 250}.{j % 250}.1/30"]})
        ifaces += [{"name": "x0"}, {"name": "x1"}]
        nodes.append({"name": f"r{i}", "kind": "router", "interfaces": ifaces})
    links = [{"a": f"r{i}:right", "b": f"r{i + 1}:left"} for i in range(n - 1)]
    return {"name": "edit", "nodes": nodes, "links": links}


def star_doc(n: int) -> dict[str, Any]:
    """N-1 hosts on one switch, each with a spare interface x0."""
    hosts = n - 1
    nodes: list[dict[str, Any]] = [
        {"name": "s", "kind": "switch", "interfaces": [{"name": f"p{i}"} for i in range(hosts)]}
    ]
    for i in range(hosts):
        nodes.append(
            {
                "name": f"h{i}",
                "interfaces": [
                    {"name": "eth0", "addresses": [f"10.9.{i // 250}.{i % 250 + 1}/16"]},
                    {"name": "x0"},
                ],
            }
        )
    links = [{"a": f"h{i}:eth0", "b": f"s:p{i}"} for i in range(hosts)]
    return {"name": "edit", "nodes": nodes, "links": links}


def edits(kind: str, n: int) -> tuple[Topology, dict[str, Topology]]:
    """The running topology and its two edits (one link added, one removed)."""
    doc = chain_doc(n) if kind == "chain" else star_doc(n)
    added = {
        **doc,
        "links": [
            *doc["links"],
            {
                "a": f"{'r' if kind == 'chain' else 'h'}0:x0",
                "b": f"{'r' if kind == 'chain' else 'h'}2:x0",
            },
        ],
    }
    middle = len(doc["links"]) // 2
    removed = {**doc, "links": doc["links"][:middle] + doc["links"][middle + 1 :]}
    load = lambda d: load_topology(d, _limits())  # noqa: E731
    return load(doc), {"add one link": load(added), "remove one link": load(removed)}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def scoped_apply(new: Topology, old: Topology, key: str) -> dict[str, float]:
    """The scoped edit, phase by phase (seconds)."""
    k = default_kernel()
    try:
        t0 = time.perf_counter()
        executor.recover(key, k)
        facts = engine.lab_facts(key, k)
        wanted, before = engine.prepare(new), engine.prepare(old)
        scope = edit_scope(wanted, before, facts, key)
        t1 = time.perf_counter()
        actual = discover(key, k, nodes=scope.read)
        t2 = time.perf_counter()
        the_plan = plan(wanted, actual, facts, key, scope=scope)
        t3 = time.perf_counter()
        executor.apply(the_plan, k)
        t4 = time.perf_counter()
    finally:
        k.release()
    return {
        "scope": t1 - t0,
        "discover": t2 - t1,
        "plan": t3 - t2,
        "apply": t4 - t3,
        "total": t4 - t0,
        "ops": float(len(the_plan.ops)),
        "read": float(len(scope.read)),
    }


def batch_edit(new: Topology, old: Topology, key: str) -> float:
    """The same change through `ip -batch` (the plan rendered as bench/deploy.py does)."""
    k = default_kernel()
    try:
        facts = engine.lab_facts(key, k)
        wanted = engine.prepare(new)
        scope = edit_scope(wanted, engine.prepare(old), facts, key)
        the_plan = plan(wanted, discover(key, k, nodes=scope.read), facts, key, scope=scope)
    finally:
        k.release()
    return timed(lambda: run_ip_batch(the_plan, force=True))


def converged(topology: Topology, key: str) -> bool:
    return not Engine().verify(topology, key)


def bench(kind: str, n: int, repeat: int) -> list[dict[str, Any]]:
    """Deploy, edit both ways ``repeat`` times, destroy; return a row per edit."""
    running, changes = edits(kind, n)
    key = f"le{secrets.token_hex(3)}"
    door = Engine()
    rows = []
    try:
        door.apply(running, key)
        full_discover = min(timed(lambda: discover(key)) for _ in range(repeat))
        for label, edited in changes.items():
            d, s, b, v, ok = [], [], [], [], True
            for _ in range(repeat):
                d.append(timed(lambda e=edited: door.apply(e, key)))  # type: ignore[misc]
                v.append(timed(lambda e=edited: door.verify(e, key)))  # type: ignore[misc]
                door.apply(running, key)
                s.append(scoped_apply(edited, running, key))
                ok = ok and converged(edited, key)
                door.apply(running, key)
                try:
                    b.append(batch_edit(edited, running, key))
                except (subprocess.CalledProcessError, ValueError) as exc:
                    print(f"  (ip -batch rendering of {label}: {exc})", file=sys.stderr)
                door.apply(running, key)
            best = min(s, key=lambda x: x["total"])
            row = {
                "topology": kind,
                "nodes": n,
                "edit": label,
                "door": min(d),
                "verify": min(v),
                "scoped": best,
                "batch": min(b) if b else None,
                "full_discover": full_discover,
                "converged": ok,
            }
            rows.append(row)
    finally:
        remove_lab(key)
    return rows


def main() -> int:
    """Run the edits and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--topology", nargs="*", choices=["chain", "star"], default=["chain", "star"]
    )
    args = parser.parse_args()
    if not begin():
        return 2
    engine.host_facts()
    rows = [row for kind in args.topology for row in bench(kind, args.nodes, args.repeat)]
    print(f"best of {args.repeat}, ms; scoped = scope + discover + plan + apply")
    print(
        f"{'lab':<10} {'edit':<16} {'door':>7} {'verify':>7} {'scoped':>7} {'(disc':>6} "
        f"{'plan':>5} {'apply)':>6} {'ops':>4} {'read':>4} {'ip-batch':>8} {'scoped/batch':>12} "
        f"{'full disc':>9} {'converged':>9}"
    )
    for r in rows:
        sc = r["scoped"]
        ratio = f"{sc['total'] / r['batch']:.2f}x" if r["batch"] else "-"
        batch = f"{r['batch'] * 1000:8.1f}" if r["batch"] else f"{'-':>8}"
        print(
            f"{r['topology'] + ' ' + str(r['nodes']):<10} {r['edit']:<16} {r['door'] * 1000:7.1f} "
            f"{r['verify'] * 1000:7.1f} {sc['total'] * 1000:7.1f} {sc['discover'] * 1000:6.1f} "
            f"{sc['plan'] * 1000:5.1f} {sc['apply'] * 1000:6.1f} {int(sc['ops']):>4} "
            f"{int(sc['read']):>4} {batch} {ratio:>12} {r['full_discover'] * 1000:9.1f} "
            f"{'yes' if r['converged'] else 'NO':>9}"
        )
    print("goal: O(change), <= 100 ms engine time per edit")
    return finish({"live_edit": rows})


if __name__ == "__main__":
    sys.exit(main())
