"""Node sandbox figures: console start-up, and memory per node sandbox.

Run as root: `.venv/bin/python bench/sandbox.py [--nodes 50] [--rounds 10]`.
Makes its own lab (`tl-sbx<random>-*` namespaces, owned by the lab's user
namespace as the engine makes them) and removes it at the end, also on failure.

1. Console: time from asking for a shell on a pty to its first prompt, through
   `worker.telemetry.console.Console` (the node sandbox: PID, mount, user namespaces,
   cgroups), cold (the node's init starts first) and warm (it runs), against the
   baseline of the same shell on a pty entered with `nsenter --net` alone (what a
   bare namespace costs, with no isolation at all), measured in the same run.
2. Memory: the node inits of N nodes (each a `unshare` holder and `catatonit`), their
   proportional set size (Pss from /proc/<pid>/smaps_rollup) and the host's
   MemAvailable drop, against N `sleep infinity` processes in the same namespaces
   (the least a held namespace costs).
"""

from __future__ import annotations

import argparse
import os
import pty
import secrets
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.topology import naming
from worker import sandbox
from worker.kernel import default_kernel
from worker.telemetry.console import Console, ConsoleSpec

LAB = f"sbx{secrets.token_hex(2)}"
SHELL = ["/bin/bash", "--noprofile", "--norc", "-i"]
ENV = {"PATH": sandbox.SAFE_PATH, "TERM": "dumb", "PS1": "ready# "}


def make_nodes(count: int) -> list[str]:
    k = default_kernel()
    nodes = [f"n{i}" for i in range(count)]
    for node in nodes:
        k.ns_create(naming.namespace_name(LAB, node), naming.owner_alias(LAB, node), LAB)
    k.release()
    return nodes


def cleanup(nodes: list[str]) -> None:
    sandbox.teardown(LAB)
    k = default_kernel()
    for node in nodes:
        subprocess.run(["ip", "netns", "delete", naming.namespace_name(LAB, node)], check=False)
    k.lab_release(LAB)


def read_until(fd: int, marker: bytes = b"# ", timeout: float = 10.0) -> None:
    """Read a pty until ``marker`` shows (a shell's prompt by default).

    Raises:
        RuntimeError: it did not show within ``timeout`` seconds.
    """
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    if marker not in seen:
        raise RuntimeError(f"no {marker!r}: {seen[-200:]!r}")


def bare_shell(namespace: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``bash -i`` on a pty in ``namespace`` with nsenter alone; return it and the pty."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{namespace}", "--", *SHELL],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    return proc, master


def baseline_console(node: str) -> float:
    start = time.perf_counter()
    proc, master = bare_shell(naming.namespace_name(LAB, node), ENV)
    read_until(master)
    took = time.perf_counter() - start
    proc.kill()
    proc.wait()
    os.close(master)
    return took


def topolab_console(node: str) -> float:
    start = time.perf_counter()
    console = Console(ConsoleSpec(lab=LAB, node=node))
    try:
        read_until(console.fileno())
        return time.perf_counter() - start
    finally:
        console.close()


def bench_consoles(nodes: list[str], rounds: int) -> None:
    cold = [topolab_console(node) for node in nodes[:rounds]]  # each starts its node's init
    warm = [topolab_console(nodes[i % len(nodes[:rounds])]) for i in range(rounds)]
    base = [baseline_console(nodes[i % len(nodes)]) for i in range(rounds)]
    b, c, w = statistics.median(base), statistics.median(cold), statistics.median(warm)
    print(f"console to first prompt, median of {rounds} (ms)")
    print(f"  baseline nsenter --net + bash   {b * 1000:7.1f}")
    print(f"  sandbox, node init running      {w * 1000:7.1f}   ratio {w / b:5.2f}x")
    print(f"  sandbox, node init starting     {c * 1000:7.1f}   ratio {c / b:5.2f}x")


def _pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def bench_memory(nodes: list[str]) -> None:
    sandbox.teardown(LAB)  # no init runs: start from namespaces alone
    time.sleep(1)
    before = _available_kib()
    sleepers = [
        subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{naming.namespace_name(LAB, n)}", "--", "sleep", "inf"]
        )
        for n in nodes
    ]
    time.sleep(1)
    base_pss = sum(_pss_kib(p.pid) for p in sleepers)
    base_avail = before - _available_kib()
    for proc in sleepers:
        proc.kill()
        proc.wait()
    time.sleep(1)
    before = _available_kib()
    inits = [sandbox.ensure_init(LAB, node) for node in nodes]
    time.sleep(1)
    pss = sum(_pss_kib(i.holder) + _pss_kib(i.init) for i in inits)
    avail = before - _available_kib()
    n = len(nodes)
    print(f"memory per node, {n} nodes (KiB)")
    print(f"  baseline sleep in the namespace  Pss {base_pss / n:7.1f}   MemAvailable drop "
          f"{base_avail / n:7.1f}")  # fmt: skip
    print(f"  node sandbox (unshare+catatonit) Pss {pss / n:7.1f}   MemAvailable drop "
          f"{avail / n:7.1f}   Pss ratio {pss / max(base_pss, 1):5.2f}x")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    nodes = make_nodes(max(args.nodes, args.rounds))
    try:
        bench_consoles(nodes, args.rounds)
        bench_memory(nodes)
    finally:
        cleanup(nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
