"""Fixtures every room of the suite shares: a private Redis, and a namespace leak guard."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parent.parent

# Tests marked ``guest`` run again in the test guest (a full Debian kernel under qemu).
pytest_plugins = ["tests.guest.plugin"]

# Tests that use threads (the booking race, Celery workers in a thread) each hold their own
# connection: that needs a file database (an in-memory SQLite is one connection's). Unique
# per process, since several sessions may share this tree; pytest-django deletes it at the end.
if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    _test_db = django_settings.DATABASES["default"].setdefault("TEST", {})
    if not _test_db.get("NAME"):
        _test_db["NAME"] = str(Path(tempfile.gettempdir()) / f"topolab-test-{os.getpid()}.sqlite3")

ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def netns_names() -> set[str]:
    """Return the names in `ip netns list`."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def point_celery_at(url: str, backend: str | None = None) -> tuple[str, str]:
    """Point this process's Celery app at broker ``url`` (results too unless ``backend``).

    Returns the old broker and result URLs.

    Celery caches its connection pool, producer pool and result backend the first time
    something sends a task; changing ``app.conf`` alone leaves them talking to the old
    server. This drops those caches so the next send connects to ``url``.
    """
    import threading

    from lab.celery import app as control_app
    from worker.celery import app

    saved = (str(app.conf.broker_url), str(app.conf.result_backend))
    for each in (app, control_app):  # the lab host's and the control plane's
        each.conf.broker_url = url
        each.conf.result_backend = backend or url
        each._pool = None  # kombu keeps its pools per URL: a later switch back finds it open
        amqp = each.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
        each._backend_cache = None
        each._local = threading.local()
    return saved


def close_executor_connections() -> None:
    """Close the database connections of asgiref's shared thread (async tests' ORM calls).

    An async test's ``database_sync_to_async`` runs in one long-lived thread whose
    connection outlives the test. A fixture that moves the database elsewhere for a
    while (the orchestration room's shared file) calls this when it moves it back, so
    that thread reconnects to the right one instead of reading a stale file.
    """
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


class RedisServer:
    """A redis-server this test session started and ends by PID; restartable."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_path(self) -> Path:
        """The server's unix socket: reachable from processes in other network namespaces."""
        return self.workdir / "redis.sock"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--unixsocket",
                str(self.unix_path),
                "--unixsocketperm",
                "700",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis for the session (never the machine's own)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    os.environ["TOPOLAB_REDIS_URL"] = server.url
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def _no_namespace_left_behind() -> Iterator[None]:
    """Fail the session if it leaves network namespaces it did not find.

    On by default in `make test` (scripts/test.sh sets TOPOLAB_NETNS_GUARD=1); off for
    ad-hoc runs, where another session may be making namespaces at the same time.
    """
    if os.geteuid() != 0 or os.environ.get("TOPOLAB_NETNS_GUARD") != "1":
        yield
        return
    before = netns_names()
    yield
    left = sorted(netns_names() - before)
    if left:
        # In CI this session is alone on the machine, so what appeared is its own and is
        # removed; elsewhere another session may own it, so it is only reported.
        if os.environ.get("CI") == "true":
            for name in left:
                subprocess.run(["ip", "netns", "delete", name], check=False)
        pytest.fail(f"the test session left network namespaces behind: {left}")


@pytest.fixture
def tun_0600() -> Iterator[None]:
    """``/dev/net/tun`` at mode 0600, as on a fresh machine, for one test (restored after).

    The product must work so: the node sandbox gives each node a tun device of its own.
    """
    path = "/dev/net/tun"
    mode = os.stat(path).st_mode & 0o7777
    os.chmod(path, 0o600)
    try:
        yield
    finally:
        os.chmod(path, mode)
