"""Consoles through the websocket: open -> first prompt, and keystroke echo latency.

    .venv/bin/python bench/consoles.py [--rounds 10] [--keys 50]

Starts the product (``bench/stack.py``), deploys a 10-node lab (a router and 9 hosts)
through the API, then opens consoles as the page does
(``/ws/labs/<id>/nodes/<node>/console``: web -> Redis -> the lab host's agent -> a
shell in the node sandbox):

* first prompt: from the websocket handshake to the first ``# `` of the shell, cold
  (the node's sandbox init starts with the first console of a node) and warm (the
  second console of the same node);
* echo: ``--keys`` keystrokes, one at a time, each timed from send to its echo.

Baseline, measured in the same run on the same nodes: ``bash -i`` on a local pty
entered with ``nsenter --net`` alone (no sandbox, no websocket, no Redis): its first
prompt and its keystroke echo. Prints medians, p95 and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import ClientConnection, connect

from bench.sandbox import bare_shell, read_until
from bench.stack import Client, Stack, begin, finish, percentile
from worker import sandbox


async def _until(ws: ClientConnection, marker: str, timeout: float = 20.0) -> None:
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        if text.startswith('{"type": "error"'):
            raise RuntimeError(text)
        seen += text


async def ws_console(
    stack: Stack, client: Client, lab: int, node: str, keys: int
) -> dict[str, Any]:
    """One console: seconds to the first prompt and each keystroke's echo."""
    url = f"ws://127.0.0.1:{stack.port}/ws/labs/{lab}/nodes/{node}/console"
    start = time.perf_counter()
    async with connect(url, origin=client.base, additional_headers=client.ws_headers()) as ws:
        await _until(ws, "# ")
        prompt = time.perf_counter() - start
        echoes = []
        for _ in range(keys):
            t0 = time.perf_counter()
            await ws.send("a")
            await _until(ws, "a")
            echoes.append(time.perf_counter() - t0)
        await ws.send("\x15exit\r")  # clear the line, leave the shell
    return {"prompt": prompt, "echo": echoes}


def pty_console(namespace: str, keys: int) -> dict[str, Any]:
    """The baseline: bash on a local pty in the node's network namespace only."""
    start = time.perf_counter()
    proc, master = bare_shell(
        namespace, {"PATH": sandbox.SAFE_PATH, "TERM": "xterm-256color", "PS1": "root# "}
    )
    try:
        read_until(master)
        prompt = time.perf_counter() - start
        echoes = []
        for _ in range(keys):
            t0 = time.perf_counter()
            os.write(master, b"a")
            read_until(master, b"a")
            echoes.append(time.perf_counter() - t0)
        return {"prompt": prompt, "echo": echoes}
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median prompt time, echo p50/p95 over every keystroke of ``runs`` (seconds)."""
    echoes = [x for r in runs for x in r["echo"]]
    return {
        "prompt": statistics.median(r["prompt"] for r in runs),
        "echo_p50": statistics.median(echoes),
        "echo_p95": percentile(echoes, 0.95),
    }


def main() -> int:
    """Open the consoles and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="nodes (at most 10)")
    parser.add_argument("--keys", type=int, default=50)
    args = parser.parse_args()
    if not begin():
        return 2
    from lab.topology import naming

    with Stack(concurrency=2) as stack:
        labs = stack.labs("console", 1)
        stack.deploy_all(labs)
        owner, lab_id = labs[0]
        key = stack.lab_keys()[0]
        nodes = (["r1"] + [f"h{i}" for i in range(9)])[: args.rounds]
        time.sleep(6)  # past the agent's lab discovery period

        async def sequence(nodes: list[str]) -> list[dict[str, Any]]:
            out = []
            for node in nodes:
                out.append(await ws_console(stack, owner, lab_id, node, args.keys))
                await asyncio.sleep(0.5)  # the agent ends the last shell (per-user cap)
            return out

        cold = asyncio.run(sequence(nodes))
        warm = asyncio.run(sequence(nodes))
        base = [pty_console(naming.namespace_name(key, n), args.keys) for n in nodes]
    b, c, w = summary(base), summary(cold), summary(warm)
    print(f"{len(nodes)} consoles each, {args.keys} keystrokes each (ms)")
    print(f"{'':<34} {'prompt':>8} {'echo p50':>9} {'echo p95':>9}")
    for label, s in (
        ("baseline: nsenter --net, local pty", b),
        ("websocket, node init starting", c),
        ("websocket, node init running", w),
    ):
        print(
            f"{label:<34} {s['prompt'] * 1000:8.1f} {s['echo_p50'] * 1000:9.2f} "
            f"{s['echo_p95'] * 1000:9.2f}"
        )
    print(
        f"ratios to baseline: prompt cold {c['prompt'] / b['prompt']:.1f}x, warm "
        f"{w['prompt'] / b['prompt']:.1f}x; echo p95 {w['echo_p95'] / b['echo_p95']:.1f}x"
    )
    return finish({"baseline": b, "cold": c, "warm": w})


if __name__ == "__main__":
    sys.exit(main())
