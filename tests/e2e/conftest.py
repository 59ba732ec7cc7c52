"""The real stack for browser tests: uvicorn + a private Redis + a file SQLite DB, and
Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, ROOT, RedisServer, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME = "e2e-teacher"
PASSWORD = "e2e-secret-pw"
SHOTS = ARTIFACTS / "e2e"


@dataclass
class LiveServer:
    """The web stack one session started; ``url`` is its base URL."""

    url: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    lab_base: int
    tmp: Path


def _wait_http(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited early:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen on {port}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def stack(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """uvicorn serving lab.asgi:application with its own DB, var dir and Redis."""
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        # make test builds it first; an ad-hoc run builds it here (npm ci + vite build).
        subprocess.run([str(ROOT / "scripts" / "frontend-ensure.sh")], check=True)
    tmp = tmp_path_factory.mktemp("e2e-stack")
    # Captures are written by tcpdump as an unprivileged user: their directory must be
    # reachable by it, and pytest's own tmp tree (mode 0700, root's) is not.
    captures = Path(tempfile.mkdtemp(prefix="topolab-e2e-captures-"))
    captures.chmod(0o755)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "TOPOLAB_VAR_DIR": str(tmp / "var"),
        "TOPOLAB_CAPTURE_DIR": str(captures),
        "TOPOLAB_REDIS_URL": redis_server.url,
        "TOPOLAB_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TOPOLAB_CSRF_ORIGINS": f"http://127.0.0.1:{port}",
        "DJANGO_SETTINGS_MODULE": "lab.settings",
        "TOPOLAB_HOST_NAME": f"e2e{random.randrange(10**6)}",
        "PYTHONUNBUFFERED": "1",
    }
    py = sys.executable
    manage = str(ROOT / "manage.py")
    subprocess.run(
        [py, manage, "migrate", "--run-syncdb", "-v", "0"],
        env={**env, "DJANGO_SETTINGS_MODULE": "tests.e2e.syncdb_settings"},
        check=True,
        cwd=ROOT,
    )
    # Lab ids (and so lab keys and namespace names, tl-l<id>-<node>) start at a random
    # base: other sessions on this machine deploy labs l1, l2 ... at the same time.
    base = random.randrange(100, 900) * 10_000
    subprocess.run(
        [py, "-m", "tests.e2e.seed_stack", USERNAME, PASSWORD, str(base)],
        env=env,
        check=True,
        cwd=ROOT,
    )
    log = tmp / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                py,
                "-m",
                "uvicorn",
                "lab.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_http(port, proc, log)
        yield LiveServer(f"http://127.0.0.1:{port}", proc, env, log, base, tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(captures, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's chromium, headless, with a fresh user-data dir."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture()
def page(browser_context: Any, stack: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new tab, signed out; closed after the test. Browser console errors are printed."""
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("console", lambda m: m.type == "error" and print(f"[browser] {m.text}"))
    tab.on("pageerror", lambda e: print(f"[browser pageerror] {e}"))
    try:
        yield tab
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            SHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)
            tab.screenshot(path=str(SHOTS / f"FAILED-{name}.png"))
            print(f"[server log tail]\n{stack.log.read_text()[-2000:]}")
        tab.close()


class Api:
    """The HTTP API through the page's own cookies (session + CSRF), as the SPA uses it."""

    def __init__(self, tab: Any, base: str) -> None:
        self.tab = tab
        self.base = base

    def _csrf(self) -> str:
        for c in self.tab.context.cookies(self.base):
            if c["name"] == "csrftoken":
                return str(c["value"])
        self.tab.request.get(f"{self.base}/api/auth/csrf")
        return self._csrf()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"X-CSRFToken": self._csrf(), "Content-Type": "application/json"}
        res = self.tab.request.fetch(
            f"{self.base}{path}",
            method=method,
            headers=headers,
            data=json.dumps(body) if body is not None else None,
        )
        text = res.text()
        return res.status, (json.loads(text) if text else None)


@pytest.fixture()
def api(page: Any, stack: LiveServer) -> Api:
    return Api(page, stack.url)


@pytest.fixture()
def signed_in(page: Any, api: Api) -> Any:
    """The page with a signed-in session (through the API, not the form)."""
    status, body = api.call("POST", "/api/auth/login", {"username": USERNAME, "password": PASSWORD})
    assert status == 200, body
    return page


@pytest.fixture()
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shot(page, "step")`` saves test-artifacts/e2e/<test>-<n>-<step>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))
    test = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)

    def take(tab: Any, step: str) -> Path:
        path = SHOTS / f"{test}-{next(counter):02d}-{step}.png"
        tab.screenshot(path=str(path))
        return path

    return take


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item so fixtures can see a failure."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{rep.when}", rep)
