"""Demo library benchmark: deploy (with programs), run and destroy every demo.

    .venv/bin/python bench/demos.py [--repeat 2]

Prints per demo the seconds to deploy (the engine, programs started and serving),
to run (probes, views, journey) and to destroy, and the run / deploy ratio.
Run as root.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.demos import DEMOS
from lab.topology.load import load_topology
from worker import demos, engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"{'demo':18} {'deploy s':>9} {'run s':>7} {'destroy s':>10} {'run/deploy':>11} ok")
    for demo in DEMOS:
        deploys, runs, destroys, ok = [], [], [], True
        for _ in range(args.repeat):
            key = f"bd{secrets.token_hex(4)}"
            try:
                t0 = time.perf_counter()
                engine.deploy(load_topology(demo.topology), key)
                t1 = time.perf_counter()
                ok = demos.run_demo(key, demo).passed and ok
                t2 = time.perf_counter()
            finally:
                t3 = time.perf_counter()
                engine.destroy(key)
                t4 = time.perf_counter()
            deploys.append(t1 - t0)
            runs.append(t2 - t1)
            destroys.append(t4 - t3)
        d, r, x = (statistics.median(v) for v in (deploys, runs, destroys))
        print(f"{demo.slug:18} {d:9.2f} {r:7.2f} {x:10.2f} {r / d:11.1f} {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
