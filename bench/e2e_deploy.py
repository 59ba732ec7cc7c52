"""End-to-end deploy time against the engine alone: the orchestration's overhead.

Starts a private Redis, a file database and one real lab host (a Celery worker
process), then for a 100-node star measures

* e2e: from the API call (``POST /api/labs/<id>/deploy`` through Django) to the
  ``deploy.state`` event saying ``running`` on the lab's channel group;
* engine: ``worker.engine.deploy`` of the same topology in this process;

and prints both and their ratio (target: e2e <= 1.3 x engine). Run as root:

    .venv/bin/python bench/e2e_deploy.py [--nodes 100] [--rounds 3]

Everything it starts it ends by PID; every namespace it makes it removes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SETTLE_S = 1.0  # the kernel's asynchronous namespace cleanup after a destroy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (network namespaces)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="topolab-bench-"))
    port = free_port()
    sock = tmp / "redis.sock"
    redis = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    worker: subprocess.Popen[bytes] | None = None
    host = f"bench{random.randrange(16**6):06x}"
    base = random.randrange(5000, 9000) * 1000
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "lab.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "TOPOLAB_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "TOPOLAB_VAR_DIR": str(tmp),
            "TOPOLAB_HOST_NAME": host,
            "TOPOLAB_SWEEP_KEYS": rf"^l{base // 1000}\d{{3}}$",
            "TOPOLAB_LOG_LEVEL": "WARNING",
        }
    )
    engine_keys: list[str] = []
    lab_keys: list[str] = []
    try:
        time.sleep(0.3)
        import django
        from django.conf import settings

        django.setup()

        class _NoMigrations:
            def __contains__(self, item: str) -> bool:
                return True

            def __getitem__(self, item: str) -> None:
                return None

        # No migration files are needed for a throwaway database: tables from models.
        settings.MIGRATION_MODULES = _NoMigrations()
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0)

        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
        from django.contrib.auth import get_user_model
        from django.test import Client

        from lab import services
        from lab.events import lab_group
        from lab.models import Deployment, Lab, LabHost, TopologyRevision
        from lab.topology.load import load_topology
        from worker import engine

        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery", "worker", "-Q",
             f"host.{host},control", "--concurrency", "2", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=dict(os.environ), start_new_session=True,
            stdout=(tmp / "worker.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not LabHost.objects.filter(name=host).exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(
                    "the worker did not come up: " + (tmp / "worker.log").read_text()
                )
            time.sleep(0.2)

        user = get_user_model().objects.create_user("bench")
        client = Client()
        client.force_login(user)
        doc = star(args.nodes)
        topology = load_topology(doc)
        layer = get_channel_layer()

        def e2e_round(n: int) -> float:
            lab = Lab.objects.create(pk=base + n, owner=user, name=f"bench{n}",
                                     host=LabHost.objects.get(name=host))  # fmt: skip
            lab_keys.append(lab.key)
            TopologyRevision.objects.create(
                lab=lab, number=1, document=services.canonical_document(topology)
            )

            async def run() -> float:
                channel = await layer.new_channel()
                await layer.group_add(lab_group(lab.pk), channel)
                start = time.perf_counter()
                response = await asyncio.to_thread(client.post, f"/api/labs/{lab.pk}/deploy")
                if response.status_code == 404:
                    # The API route is not there: call the service it calls.
                    await asyncio.to_thread(services.do_request_deploy, lab, user)
                elif response.status_code != 202:
                    raise RuntimeError(
                        f"deploy refused: {response.status_code} {response.content!r}"
                    )
                while True:
                    msg = await asyncio.wait_for(layer.receive(channel), timeout=300)
                    event = msg["event"]
                    if event["type"] == "deploy.state" and event["deployment"]["state"] in (
                        "running",
                        "failed",
                    ):
                        if event["deployment"]["state"] != "running":
                            raise RuntimeError(f"deploy failed: {event['deployment']}")
                        return time.perf_counter() - start

            elapsed = async_to_sync(run)()
            dep = services.do_request_destroy(Lab.objects.get(pk=lab.pk), user)
            while not Deployment.objects.get(pk=dep.pk).is_final:
                time.sleep(0.1)
            return elapsed

        def engine_round(n: int) -> float:
            key = f"benche{base // 1000}_{n}"
            engine_keys.append(key)
            start = time.perf_counter()
            engine.deploy(topology, lab=key)
            elapsed = time.perf_counter() - start
            engine.destroy(key)
            return elapsed

        e2e: list[float] = []
        alone: list[float] = []
        for n in range(1, args.rounds + 1):
            # Alternate, so both see the same machine load; before each, let the kernel
            # finish freeing the namespaces of the last destroy (cleanup_net runs after
            # the names are gone and takes a core for a while), as bench/deploy.py does.
            time.sleep(SETTLE_S)
            alone.append(engine_round(n))
            time.sleep(SETTLE_S)
            e2e.append(e2e_round(n))
        e, a = statistics.median(e2e), statistics.median(alone)
        print(f"nodes={args.nodes} rounds={args.rounds}")
        print(f"engine alone     : median {a:.2f}s  ({', '.join(f'{x:.2f}' for x in alone)})")
        print(f"API -> running   : median {e:.2f}s  ({', '.join(f'{x:.2f}' for x in e2e)})")
        print(f"overhead ratio   : {e / a:.2f}x (target <= 1.30x)")
        last = Deployment.objects.filter(action="deploy").order_by("-id").first()
        if last is not None and last.started and last.finished:
            queued = (last.started - last.created).total_seconds()
            print(f"queue latency    : {queued:.2f}s (request saved -> worker started)")
            print("worker phases    : " + "; ".join(x for x in last.log if x.startswith("timing")))
        return 0
    finally:
        if worker is not None:
            try:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        for key in engine_keys + lab_keys:
            try:
                from worker import engine as _engine

                _engine.destroy(key)
            except Exception as exc:
                print(f"cleanup of {key}: {exc}", file=sys.stderr)
        redis.terminate()
        redis.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
