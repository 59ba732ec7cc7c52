"""Memory: the lab host's processes and the kernel with many labs running.

    .venv/bin/python bench/memory.py [--labs 30] [--bare 300]

Starts the product (``bench/stack.py``), then deploys ``--labs`` labs of 10 nodes
(a router and 9 hosts, one user each) through the API. Prints

* the RSS and Pss of the lab host's Celery worker (all its processes) and of its telemetry
  agent, idle and with the labs running (the agent sampling all of them: one
  websocket viewer per lab keeps them watched);
* the kernel's memory per lab node: the drop of ``MemAvailable`` (and the rise of
  ``Slab`` and ``Percpu``) in ``/proc/meminfo`` over the deploy, divided by the
  nodes, against the baseline of ``--bare`` bare namespaces (``ip netns add``, lo up)
  measured the same way in the same run, per namespace.

Other sessions on a shared machine move ``/proc/meminfo`` too: read the per-node
figures as an estimate (each is the median of three samples).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import connect

from bench.stack import Client, Stack, begin, finish, pss_kib, rss_kib

FIELDS = ("MemAvailable", "Slab", "Percpu")


def meminfo() -> dict[str, int]:
    """The ``FIELDS`` of /proc/meminfo in KiB, each the median of three reads 0.3 s apart."""
    reads: list[dict[str, int]] = []
    for _ in range(3):
        values = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in FIELDS:
                values[name] = int(rest.split()[0])
        reads.append(values)
        time.sleep(0.3)
    return {f: int(statistics.median(r[f] for r in reads)) for f in FIELDS}


def per_unit(before: dict[str, int], after: dict[str, int], units: int) -> dict[str, float]:
    """KiB per unit: MemAvailable drop, Slab and Percpu rise."""
    return {
        "available_drop": (before["MemAvailable"] - after["MemAvailable"]) / units,
        "slab": (after["Slab"] - before["Slab"]) / units,
        "percpu": (after["Percpu"] - before["Percpu"]) / units,
    }


def bare_namespaces(count: int) -> dict[str, float]:
    """KiB per bare namespace (``ip netns add`` + lo up), measured then removed."""
    prefix = f"tlmem{secrets.token_hex(2)}-"
    names = [f"{prefix}{i}" for i in range(count)]
    time.sleep(1.0)
    before = meminfo()
    try:
        batch = "".join(f"netns add {n}\n" for n in names)
        subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
        for n in names:
            subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
        time.sleep(1.0)
        after = meminfo()
    finally:
        subprocess.run(
            ["ip", "-force", "-batch", "-"],
            text=True,
            check=False,
            input="".join(f"netns del {n}\n" for n in names),
        )
    return per_unit(before, after, count)


def lab_host_rss(stack: Stack) -> dict[str, int]:
    """KiB resident: the worker's processes summed, the agent's; RSS and Pss.

    The Celery worker forks its pool: summed RSS counts the pages they share once per
    process, Pss splits them (the figure that adds up).
    """
    pids = stack.lab_host_pids()
    out = {role: sum(rss_kib(p) for p in group) for role, group in pids.items()}
    out.update({f"{role} pss": sum(pss_kib(p) for p in group) for role, group in pids.items()})
    return out


async def _watch_all(stack: Stack, targets: list[tuple[Client, int]], seconds: float) -> int:
    async def one(client: Client, lab: int) -> int:
        url = f"ws://127.0.0.1:{stack.port}/ws/labs/{lab}/"
        seen = 0
        async with connect(
            url, origin=client.base, additional_headers=client.ws_headers(), max_size=2**24
        ) as ws:
            until = time.monotonic() + seconds
            while (left := until - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(ws.recv(), timeout=left)
                    seen += 1
                except TimeoutError:
                    break
        return seen

    return sum(await asyncio.gather(*(one(c, lab) for c, lab in targets)))


def main() -> int:
    """Deploy the labs and print the memory figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labs", type=int, default=30)
    parser.add_argument("--bare", type=int, default=300)
    args = parser.parse_args()
    if not begin():
        return 2
    bare = bare_namespaces(args.bare)
    with Stack(concurrency=4) as stack:  # the product's default worker concurrency
        labs = stack.labs("mem", args.labs)
        time.sleep(6)  # the agent's first discoveries
        idle = lab_host_rss(stack)
        time.sleep(1.0)
        before = meminfo()
        stack.deploy_all(labs)
        time.sleep(1.0)
        after = meminfo()
        nodes = 10 * args.labs
        events = asyncio.run(_watch_all(stack, labs, 8))
        busy = lab_host_rss(stack)
        kernel = per_unit(before, after, nodes)
    print(f"{'process':<10} {'idle MiB':>9} {f'{args.labs} labs MiB':>12}")
    for role in ("worker", "agent", "worker pss", "agent pss"):
        print(f"{role:<10} {idle[role] / 1024:9.1f} {busy[role] / 1024:12.1f}")
    print(f"(agent sampled all {args.labs} labs: {events} events to {args.labs} viewers in 8 s)")
    print(f"{'kernel KiB per':<22} {'MemAvailable drop':>17} {'Slab':>7} {'Percpu':>7}")
    rows: list[tuple[str, dict[str, float]]] = [
        (f"lab node ({nodes})", kernel),
        (f"bare netns ({args.bare})", bare),
    ]
    for label, row in rows:
        print(f"{label:<22} {row['available_drop']:17.1f} {row['slab']:7.1f} {row['percpu']:7.1f}")
    if bare["available_drop"] > 0:
        ratio = kernel["available_drop"] / bare["available_drop"]
        print(f"lab node / bare netns (MemAvailable): {ratio:.2f}x")
    return finish(
        {
            "rss_idle_kib": idle,
            "rss_busy_kib": busy,
            "kernel_per_node_kib": kernel,
            "bare_per_ns_kib": bare,
        }
    )


if __name__ == "__main__":
    sys.exit(main())
