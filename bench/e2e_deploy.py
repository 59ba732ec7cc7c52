"""End-to-end deploy time against the engine alone: the orchestration's overhead.

Starts the product (``bench/stack.py``: Redis, database, the web under uvicorn and
the ``Procfile``'s lab host and control plane), then for a 100-node star measures

* e2e: from the API call (``POST /api/labs/<id>/deploy``) to ``GET
  /api/deployments/<id>`` answering ``running`` (polled every 20 ms);
* engine: ``worker.engine.deploy`` of the same topology in this process;

alternating, and prints both and their ratio (target: e2e <= 1.3 x engine), and the
worker's phase timings from the deployment's log. Run as root:

    .venv/bin/python bench/e2e_deploy.py [--nodes 100] [--rounds 3]

Everything it starts it ends by PID; every namespace it makes it removes.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, begin, finish

SETTLE_S = 1.0  # the kernel's asynchronous namespace cleanup after a destroy


def star(n: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"name": "sw", "kind": "switch", "interfaces": [{"name": f"p{i}"} for i in range(n - 1)]}
    ]
    links = []
    for i in range(n - 1):
        nodes.append(
            {
                "name": f"h{i}",
                "interfaces": [
                    {"name": "eth0", "addresses": [f"10.88.{i // 250}.{i % 250 + 1}/16"]}
                ],
            }
        )
        links.append({"kind": "veth", "a": f"h{i}:eth0", "b": f"sw:p{i}"})
    return {"name": "benchstar", "nodes": nodes, "links": links}


def main() -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not begin():
        return 2
    from lab.topology.load import load_topology
    from worker import engine

    doc = star(args.nodes)
    topology = load_topology(doc)
    e2e: list[float] = []
    alone: list[float] = []
    log: list[str] = []
    with Stack(concurrency=2) as stack:
        client = stack.client("bench")
        lab = client.create_lab("e2e", doc)["id"]
        for _ in range(args.rounds):
            # Alternate, so both see the same machine load; before each, let the kernel
            # finish freeing the namespaces of the last destroy (cleanup_net runs after
            # the names are gone and takes a core for a while).
            time.sleep(SETTLE_S)
            key = f"benche{secrets.token_hex(3)}"
            start = time.perf_counter()
            engine.deploy(topology, key)
            alone.append(time.perf_counter() - start)
            engine.destroy(key)
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            dep = client.wait(client.deploy(lab)["id"], poll=0.02)
            e2e.append(time.perf_counter() - start)
            if dep["state"] != "running":
                raise RuntimeError(f"deploy failed: {dep}")
            log = [line for line in dep.get("log", []) if "timing" in line or "ms" in line]
            client.wait(client.deploy(lab, "destroy")["id"])
    e, a = statistics.median(e2e), statistics.median(alone)
    print(f"nodes={args.nodes} rounds={args.rounds}")
    print(f"engine alone     : median {a:.2f}s  ({', '.join(f'{x:.2f}' for x in alone)})")
    print(f"API -> running   : median {e:.2f}s  ({', '.join(f'{x:.2f}' for x in e2e)})")
    print(f"overhead ratio   : {e / a:.2f}x (target <= 1.30x)")
    if log:
        print("worker phases    : " + "; ".join(log[-3:]))
    return finish({"engine": alone, "e2e": e2e, "ratio": e / a})


if __name__ == "__main__":
    sys.exit(main())
