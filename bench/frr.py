"""FRR benchmark: a chain of routers in one OSPF area, each running FRR in its sandbox.

    .venv/bin/python bench/frr.py [--routers 50]

Deploys r0 - r1 - ... - rN-1 (veth point-to-point links, OSPF point-to-point with
1 s hellos, a loopback /32 per router), then prints:

* the seconds to deploy (namespaces, links, FRR started in every router: ``running``),
* the seconds from ``running`` to full reachability: every router has an OSPF route
  to every other router's loopback in its kernel, and r0 pings the far end's loopback,
* memory per router: the RSS of its processes (watchfrr, zebra, staticd, ospfd), and
  the lab's cgroup memory (with the nodes' tmpfs) divided by the routers,
* CPU while converging: the worker's own (this process and its children; after
  ``running`` that is only the polling, ``ip -n`` from the host) and the FRR daemons'
  (their /proc times),

and the ratios convergence / deploy and FRR CPU / worker CPU. Run as root.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import rss_kib
from lab.topology import naming
from lab.topology.load import load_topology
from lab.topology.schema import Topology
from worker import engine, node_services, sandbox

HELLO = " ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n"


def loopback(i: int) -> str:
    return f"10.255.{i // 256}.{i % 256}"


def link_net(i: int) -> tuple[str, str]:
    """The two addresses of link i (r_i:eth1 - r_i+1:eth0), a /30 of 10.100.0.0/16."""
    base = 4 * i
    return (
        f"10.100.{base // 256}.{base % 256 + 1}/30",
        f"10.100.{base // 256}.{base % 256 + 2}/30",
    )


def chain(n: int) -> Topology:
    nodes = []
    for i in range(n):
        ifaces = []
        conf = f"frr defaults traditional\nhostname r{i}\n!\n"
        if i > 0:
            ifaces.append({"name": "eth0", "addresses": [link_net(i - 1)[1]]})
            conf += f"interface eth0\n{HELLO}!\n"
        if i < n - 1:
            ifaces.append({"name": "eth1", "addresses": [link_net(i)[0]]})
            conf += f"interface eth1\n{HELLO}!\n"
        conf += f"interface lo\n ip address {loopback(i)}/32\n!\n"
        conf += f"router ospf\n ospf router-id {loopback(i)}\n network 10.0.0.0/8 area 0\n!\n"
        nodes.append(
            {
                "name": f"r{i}",
                "kind": "router",
                "interfaces": ifaces,
                "files": {"/etc/frr/frr.conf": conf},
                "services": [{"kind": "frr", "daemons": ["ospfd"]}],
            }
        )
    links = [{"a": f"r{i}:eth1", "b": f"r{i + 1}:eth0"} for i in range(n - 1)]
    return load_topology({"name": "frr-chain", "nodes": nodes, "links": links})


def ospf_routes(key: str, node: str) -> int:
    """OSPF routes to loopbacks in the node's kernel, read from the host (``ip -n``): the
    poll must not cost what it measures (no sandboxed process per look)."""
    out = subprocess.run(
        ["ip", "-n", naming.namespace_name(key, node), "-4", "route", "show", "proto", "ospf"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return sum(1 for line in out.stdout.splitlines() if line.startswith("10.255."))


def process_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process, from the host's /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cgroup_memory(key: str) -> int:
    for directory in sandbox.cgroup_dirs(key):
        for name in ("memory.current", "memory.usage_in_bytes"):
            try:
                return int((directory / name).read_text())
            except OSError:
                continue
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    n = args.routers
    topology = chain(n)
    key = f"bf{secrets.token_hex(4)}"
    try:
        t0 = time.perf_counter()
        result = engine.deploy(topology, key)
        t1 = time.perf_counter()
        failed = [r for r in result.nodes if r.error]
        if failed:
            print(f"{len(failed)} router(s) failed: {failed[0].node}: {failed[0].error}")
            return 1
        daemons = [p for i in range(n) for p in node_services.node_processes(key, f"r{i}")]
        cpu0, frr0 = cpu_seconds(), process_cpu(daemons)
        pending = {f"r{i}" for i in range(n)}
        while pending and time.perf_counter() - t1 < args.timeout:
            pending = {r for r in pending if ospf_routes(key, r) < n - 1}
            if pending:
                time.sleep(0.2)
        t2 = time.perf_counter()
        cpu1, frr1 = cpu_seconds(), process_cpu(daemons)
        far = sandbox.run(key, "r0", ["ping", "-c", "1", "-W", "2", loopback(n - 1)])
        if pending or far.returncode != 0:
            print(f"not converged after {args.timeout:g}s: {sorted(pending)[:5]} ...")
            return 1
        rss = [
            sum(rss_kib(p) for p in node_services.node_processes(key, f"r{i}")) for i in range(n)
        ]
        memory = cgroup_memory(key)
        deploy_s, converge_s = t1 - t0, t2 - t1
        worker_cpu = cpu1 - cpu0
        frr_cpu = sum(frr1.get(p, c) - c for p, c in frr0.items())
        print(f"routers                      {n}")
        print(f"deploy to running (s)        {deploy_s:.2f}")
        print(f"running to reachability (s)  {converge_s:.2f}")
        print(f"convergence / deploy         {converge_s / deploy_s:.2f}")
        print(f"RSS per router (MiB)         {sum(rss) / n / 1024:.1f} (max {max(rss) / 1024:.1f})")
        print(f"lab cgroup per router (MiB)  {memory / n / 2**20:.1f}")
        share = worker_cpu / converge_s
        print(f"worker CPU converging (s)    {worker_cpu:.2f} ({share:.0%} of one core)")
        print(
            f"FRR CPU converging (s)       {frr_cpu:.2f} ({frr_cpu / converge_s:.0%} of one core)"
        )
        print(f"FRR CPU / worker CPU         {frr_cpu / worker_cpu:.2f}" if worker_cpu else "")
    finally:
        engine.destroy(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
