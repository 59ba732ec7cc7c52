"""Fixtures of the orchestration room: a file database shared with real worker processes,
the session's Redis (over its unix socket, so workers in other network namespaces reach
it), lab hosts in their own underlay namespaces, and labs with collision-free keys.

The test process and the Celery workers it starts share one SQLite file: this module
overrides pytest-django's ``django_db_setup`` (per test module) to build the tables in
that file, swaps the default connection onto it, and restores the session's own test
database afterwards. Tests use ``transactional_db`` so every write is committed and
visible to the workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ROOT,
    RedisServer,
    close_executor_connections,
    netns_names,
    point_celery_at,
)

PY = str(ROOT / ".venv" / "bin" / "python")


@dataclass
class Env:
    """What a worker subprocess needs to reach the test's database and Redis."""

    db_path: Path
    redis: RedisServer
    var_dir: Path
    key_base: int
    labs_made: int = 0  # across the module: a flushed table must not hand out a key again

    def worker_env(self, host: str, underlay: str | None = None) -> dict[str, str]:
        """A lab host's environment: Redis, its name and underlay; no database at all."""
        sock = self.redis.unix_path
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE") and not k.startswith("PG")
        }
        env.update(
            {
                "TOPOLAB_REDIS_URL": f"unix://{sock}?db=0",
                "TOPOLAB_BROKER_URL": f"redis+socket://{sock}?virtual_host=0",
                "TOPOLAB_RESULT_BACKEND": f"redis+socket://{sock}?virtual_host=0",
                # Each host its own journals: two hosts on one machine share nothing else.
                "TOPOLAB_VAR_DIR": str(self.var_dir / host),
                "TOPOLAB_HOST_NAME": host,
                "TOPOLAB_HEARTBEAT_INTERVAL": "1",
                "TOPOLAB_STALL_AFTER": "2",
                # Only this module's labs are ever swept: others test on this machine too.
                "TOPOLAB_SWEEP_KEYS": rf"^l{self.key_base // 1000}\d{{3}}$",
                "TOPOLAB_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if underlay:
            env["TOPOLAB_UNDERLAY"] = underlay
        else:
            env.pop("TOPOLAB_UNDERLAY", None)
        return env

    def control_env(self) -> dict[str, str]:
        """The control-plane consumer's environment: the database and Redis."""
        sock = self.redis.unix_path
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "lab.settings",
                "DATABASE_URL": f"sqlite:///{self.db_path}",
                "TOPOLAB_REDIS_URL": f"unix://{sock}?db=0",
                "TOPOLAB_BROKER_URL": f"redis+socket://{sock}?virtual_host=0",
                "TOPOLAB_RESULT_BACKEND": f"redis+socket://{sock}?virtual_host=0",
                "TOPOLAB_VAR_DIR": str(self.var_dir / "control"),
                "TOPOLAB_HOST_CHECK_INTERVAL": "1",
                "TOPOLAB_STALL_AFTER": "4",
                # A report a killed consumer held comes back this soon (tests kill it).
                "TOPOLAB_CONTROL_VISIBILITY": "3",
                "TOPOLAB_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env


@dataclass
class WorkerProc:
    """A Celery worker this test started (in its own process group), ended by PID."""

    host: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's process group (the main process and its pool children)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # Pool children may outlive the main process for a moment; wait for the group.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            if sig == signal.SIGKILL:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    break
            time.sleep(0.1)

    def stop(self) -> None:
        """End the worker: SIGTERM (warm shutdown), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            self.kill(signal.SIGKILL)
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        self.kill(signal.SIGKILL)

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def worker_argv(host: str, netns: str | None, concurrency: int) -> list[str]:
    argv = [
        PY,
        "-m",
        "celery",
        "-A",
        "worker.celery",
        "worker",
        "-Q",
        f"host.{host}",
        "-n",
        f"{host}@%h",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if netns is not None:
        # Enter only the network namespace: the namespaces the worker makes (and the
        # files of the database and Redis socket) stay visible to everybody.
        argv = ["nsenter", f"--net=/run/netns/{netns}", *argv]
    return argv


@dataclass
class Cluster:
    """Lab hosts (worker processes) and the underlay namespaces this test made."""

    env: Env
    tmp: Path
    workers: dict[str, WorkerProc] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    control: WorkerProc | None = None

    def start_control(self) -> WorkerProc:
        """Start the control-plane consumer (with an embedded beat), once."""
        if self.control is None:
            (self.env.var_dir / "control").mkdir(exist_ok=True)
            self.control = WorkerProc(
                host="control",
                argv=[PY, "manage.py", "control", "--beat"],
                env=self.env.control_env(),
                log=self.tmp / "control.log",
            )
            self.control.start()
        return self.control

    def add_worker(
        self,
        host: str,
        netns: str | None = None,
        underlay: str | None = None,
        concurrency: int = 2,
        capacity: int | None = None,
    ) -> WorkerProc:
        self.start_control()
        env = self.env.worker_env(host, underlay)
        if capacity is not None:
            env["TOPOLAB_HOST_CAPACITY"] = str(capacity)
        w = WorkerProc(
            host=host,
            argv=worker_argv(host, netns, concurrency),
            env=env,
            log=self.tmp / f"worker-{host}.log",
        )
        self.workers[host] = w
        w.start()
        return w

    def wait_up(self, *hosts: str, timeout: float = 60) -> None:
        """Wait until every host has a heartbeat in the database."""
        from lab.models import LabHost

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = {h.name for h in LabHost.objects.filter(name__in=hosts) if h.is_up}
            if up == set(hosts):
                return
            for h in hosts:
                p = self.workers[h].proc
                if p is not None and p.poll() is not None:
                    raise AssertionError(f"worker {h} exited:\n{self.workers[h].tail()}")
            time.sleep(0.2)
        raise AssertionError(
            "hosts not up: "
            + ", ".join(hosts)
            + "\n"
            + "\n".join(self.workers[h].tail(30) for h in hosts)
        )

    def underlay_pair(self, tag: str) -> tuple[str, str, str, str]:
        """Make two underlay namespaces joined by a veth; return (nsA, ipA, nsB, ipB)."""
        rnd = f"{random.randrange(16**5):05x}"
        ns_a, ns_b = f"tlh-{rnd}{tag}a", f"tlh-{rnd}{tag}b"
        octet = random.randrange(1, 250)
        ip_a, ip_b = f"10.{octet}.{random.randrange(250)}.1", None
        ip_b = ip_a.rsplit(".", 1)[0] + ".2"
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            self.namespaces.append(ns)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            [
                "ip",
                "-n",
                ns_a,
                "link",
                "add",
                "ul0",
                "type",
                "veth",
                "peer",
                "name",
                "ul0",
                "netns",
                ns_b,
            ],
            check=True,
        )
        for ns, ip in ((ns_a, ip_a), (ns_b, ip_b)):
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "ul0"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "ul0", "up"], check=True)
        return ns_a, ip_a, ns_b, ip_b

    def close(self) -> None:
        for w in self.workers.values():
            w.stop()
        if self.control is not None:
            self.control.stop()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "delete", ns], check=False)


def _point_settings_at(redis: RedisServer) -> dict[str, Any]:
    """Point this process's settings, channel layer and Celery app at the test Redis."""
    from channels.layers import channel_layers
    from django.conf import settings

    from lab import events
    from worker import locks

    saved: dict[str, Any] = {
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_LAYERS": settings.CHANNEL_LAYERS,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
    }
    settings.REDIS_URL = redis.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis.url], "capacity": 1500, "expiry": 30},
        }
    }
    settings.CELERY_BROKER_URL = redis.url
    settings.CELERY_RESULT_BACKEND = redis.url
    saved["celery"] = point_celery_at(redis.url)
    channel_layers.backends.clear()
    events._clients.clear()
    locks._client = None
    return saved


@pytest.fixture(scope="module")
def orch_env(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The module's file database path, Redis and key base (lab ids ``base + n``)."""
    tmp = tmp_path_factory.mktemp("orch")
    from django.conf import settings

    saved = _point_settings_at(redis_server)
    base = random.randrange(1000, 9000) * 1000
    env = Env(db_path=tmp / "topolab.sqlite3", redis=redis_server, var_dir=tmp, key_base=base)
    try:
        yield env
    finally:
        from channels.layers import channel_layers

        point_celery_at(*saved.pop("celery"))
        for name, value in saved.items():
            setattr(settings, name, value)
        channel_layers.backends.clear()


@pytest.fixture(scope="module")
def django_db_setup(
    orch_env: Env, django_db_blocker: Any, request: pytest.FixtureRequest
) -> Iterator[None]:
    """Build the tables in the module's SQLite file and run this module against it.

    Overrides pytest-django's for this directory only. The default connection is
    moved onto the file for the module and moved back afterwards (the session's
    in-memory test database, if any, keeps its open connection meanwhile).
    """
    from django.core.management import call_command
    from django.db import connections
    from pytest_django.fixtures import _disable_migrations

    _disable_migrations()
    close_executor_connections()
    conn = connections["default"]
    saved_settings = dict(conn.settings_dict)
    saved_connection = conn.connection
    conn.connection = None
    conn.settings_dict["NAME"] = str(orch_env.db_path)
    try:
        with django_db_blocker.unblock():
            call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
        yield
    finally:
        with django_db_blocker.unblock():
            if conn.connection is not None:
                conn.connection.close()
            conn.connection = saved_connection
        conn.settings_dict.clear()
        conn.settings_dict.update(saved_settings)
        close_executor_connections()


@pytest.fixture(scope="module")
def cluster(
    orch_env: Env, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Lab hosts for the module; every process and namespace is ended in the finalizer."""
    before = netns_names()
    c = Cluster(env=orch_env, tmp=tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()
        # The labs of this module carry keys l<base>NNN: remove any a failure left.
        prefix = f"tl-l{orch_env.key_base // 1000}"
        for ns in netns_names() - before:
            if ns.startswith(prefix):
                subprocess.run(["ip", "netns", "delete", ns], check=False)


class LabFactory:
    """Creates labs with ids ``base + n`` (lab keys nobody else on the machine uses)."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.n = 0

    def __call__(self, doc: dict[str, Any], name: str = "lab") -> Any:
        from django.contrib.auth import get_user_model

        from lab.models import Lab, TopologyRevision
        from lab.services import canonical_document, check_topology

        user, _ = get_user_model().objects.get_or_create(username="orch")
        self.n += 1
        lab = Lab.objects.create(pk=self.base + self.n, owner=user, name=name)
        TopologyRevision.objects.create(
            lab=lab, number=1, document=canonical_document(check_topology(doc)), author=user
        )
        return lab


@pytest.fixture
def make_lab(orch_env: Env, transactional_db: None) -> Iterator[LabFactory]:
    """Return a factory of labs (transactional: the workers see every row).

    Ids keep counting across the module (each test's flush would otherwise hand the
    same lab key out again), and whatever a failed test left in the kernel of its
    labs is removed afterwards.
    """
    factory = LabFactory(orch_env.key_base)
    factory.n = first = orch_env.labs_made
    try:
        yield factory
    finally:
        orch_env.labs_made = factory.n
        prefixes = tuple(f"tl-l{orch_env.key_base + i}-" for i in range(first + 1, factory.n + 1))
        for ns in netns_names():
            if prefixes and ns.startswith(prefixes):
                subprocess.run(["ip", "netns", "delete", ns], check=False)


def request_action(lab: Any, action: str) -> Any:
    """Ask for a deploy/apply/destroy through the web's services (enqueue on commit)."""
    from django.contrib.auth import get_user_model

    from lab import services

    user = get_user_model().objects.get(username="orch")
    fn: Callable[[Any, Any], Any] = {
        "deploy": services.do_request_deploy,
        "apply": services.do_request_apply,
        "destroy": services.do_request_destroy,
    }[action]
    return fn(lab, user)


def wait_final(deployment_id: int, timeout: float = 120, cluster: Cluster | None = None) -> Any:
    """Wait until the deployment reaches a final state; return it."""
    from lab.models import Deployment

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep = Deployment.objects.get(pk=deployment_id)
        if dep.is_final:
            return dep
        time.sleep(0.2)
    procs = (
        [*cluster.workers.values(), *([cluster.control] if cluster.control else [])]
        if cluster
        else []
    )
    logs = "\n".join(w.tail(40) for w in procs)
    dep = Deployment.objects.get(pk=deployment_id)
    raise AssertionError(
        f"deployment {deployment_id} still {dep.state}: {json.dumps(dep.progress_step)}\n{logs}"
    )


def lab_namespaces(key: str) -> set[str]:
    """Return the namespaces of lab ``key`` in ``ip netns list``."""
    return {ns for ns in netns_names() if ns.startswith(f"tl-{key}-")}


def star(n: int, name: str = "star") -> dict[str, Any]:
    """A switch with ``n`` hosts (addresses in 10.77.0.0/16)."""
    nodes: list[dict[str, Any]] = [
        {"name": "sw", "kind": "switch", "interfaces": [{"name": f"p{i}"} for i in range(n)]}
    ]
    links = []
    for i in range(n):
        nodes.append(
            {
                "name": f"h{i}",
                "interfaces": [
                    {"name": "eth0", "addresses": [f"10.77.{i // 250}.{i % 250 + 1}/16"]}
                ],
            }
        )
        links.append({"kind": "veth", "a": f"h{i}:eth0", "b": f"sw:p{i}"})
    return {"name": name, "nodes": nodes, "links": links}
