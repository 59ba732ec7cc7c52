"""The whole product on a throwaway Redis and database, for benchmarks that use the API.

    with Stack(concurrency=4) as stack:
        alice = stack.client("alice")           # a signed-in HTTP session (real login)
        lab = alice.create_lab("l", document)   # POST /api/labs
        dep = alice.deploy(lab["id"])           # POST /api/labs/<id>/deploy
        alice.wait(dep["id"])                   # GET /api/deployments/<id> until final

It starts what `make run` starts, the same way: a private `redis-server`, a file
database made from the models, the web under uvicorn (`lab.asgi:application`) and
every process of the `Procfile` but beat (as `scripts/run-services.sh` does: the lab
host, `python -m worker`, is its Celery worker and telemetry agent). Users are made
in the database (the one thing a benchmark may not do over HTTP); everything else
goes through HTTP and websockets, so a rewrite behind the API keeps them working.

Lab ids start at a random base and the lab host sweeps only keys of that base
(``TOPOLAB_SWEEP_KEYS``), so labs of other sessions on the machine are never touched.
On exit every lab is destroyed through the engine (by key, even when the API
failed), every process started here is ended by its process group, and the temporary
directory goes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1"  # noqa: S105 - throwaway accounts of a throwaway database
FINAL_STATES = ("running", "failed", "destroyed", "cancelled")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kib(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Return the resident set size of ``pid`` in KiB (0 once it is gone)."""
    return _kib(f"/proc/{pid}/status", "VmRSS:")


def pss_kib(pid: int) -> int:
    """Return the proportional set size of ``pid`` in KiB (shared pages split; 0 once gone)."""
    return _kib(f"/proc/{pid}/smaps_rollup", "Pss:")


def descendants(pid: int) -> list[int]:
    """Return ``pid`` and every process below it (from /proc/*/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                todo.extend(
                    int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()
                )
            except OSError:
                continue
    return out


def cmdline(pid: int) -> str:
    """Return the command line of ``pid`` ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def cpu_seconds(pids: list[int]) -> float:
    """Return the user + system CPU seconds the processes ``pids`` used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


class ApiError(RuntimeError):
    """The API answered something a benchmark did not expect."""


class Client:
    """One user's signed-in HTTP session (cookies + CSRF header, as the page does)."""

    def __init__(self, base: str, username: str) -> None:
        """Sign in as ``username`` through ``POST /api/auth/login``.

        Raises:
            ApiError: the sign-in was refused.
        """
        self.base = base
        self.username = username
        self.http = requests.Session()
        self.http.get(f"{base}/api/auth/csrf", timeout=30).raise_for_status()
        token = self.http.cookies["csrftoken"]
        self.http.headers.update({"X-CSRFToken": token, "Referer": base + "/"})
        self.call("POST", "/api/auth/login", {"username": username, "password": PASSWORD}, 200)
        self.http.headers["X-CSRFToken"] = self.http.cookies["csrftoken"]

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Send one request and return its JSON body.

        Raises:
            ApiError: the status was not ``expect``.
        """
        response = self.http.request(method, self.base + path, json=body, timeout=300)
        if response.status_code != expect:
            raise ApiError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def create_lab(self, name: str, topology: dict[str, Any]) -> dict[str, Any]:
        """Create a lab at revision 1; return the lab."""
        lab: dict[str, Any] = self.call(
            "POST", "/api/labs", {"name": name, "topology": topology}, 201
        )
        return lab

    def deploy(self, lab_id: int, action: str = "deploy") -> dict[str, Any]:
        """Ask for a deploy (or ``apply`` / ``destroy``); return the deployment."""
        out: dict[str, Any] = self.call("POST", f"/api/labs/{lab_id}/{action}", None, 202)
        return dict(out["deployment"])

    def wait(self, deployment_id: int, poll: float = 0.2, timeout: float = 600) -> dict[str, Any]:
        """Poll the deployment until it is final; return it.

        Raises:
            ApiError: it did not end within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dep: dict[str, Any] = self.call("GET", f"/api/deployments/{deployment_id}")
            if dep["state"] in FINAL_STATES:
                return dep
            time.sleep(poll)
        raise ApiError(f"deployment {deployment_id} did not finish in {timeout}s")

    def ws_headers(self) -> dict[str, str]:
        """Headers a websocket handshake needs: the session cookie (origin is separate)."""
        cookies = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        return {"Cookie": cookies}


class Stack:
    """Redis, database, web and one lab host, started for one benchmark run."""

    def __init__(self, *, concurrency: int = 4, agent: bool = True, capacity: int = 500) -> None:
        """Prepare (nothing starts before ``start``); ``capacity``: nodes the lab host takes."""
        self.concurrency = concurrency
        self.agent = agent
        self.capacity = capacity
        self.tmp = Path(tempfile.mkdtemp(prefix="topolab-bench-"))
        self.host = f"bench{random.randrange(16**6):06x}"
        self.base_id = random.randrange(5000, 9000) * 1000
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Stack:
        """Start everything; on failure end what started."""
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """End everything (see ``stop``)."""
        self.stop()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if name == "worker":  # as scripts/run-services.sh: a lab host gets no database
            env.pop("DATABASE_URL", None)
            env.pop("DJANGO_SETTINGS_MODULE", None)
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=(self.tmp / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """Return the last lines of one process's log."""
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def start(self) -> None:
        """Start Redis, make the database, start the lab host and the web; wait for both.

        Raises:
            RuntimeError: a part did not come up in time (with its log).
        """
        redis_port = free_port()
        self._spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
        )
        origin = self.url
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "lab.settings",
                "DATABASE_URL": f"sqlite:///{self.tmp / 'db.sqlite3'}",
                "TOPOLAB_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "TOPOLAB_VAR_DIR": str(self.tmp),
                "TOPOLAB_HOST_NAME": self.host,
                "TOPOLAB_SWEEP_KEYS": rf"^l{self.base_id // 1000}\d{{3}}$",
                "TOPOLAB_LOG_LEVEL": "WARNING",
                "TOPOLAB_CSRF_ORIGINS": origin,
                "TOPOLAB_WS_ORIGINS": origin,
                "TOPOLAB_ALLOWED_HOSTS": "127.0.0.1",
                "TOPOLAB_QUOTA_NODES_PER_LAB": "1000",
            }
        )
        self._wait(lambda: _answers(redis_port), "redis", 10)
        make_database()
        from lab.models import Lab, LabHost

        # Ids (and so lab keys l<id>) above a random base: see the module docstring.
        user = self.make_user("bench-placeholder")
        Lab.objects.create(pk=self.base_id, owner=user, name="placeholder").delete()
        os.environ["TOPOLAB_WORKER_CONCURRENCY"] = str(self.concurrency)
        os.environ["TOPOLAB_HOST_CAPACITY"] = str(self.capacity)
        for name, argv in procfile():
            if name == "beat":
                continue  # periodic jobs only (expiry, sweeps): not part of any figure
            if name == "worker" and not self.agent:
                argv = [*argv, "--no-agent"]
            self._spawn(name, argv)
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "lab.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
        )
        self._wait(lambda: LabHost.objects.filter(name=self.host).exists(), "worker", 90)
        self._wait(lambda: _answers(self.port), "web", 60)

    def _wait(self, ready: Any, name: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            proc = self.procs.get(name)
            if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                raise RuntimeError(f"{name} did not come up:\n{self.log(name)}")
            time.sleep(0.2)

    def make_user(self, username: str) -> Any:
        """Make an ordinary user (no staff, no course) with the benchmark password."""
        from django.contrib.auth import get_user_model

        return get_user_model().objects.create_user(username, password=PASSWORD)

    def client(self, username: str) -> Client:
        """Make ``username`` and return a session signed in over HTTP."""
        self.make_user(username)
        return Client(self.url, username)

    def labs(self, prefix: str, count: int) -> list[tuple[Client, int]]:
        """Make ``count`` users, each with one 10-node lab (not deployed): (client, lab id)."""
        clients = [self.client(f"{prefix}{i}") for i in range(count)]
        return [(c, c.create_lab(f"{prefix} lab", router_lab(prefix))["id"]) for c in clients]

    def deploy_all(self, labs: list[tuple[Client, int]]) -> None:
        """Deploy the labs one after the other through the API, each until ``running``.

        Raises:
            ApiError: a deployment did not reach ``running``.
        """
        for client, lab in labs:
            dep = client.wait(client.deploy(lab)["id"])
            if dep["state"] != "running":
                raise ApiError(f"lab {lab} did not deploy: {dep}")

    def lab_host_pids(self) -> dict[str, list[int]]:
        """Return the lab host's processes: ``{"worker": [...], "agent": [...]}``."""
        proc = self.procs.get("worker")
        out: dict[str, list[int]] = {"worker": [], "agent": []}
        if proc is None:
            return out
        for pid in descendants(proc.pid):
            line = cmdline(pid)
            if "celery" in line:
                out["worker"].append(pid)
            elif " agent" in line:
                out["agent"].append(pid)
        return out

    def lab_keys(self) -> list[str]:
        """Return the kernel keys of every lab of this run's database."""
        from lab.models import Lab

        return [lab.key for lab in Lab.objects.all()]

    def stop(self) -> None:
        """Destroy every lab of this run, end every process started here, remove the temp dir."""
        keys: list[str] = []
        try:
            keys = self.lab_keys()
        except Exception as exc:  # the database never came up: nothing was deployed
            print(f"stack: no lab list ({exc})", file=sys.stderr)
        for name in [n for n in self.procs if n != "redis"]:
            _end(self.procs.pop(name, None))
        if keys:
            from worker import engine

            for key in keys:
                try:
                    engine.destroy(key)
                except Exception as exc:
                    print(f"stack: cleanup of {key}: {exc}", file=sys.stderr)
        _end(self.procs.pop("redis", None))
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_database() -> None:
    """Set Django up and make the tables of the database ``DATABASE_URL`` names."""
    import django
    from django.conf import settings

    django.setup()

    class _NoMigrations:
        def __contains__(self, item: str) -> bool:
            return True

        def __getitem__(self, item: str) -> None:
            return None

    # A throwaway database needs no migration files: the tables come from the models.
    settings.MIGRATION_MODULES = _NoMigrations()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def begin() -> bool:
    """Check for root and print the machine's load; False (and a message) when not root."""
    if os.geteuid() != 0:
        print("run as root (network namespaces)", file=sys.stderr)
        return False
    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    return True


def finish(figures: dict[str, Any]) -> int:
    """Print the load and the figures as one JSON line (the last line); return 0."""
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(json.dumps(figures, sort_keys=True))
    return 0


def procfile() -> list[tuple[str, list[str]]]:
    """The product's long-running processes as ``scripts/run-services.sh`` reads them.

    ``python`` is this interpreter; the lab host's name and worker concurrency come
    from the environment (``TOPOLAB_HOST_NAME``, ``TOPOLAB_WORKER_CONCURRENCY``).
    """
    out = []
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, command = line.partition(": ")
        argv = command.split()
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        out.append((name.strip(), argv))
    return out


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _end(proc: subprocess.Popen[bytes] | None) -> None:
    """End a process started here and its group (its own session), by PID."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def router_lab(name: str, hosts: int = 9) -> dict[str, Any]:
    """A router and ``hosts`` hosts, one /24 and one veth per host (10 nodes by default)."""
    router = {
        "name": "r1",
        "kind": "router",
        "interfaces": [{"name": f"eth{i}", "addresses": [f"10.0.{i}.1/24"]} for i in range(hosts)],
    }
    nodes: list[dict[str, Any]] = [router]
    links = []
    for i in range(hosts):
        nodes.append(
            {
                "name": f"h{i}",
                "interfaces": [{"name": "eth0", "addresses": [f"10.0.{i}.2/24"]}],
                "gateway": f"10.0.{i}.1",
            }
        )
        links.append({"a": f"h{i}:eth0", "b": f"r1:eth{i}"})
    return {"name": name, "nodes": nodes, "links": links}
