"""Deploy and destroy benchmark: the engine against `ip -batch` and one `ip` per op.

    .venv/bin/python bench/deploy.py [--sizes 25 50 100 200] [--repeat 3]

Builds and destroys a star (N hosts on one switch) and a chain of N routers
three ways, from the same plan: the engine; `ip -batch` files generated from
that plan (one root batch making namespaces and devices with `netns` on both
veth ends, then one `ip -n NS -batch` per namespace for alias, master, up,
addresses and routes; iproute2 has no sysctl command, so forwarding is set
with one `ip netns exec NS sysctl` per router); and one `ip` process per
operation. Prints times, the engine / `ip -batch` ratios, and per-node costs
for each size (the cost should stay linear). Run as root.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.topology import naming
from lab.topology.limits import Limits
from lab.topology.load import load_topology
from lab.topology.schema import Topology
from worker import engine
from worker.ops import (
    DeleteLink,
    DeleteNamespace,
    MakeBridge,
    MakeNamespace,
    MakeVeth,
    Op,
    ReplaceAddress,
    ReplaceRoute,
    SetMaster,
    SetSysctl,
    SetUp,
)
from worker.plan import Plan
from worker.plan import plan as make_plan
from worker.state import LabState


def _limits() -> Limits:
    try:
        return Limits(max_nodes=1000)
    except TypeError:
        return Limits()


def star(n: int) -> Topology:
    """N hosts on one switch."""
    net = ipaddress.ip_network("10.0.0.0/16")
    return load_topology(
        {
            "name": "star",
            "nodes": [
                {
                    "name": "s",
                    "kind": "switch",
                    "interfaces": [{"name": f"p{i}"} for i in range(n)],
                },
                *(
                    {
                        "name": f"h{i}",
                        "interfaces": [{"name": "eth0", "addresses": [f"{net[i + 1]}/16"]}],
                    }
                    for i in range(n)
                ),
            ],
            "links": [{"a": f"h{i}:eth0", "b": f"s:p{i}"} for i in range(n)],
        },
        _limits(),
    )


def chain(n: int) -> Topology:
    """N routers in a line, a /30 per link, a default route towards the next router."""
    base = ipaddress.ip_network("10.0.0.0/8")
    nodes = []
    for i in range(n):
        ifaces = []
        if i > 0:
            ifaces.append({"name": "left", "addresses": [f"{base[(i - 1) * 4 + 2]}/30"]})
        if i < n - 1:
            ifaces.append({"name": "right", "addresses": [f"{base[i * 4 + 1]}/30"]})
        node: dict[str, object] = {"name": f"r{i}", "kind": "router", "interfaces": ifaces}
        if i < n - 1:
            node["gateway"] = str(base[i * 4 + 2])
        nodes.append(node)
    links = [{"a": f"r{i}:right", "b": f"r{i + 1}:left"} for i in range(n - 1)]
    return load_topology({"name": "chain", "nodes": nodes, "links": links}, _limits())


# -- iproute2 renderings of a plan ------------------------------------------------------------


def ip_commands(op: Op) -> list[tuple[str | None, list[str]]]:
    """Return ``(namespace or None, ip argv tail)`` for one op."""
    if isinstance(op, MakeNamespace):
        alias = naming.owner_alias(op.lab, op.node)
        return [
            (None, ["netns", "add", op.ns]),
            (op.ns, ["link", "set", "lo", "up"]),
            (op.ns, ["link", "set", "lo", "alias", alias]),
        ]
    if isinstance(op, MakeBridge):
        return [
            (None, ["link", "add", op.name, "netns", op.ns, "type", "bridge", "stp_state", "0"]),
            (op.ns, ["link", "set", op.name, "alias", naming.owner_alias(op.lab)]),
        ]
    if isinstance(op, MakeVeth):
        alias = naming.owner_alias(op.lab)
        return [
            (None, ["link", "add", op.name, "netns", op.ns, "type", "veth", "peer", "name",
                    op.peer, "netns", op.peer_ns]),
            (op.ns, ["link", "set", op.name, "alias", alias]),
            (op.peer_ns, ["link", "set", op.peer, "alias", alias]),
        ]  # fmt: skip
    if isinstance(op, SetMaster):
        return [(op.ns, ["link", "set", op.name, "master", str(op.master)])]
    if isinstance(op, SetUp):
        return [(op.ns, ["link", "set", op.name, "up"])]
    if isinstance(op, ReplaceAddress):
        return [(op.ns, ["addr", "replace", op.address, "dev", op.dev])]
    if isinstance(op, ReplaceRoute):
        argv = ["route", "replace", op.dst]
        if op.via:
            argv += ["via", op.via]
        if op.dev:
            argv += ["dev", op.dev]
        return [(op.ns, argv)]
    if isinstance(op, DeleteNamespace):
        return [(None, ["netns", "del", op.ns])]
    if isinstance(op, DeleteLink):
        return [(op.ns, ["link", "del", op.name])]
    raise ValueError(f"no ip rendering for {op.describe()}")


def run_ip_batch(plan: Plan, force: bool = False) -> None:
    """Apply ``plan`` with one root `ip -batch`, then one `ip -n NS -batch` per namespace.

    ``force``: go on past errors (`ip -force`), for an edit that deletes both ends of a
    veth, where the second delete finds its device already gone with the first.
    """
    flags = ["-force", "-batch", "-"] if force else ["-batch", "-"]
    root: list[str] = []
    per_ns: dict[str, list[str]] = {}
    sysctls: dict[str, list[str]] = {}
    for op in plan.ops:
        if isinstance(op, SetSysctl):
            sysctls.setdefault(op.ns, []).append(f"{op.key}={op.value}")
            continue
        for ns, argv in ip_commands(op):
            line = " ".join(argv)
            if ns is None:
                root.append(line)
            else:
                per_ns.setdefault(ns, []).append(line)
    if root:
        subprocess.run(["ip", *flags], input="\n".join(root) + "\n", text=True, check=not force)
    for ns, values in sysctls.items():
        subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *values],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    for ns, lines in per_ns.items():
        subprocess.run(
            ["ip", "-n", ns, *flags],
            input="\n".join(lines) + "\n",
            text=True,
            check=not force,
            stderr=subprocess.DEVNULL if force else None,
        )


def run_ip_each(plan: Plan) -> None:
    """Apply ``plan`` with one `ip` process per command."""
    for op in plan.ops:
        if isinstance(op, SetSysctl):
            subprocess.run(
                ["ip", "netns", "exec", op.ns, "sysctl", "-q", "-w", f"{op.key}={op.value}"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            continue
        for ns, argv in ip_commands(op):
            prefix = ["ip"] if ns is None else ["ip", "-n", ns]
            subprocess.run(prefix + argv, check=True)


def destroy_plan(lab: str, plan: Plan) -> Plan:
    """The ops that remove every namespace ``plan`` made."""
    return Plan(
        lab, tuple(DeleteNamespace(op.ns) for op in plan.ops if isinstance(op, MakeNamespace))
    )


def settle() -> None:
    """Let the kernel finish freeing namespaces (cleanup_net is asynchronous)."""
    time.sleep(1.0)


def measure(make: str, n: int, way: str) -> tuple[float, float]:
    """Deploy and destroy one lab one way; return (deploy s, destroy s)."""
    topology = star(n) if make == "star" else chain(n)
    lab = f"b{secrets.token_hex(3)}"
    plan = make_plan(topology, LabState(lab), engine.host_facts(), lab)
    try:
        t0 = time.perf_counter()
        if way == "engine":
            engine.deploy(topology, lab)
        elif way == "ip-batch":
            run_ip_batch(plan)
        else:
            run_ip_each(plan)
        t1 = time.perf_counter()
        if way == "engine":
            engine.destroy(lab)
        elif way == "ip-batch":
            run_ip_batch(destroy_plan(lab, plan))
        else:
            run_ip_each(destroy_plan(lab, plan))
        t2 = time.perf_counter()
    finally:
        remove_lab(lab)
    return t1 - t0, t2 - t1


def remove_lab(lab: str) -> None:
    """Destroy a benchmark lab, also what a baseline way left, and let the kernel settle."""
    engine.destroy(lab)
    for name in os.listdir("/run/netns"):
        if name.startswith(f"tl-{lab}-"):
            subprocess.run(["ip", "netns", "del", name], check=False)
    settle()


def measure_retrying(make: str, n: int, way: str) -> tuple[float, float]:
    """``measure``, retried when something outside disturbed the run.

    Other test sessions on a shared machine may delete namespaces they did not
    make (the suite's leak guard); a run they broke is simply made again.
    """
    for attempt in range(3):
        try:
            return measure(make, n, way)
        except (subprocess.CalledProcessError, engine.EngineError, engine.KernelError) as exc:
            print(f"  ({make} {n} {way}: run disturbed, again: {exc})", file=sys.stderr)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def best(make: str, n: int, way: str, repeat: int) -> tuple[float, float]:
    """Best of ``repeat`` runs (deploy and destroy each)."""
    runs = [measure_retrying(make, n, way) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[25, 50, 100, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeat-main", type=int, default=5, help="repeats at 100 nodes")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/deploy.py needs root")
    engine.host_facts()

    print(f"== 100 nodes, three ways (best of {args.repeat_main}, ip-each once; seconds)")
    print(f"{'topology':<8} {'way':<9} {'deploy':>8} {'destroy':>8}")
    for make in ("star", "chain"):
        results = {w: best(make, 100, w, args.repeat_main if w != "ip-each" else 1)
                   for w in ("ip-batch", "engine", "ip-each")}  # fmt: skip
        for way, (dep, des) in results.items():
            print(f"{make:<8} {way:<9} {dep:8.3f} {des:8.3f}")
        e, b, x = results["engine"], results["ip-batch"], results["ip-each"]
        print(
            f"{make:<8} ratio engine/ip-batch: deploy {e[0] / b[0]:.2f}x, destroy "
            f"{e[1] / b[1]:.2f}x;  ip-each/engine: deploy {x[0] / e[0]:.1f}x"
        )
    print()
    print(f"== scaling (best of {args.repeat}; ms per node)")
    print(f"{'topology':<8} {'nodes':>5} {'engine dep':>10} {'batch dep':>10} {'ratio':>6} "
          f"{'engine des':>10} {'batch des':>10} {'ratio':>6}")  # fmt: skip
    for make in ("star", "chain"):
        for n in args.sizes:
            e = best(make, n, "engine", args.repeat)
            b = best(make, n, "ip-batch", args.repeat)
            print(
                f"{make:<8} {n:>5} {e[0] * 1000 / n:10.2f} {b[0] * 1000 / n:10.2f} "
                f"{e[0] / b[0]:6.2f} {e[1] * 1000 / n:10.2f} {b[1] * 1000 / n:10.2f} "
                f"{e[1] / b[1]:6.2f}"
            )


if __name__ == "__main__":
    main()
