"""Telemetry figures: sampler CPU for 1,000 interfaces at 1 Hz, and capture rate.

Run as root: `.venv/bin/python bench/telemetry.py [--seconds 20] [--packets 300000]`.
Makes its own `tltel-bench-*` namespaces and removes them at the end, also on failure.

1. Counters: 50 namespaces x 10 veth pairs = 1,000 interfaces. The agent's work per
   period (RTM_GETSTATS dumps, rates, the `counters` payloads and their JSON) is run
   at 1 Hz; CPU = process CPU time / wall time. Also: the cost of one sample in a
   tight loop, and of one pyroute2 generic link dump for comparison.
2. Capture: UDP flood from namespace a to b over a veth (a separate process sends a
   fixed number of packets as fast as it can); captured on b's eth0 by (i) plain
   root tcpdump -w (baseline) and (ii) Topolab's capture (sandboxed tcpdump with -w
   and --print, lines read and batched by Python). Prints packets/s into the pcap
   and kernel drops for each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.kernel.stats import NamespaceStats
from worker.telemetry.agent import counters_payload
from worker.telemetry.capture import CaptureManager, CaptureSpec, parse_tcpdump_stats
from worker.telemetry.counters import Sampler

LAB = f"tb{secrets.token_hex(2)}"  # the capture's nodes are a lab's, as the engine makes them
PREFIX = f"tl-{LAB}"
made: list[str] = []


def ip(*args: str, stdin: str | None = None) -> None:
    subprocess.run(["ip", *args], input=stdin, text=True, check=True, capture_output=True)


def ns(name: str) -> str:
    full = f"{PREFIX}-{name}"
    ip("netns", "add", full)
    made.append(full)
    ip("-n", full, "link", "set", "lo", "up")
    return full


def lab_ns(node: str) -> str:
    from lab.topology import naming
    from worker.kernel import default_kernel

    full = naming.namespace_name(LAB, node)
    default_kernel().ns_create(full, naming.owner_alias(LAB, node), LAB)
    default_kernel().release()
    made.append(full)
    return full


def cleanup() -> None:
    from worker import sandbox
    from worker.kernel import default_kernel

    sandbox.teardown(LAB)
    for name in reversed(made):
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    default_kernel().lab_release(LAB)


def bench_counters(seconds: int) -> None:
    names = [ns(f"c{i}") for i in range(50)]
    for name in names:
        batch = "".join(f"link add v{i}a type veth peer v{i}b\n" for i in range(10))
        batch += "".join(f"link set v{i}a up\nlink set v{i}b up\n" for i in range(10))
        ip("-n", name, "-batch", "-", stdin=batch)
    with Sampler() as sampler:
        sampler.watch(names)
        rows = sampler.sample()
        print(f"counters: {len(rows)} interfaces in {len(names)} namespaces")
        t0 = time.perf_counter()
        n = 50
        for _ in range(n):
            rows = sampler.sample()
            json.dumps(counters_payload("bench", "bench", rows))
        per_sample = (time.perf_counter() - t0) / n
        print(
            f"counters: one sample of {len(rows)} interfaces (+payload JSON) = "
            f"{per_sample * 1e3:.2f} ms ({per_sample / len(rows) * 1e6:.1f} us/interface)"
        )
        stats = [NamespaceStats(name) for name in names]
        try:
            t0 = time.perf_counter()
            total = sum(len(s.counters()) for _ in range(n) for s in stats)
            raw = (time.perf_counter() - t0) / total
        finally:
            for s in stats:
                s.close()
        print(f"counters: raw RTM_GETSTATS dump + unpack = {raw * 1e6:.1f} us/interface")
        cpu0, wall0 = time.process_time(), time.monotonic()
        next_at = wall0
        for _ in range(seconds):
            rows = sampler.sample()
            json.dumps(counters_payload("bench", "bench", rows))
            next_at += 1.0
            time.sleep(max(0.0, next_at - time.monotonic()))
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        print(
            f"counters: 1 Hz for {wall:.1f} s: CPU {cpu:.3f} s = "
            f"{cpu / wall * 100:.2f} % of one core "
            f"(target < 5 %: {'OK' if cpu / wall < 0.05 else 'MISSED'})"
        )
    try:
        from pyroute2 import NetNS

        with NetNS(names[0]) as nl:
            nl.get_links()  # warm up the proxy
            t0 = time.perf_counter()
            counts = [len(list(nl.get_links())) for _ in range(5)]
            dt = (time.perf_counter() - t0) / 5
            links = range(max(counts))
        print(
            f"counters: pyroute2 get_links() of {len(links)} interfaces = {dt * 1e3:.2f} ms "
            f"({dt / len(links) * 1e6:.0f} us/interface) for comparison"
        )
    except Exception as exc:  # comparison only
        print(f"counters: pyroute2 comparison skipped: {exc}")


SENDER = r"""
import socket, sys, time
n = int(sys.argv[1]); dst = sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
payload = b"x" * 18
t0 = time.perf_counter(); sent = 0
while sent < n:
    try:
        s.sendto(payload, (dst, 9999)); sent += 1
    except BlockingIOError:
        pass
print(sent, time.perf_counter() - t0)
"""


def _flood(a: str, dst: str, packets: int) -> tuple[int, float]:
    out = subprocess.run(
        ["ip", "netns", "exec", a, sys.executable, "-c", SENDER, str(packets), dst],
        capture_output=True,
        text=True,
        check=True,
    )
    sent, secs = out.stdout.split()
    return int(sent), float(secs)


ROUNDS = 3
BASELINE_OPTS = os.environ.get("BENCH_TCPDUMP_OPTS", "-B 32768").split()


def bench_capture(packets: int) -> None:
    a, b = lab_ns("a"), lab_ns("b")
    ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "tmpb0")
    ip("-n", a, "link", "set", "tmpb0", "netns", b)
    ip("-n", b, "link", "set", "tmpb0", "name", "eth0")
    for n, addr in ((a, "10.99.0.1/24"), (b, "10.99.0.2/24")):
        ip("-n", n, "addr", "add", addr, "dev", "eth0")
        ip("-n", n, "link", "set", "eth0", "up")
    # a static neighbour, so no ARP is in the count
    mac = json.loads(
        subprocess.run(
            ["ip", "-n", b, "-j", "link", "show", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]["address"]
    ip("-n", a, "neigh", "replace", "10.99.0.2", "lladdr", mac, "dev", "eth0", "nud", "permanent")
    _flood(a, "10.99.0.2", 2000)  # warm up
    tmp = Path(tempfile.mkdtemp(prefix="tltel-bench-"))
    os.chmod(tmp, 0o711)  # noqa: S103 - the capture user traverses to its own dir
    best_ours = 0.0
    ours_drops = 0
    try:
        # Alternate the two, three rounds: the machine is shared, so one run is noise.
        for round_no in range(1, ROUNDS + 1):
            # (i) baseline: tcpdump alone, as root, -w only
            pcap = tmp / f"baseline{round_no}.pcap"
            proc = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    b,
                    "tcpdump",
                    "-i",
                    "eth0",
                    "-n",
                    "-U",
                    "-w",
                    str(pcap),
                    *BASELINE_OPTS,
                    "udp",
                    "port",
                    "9999",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.0)
            sent, secs = _flood(a, "10.99.0.2", packets)
            time.sleep(1.5)  # libpcap's 1 s block timeout
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            got, drops = parse_tcpdump_stats(err)
            pcap.unlink(missing_ok=True)
            print(
                f"capture round {round_no} baseline (tcpdump -w, root): "
                f"sent {sent} in {secs:.2f} s "
                f"({sent / secs:,.0f} pps offered); captured {got} "
                f"({got / secs:,.0f} pps into pcap), kernel drops {drops}"
            )
            # (ii) Topolab capture: sandboxed tcpdump -w --print, lines through Python
            lines = [0]

            def sink(_cid: str, batch: list[str], lines: list[int] = lines) -> None:
                lines[0] += len(batch)

            mgr = CaptureManager(tmp / "captures")
            spec = CaptureSpec(LAB, "b", "eth0", "udp port 9999", max_bytes=1 << 30)
            cap = mgr.start(spec, sink=sink)
            sent, secs = _flood(a, "10.99.0.2", packets)
            result = cap.stop()  # waits out the block timeout itself
            mgr.forget(cap.id)
            rate = result.packets / secs
            if result.kernel_drops == 0:
                best_ours = max(best_ours, rate)
            ours_drops += result.kernel_drops
            print(
                f"capture round {round_no} topolab (sandboxed tcpdump -w --print): sent {sent} in "
                f"{secs:.2f} s ({sent / secs:,.0f} pps offered); captured {result.packets} "
                f"({rate:,.0f} pps into pcap), kernel drops {result.kernel_drops}, "
                f"{lines[0]} lines to the page (50 per 200 ms + 'N more' lines)"
            )
        ok = ours_drops == 0 and best_ours >= 50_000
        print(
            f"capture: best zero-drop rate {best_ours:,.0f} pps, kernel drops over all rounds "
            f"{ours_drops}; target >= 50k pps with zero kernel drops: {'OK' if ok else 'MISSED'} "
            "(the rate is what one Python sender offers on this shared 2-core box)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--packets", type=int, default=300_000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (network namespaces)")
        return 1
    try:
        bench_counters(args.seconds)
        bench_capture(args.packets)
    finally:
        cleanup()
    left = [
        n
        for n in re.findall(
            r"^(\S+)",
            subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True, check=False
            ).stdout,
            re.M,
        )
        if n.startswith(PREFIX)
    ]
    if left:
        print(f"left behind: {left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
