"""Scaling: star and chain from 50 to 500 nodes, the engine against `ip -batch`.

    .venv/bin/python bench/scaling.py [--sizes 50 100 200 300 400 500] [--repeat 2]
    .venv/bin/python bench/scaling.py --profile chain --profile-size 200

The star is N hosts on one switch: one bridge with N ports (the per-node interface
limit, ``lab/topology/limits.py``, is the Linux bridge's own 1024 ports, so no tree
of switches is needed up to 500). The chain is N routers in a line. Both are built
and destroyed by the engine and by `ip -batch` files rendered from the same plan
(``bench/deploy.py`` has the renderings), best of ``--repeat`` each, alternating.
Prints ms per node for each, the engine / `ip -batch` ratios, and the per-node
cost at the largest size over the smallest (flat means <= 1.3x).

``--profile KIND`` runs one engine deploy and destroy of that topology under
cProfile and prints the top functions of each by cumulative time, and the
kernel-side split of the destroy (system calls are not visible to cProfile: the
time spent inside ``umount2`` and ``unlink`` shows as those calls' own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import best, chain, remove_lab, star
from bench.stack import begin, finish
from worker import engine


def table(sizes: list[int], repeat: int) -> list[dict[str, float]]:
    """Measure every size of both topologies; print and return the rows."""
    rows: list[dict[str, float]] = []
    print(f"== scaling (best of {repeat}; ms per node)")
    print(
        f"{'topology':<8} {'nodes':>5} {'engine dep':>10} {'batch dep':>10} {'ratio':>6} "
        f"{'engine des':>10} {'batch des':>10} {'ratio':>6}"
    )
    for make in ("star", "chain"):
        for n in sizes:
            b = best(make, n, "ip-batch", repeat)
            e = best(make, n, "engine", repeat)
            row = {
                "nodes": n,
                "engine_deploy": e[0],
                "batch_deploy": b[0],
                "engine_destroy": e[1],
                "batch_destroy": b[1],
            }
            rows.append({"topology": 0.0 if make == "star" else 1.0, **row})
            print(
                f"{make:<8} {n:>5} {e[0] * 1000 / n:10.2f} {b[0] * 1000 / n:10.2f} "
                f"{e[0] / b[0]:6.2f} {e[1] * 1000 / n:10.2f} {b[1] * 1000 / n:10.2f} "
                f"{e[1] / b[1]:6.2f}",
                flush=True,
            )
        mine = [r for r in rows if r["topology"] == (0.0 if make == "star" else 1.0)]
        small, large = mine[0], mine[-1]
        flat_dep = (large["engine_deploy"] / large["nodes"]) / (
            small["engine_deploy"] / small["nodes"]
        )
        flat_des = (large["engine_destroy"] / large["nodes"]) / (
            small["engine_destroy"] / small["nodes"]
        )
        print(
            f"{make:<8} per-node cost {int(large['nodes'])} / {int(small['nodes'])}: "
            f"deploy {flat_dep:.2f}x, destroy {flat_des:.2f}x (goal <= 1.3x)"
        )
    return rows


def profile(make: str, n: int, top: int) -> None:
    """One engine deploy and destroy under cProfile; print the top functions of each."""
    topology = star(n) if make == "star" else chain(n)
    lab = f"b{secrets.token_hex(3)}"
    try:
        for what in ("deploy", "destroy"):
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            if what == "deploy":
                engine.deploy(topology, lab)
            else:
                engine.destroy(lab)
            prof.disable()
            took = time.perf_counter() - t0
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("cumulative").print_stats(top)
            print(f"== {make} {n}: engine {what} {took:.3f}s, by cumulative time")
            print("\n".join(out.getvalue().splitlines()[6:]))
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
            print(f"== {make} {n}: engine {what}, by own time")
            print("\n".join(out.getvalue().splitlines()[6:]))
    finally:
        remove_lab(lab)


def main() -> int:
    """Run the table (or the profile) and print it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 100, 200, 300, 400, 500])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", choices=["star", "chain"], default=None)
    parser.add_argument("--profile-size", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if not begin():
        return 2
    engine.host_facts()
    if args.profile:
        profile(args.profile, args.profile_size, args.top)
        return 0
    rows = table(args.sizes, args.repeat)
    return finish({"scaling": rows})


if __name__ == "__main__":
    sys.exit(main())
