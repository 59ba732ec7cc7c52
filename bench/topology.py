"""Time the pure topology core on a 500-node lab: validate, auto addressing, text round trip.

Run: .venv/bin/python bench/topology.py [routers]
Prints seconds per step; no thresholds (the numbers go into reports, not asserts).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.topology import Topology
from lab.topology.addressing import auto_address
from lab.topology.io import dumps, loads
from lab.topology.validate import validate


def chain(routers: int) -> Topology:
    """A chain of routers, one host on each: 2 * routers nodes, auto-addressed."""
    nodes: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    for i in range(routers):
        nodes.append(
            {
                "name": f"r{i}",
                "kind": "router",
                "interfaces": [{"name": "a"}, {"name": "b"}, {"name": "h"}],
            }
        )
        nodes.append({"name": f"h{i}", "interfaces": [{"name": "eth0"}]})
        links.append({"kind": "veth", "a": f"h{i}:eth0", "b": f"r{i}:h"})
        if i:
            links.append({"kind": "veth", "a": f"r{i - 1}:b", "b": f"r{i}:a"})
    return Topology.model_validate(
        {"name": "bench", "addressing": {"auto": True}, "nodes": nodes, "links": links}
    )


def timed(label: str, fn: object) -> object:
    start = time.perf_counter()
    result = fn()  # type: ignore[operator]
    print(f"{label:48} {time.perf_counter() - start:8.3f} s")
    return result


def main() -> None:
    routers = int(sys.argv[1]) if len(sys.argv) > 1 else 250
    topology = chain(routers)
    print(f"{len(topology.nodes)} nodes, {len(topology.links)} links")
    timed("validate (auto on: includes trial addressing)", lambda: validate(topology))
    built = timed("auto_address (subnets + per-prefix routes)", lambda: auto_address(topology))
    assert isinstance(built, Topology)
    routes = sum(len(n.routes) for n in built.nodes)
    print(f"{'static routes computed':48} {routes:8d}")
    timed("validate (addressed, every route checked)", lambda: validate(built))
    print(f"{'expanded document size (MiB, JSON)':48} {len(dumps(built, 'json')) / 2**20:8.2f}")
    # What is stored is the document as drawn (auto on), not its expansion.
    text = timed("dumps json (as stored)", lambda: dumps(topology, "json"))
    timed("loads json (parse + validate)", lambda: loads(str(text), "json"))
    text = timed("dumps yaml (as stored)", lambda: dumps(topology, "yaml"))
    timed("loads yaml (parse + validate)", lambda: loads(str(text), "yaml"))


if __name__ == "__main__":
    main()
