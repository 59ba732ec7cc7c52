"""The live lab in a real browser: deploy progress over the websocket, a console that
pings, counters, a capture, destroy. Needs root (a real lab host worker makes the
namespaces) and the whole stack: web, Redis, Celery worker and telemetry agent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, netns_names
from tests.e2e.conftest import Api, LiveServer

pytestmark = pytest.mark.e2e


def _start(argv: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


@pytest.fixture(scope="module")
def lab_host(stack: LiveServer) -> Iterator[subprocess.Popen[bytes]]:
    """This box's lab host (`python -m worker`: Celery worker + telemetry agent, as root,
    Redis only) and the control-plane consumer (`manage.py control`, with the database)."""
    if os.geteuid() != 0:
        pytest.fail("the live e2e tests need root: the lab host makes network namespaces")
    log = stack.tmp / "worker.log"
    env = {
        k: v
        for k, v in stack.env.items()
        if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "TOPOLAB_SECRET_KEY")
    }
    # Only this session's labs are ever swept by this worker.
    env["TOPOLAB_SWEEP_KEYS"] = rf"^l{stack.lab_base // 10_000}\d{{4}}$"
    before = netns_names()
    control = _start(
        [sys.executable, "manage.py", "control"], dict(stack.env), stack.tmp / "control.log"
    )
    proc = _start([sys.executable, "-m", "worker", "--host", env["TOPOLAB_HOST_NAME"]], env, log)
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the lab host did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield proc
    finally:
        # SIGTERM to the supervisor; it forwards to the worker and the agent.
        _end(proc)
        _end(control)
        prefix = f"tl-l{stack.lab_base // 10_000}"
        for ns in netns_names() - before:
            if ns.startswith(prefix):
                subprocess.run(["ip", "netns", "delete", ns], check=False)


def two_hosts() -> dict[str, Any]:
    return {
        "name": "live",
        "nodes": [
            {
                "name": "h1",
                "kind": "host",
                "position": {"x": 0, "y": 0},
                "interfaces": [{"name": "eth0", "addresses": ["10.77.0.1/24"]}],
            },
            {
                "name": "h2",
                "kind": "host",
                "position": {"x": 320, "y": 0},
                "interfaces": [{"name": "eth0", "addresses": ["10.77.0.2/24"]}],
            },
        ],
        "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
    }


def h1_eth0(frame: dict[str, Any]) -> dict[str, Any] | None:
    """The counters row of h1:eth0 in a `counters` event (a list of rows)."""
    for row in frame.get("interfaces") or []:
        if isinstance(row, dict) and (row.get("node"), row.get("interface")) == ("h1", "eth0"):
            return row
    return None


def badge(page: Any) -> str:
    return str(page.get_by_test_id("state-badge").inner_text()).strip()


def test_deploy_console_counters_capture_destroy(
    signed_in: Any, api: Api, stack: LiveServer, lab_host: Any, shot: Any
) -> None:
    page = signed_in
    frames: list[dict[str, Any]] = []

    def on_ws(ws: Any) -> None:
        if re.search(r"/ws/labs/\d+/$", ws.url):
            ws.on("framereceived", lambda f: frames.append(json.loads(f)) if f[:1] == "{" else None)

    page.on("websocket", on_ws)
    status, lab = api.call("POST", "/api/labs", {"name": "live lab", "topology": two_hosts()})
    assert status == 201, lab
    lab_id = lab["id"]
    try:
        page.goto(f"{stack.url}/labs/{lab_id}")
        page.wait_for_function("document.querySelectorAll('.react-flow__node-device').length === 2")
        page.wait_for_selector(".live-dot.on")
        page.get_by_role("button", name="Deploy").click()
        page.wait_for_function(
            "document.querySelector('[data-testid=state-badge]').innerText.trim() === 'running'",
            timeout=90_000,
        )
        shot(page, "running")
        kinds = [f.get("type") for f in frames]
        assert kinds[0] == "snapshot"
        assert "deploy.progress" in kinds, kinds
        steps = [f for f in frames if f.get("type") == "deploy.progress"]
        assert any(f["done"] == f["total"] > 0 for f in steps), steps
        assert any(
            f.get("type") == "deploy.state" and f["deployment"]["state"] == "running"
            for f in frames
        )
        # Console: ping h2 from h1 in a real terminal.
        page.get_by_label("Open a console").select_option("h1")
        term = page.locator('[data-console="h1"]')
        term.wait_for()
        page.wait_for_selector("text=h1 · connected", timeout=20_000)
        term.click()
        time.sleep(1.0)
        page.keyboard.type("ping -c 2 -W 2 10.77.0.2\n")
        page.wait_for_function(
            "document.querySelector('[data-console=h1] .xterm-rows')"
            "?.innerText.includes('2 received')",
            timeout=30_000,
        )
        shot(page, "console-ping")
        # Counters arrive while the page watches; the ping shows on h1:eth0.
        page.wait_for_function("() => true", timeout=1_000)  # let the next sample land
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            counters = [f for f in frames if f.get("type") == "counters"]
            if any(h1_eth0(f) for f in counters):
                break
            time.sleep(0.5)
        sample = next(
            (h1_eth0(f) for f in reversed(frames) if f.get("type") == "counters" and h1_eth0(f)),
            None,
        )
        assert sample is not None, [f for f in frames if f.get("type") != "snapshot"][-5:]
        assert sample["tx_packets"] >= 2
        page.locator('text="eth0"').first.click()
        page.get_by_role("tab", name="Interface").wait_for()
        shot(page, "interface-stats")
        # Capture on h2:eth0 while h1 pings again.
        page.get_by_role("tab", name="Capture").click()
        page.get_by_label("Capture node").select_option("h2")
        page.get_by_label("Capture filter").fill("icmp")
        page.get_by_role("button", name="Start").click()
        page.get_by_role("button", name="Stop").wait_for()
        time.sleep(1.5)
        page.get_by_role("tab", name=re.compile("h1")).click()
        page.locator('[data-console="h1"]').click()
        page.keyboard.type("ping -c 3 10.77.0.2\n")
        page.get_by_role("tab", name="Capture").click()
        page.wait_for_function(
            "document.querySelector('[data-testid=capture-lines]').innerText.includes('ICMP echo')",
            timeout=30_000,
        )
        shot(page, "capture")
        page.get_by_role("button", name="Stop").click()
        with page.expect_download() as dl:
            page.get_by_role("link", name="pcap").click()
        pcap = Path(dl.value.path()).read_bytes()
        assert pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1")
        # Packet journey: the hops are listed and the diagram walks them.
        page.get_by_role("tab", name="Packet journey").click()
        page.get_by_label("Journey source").select_option("h1")
        page.get_by_label("Journey destination").select_option("h2")
        page.get_by_role("button", name="Trace").click()
        page.wait_for_selector(".hops li", timeout=30_000)
        hops = page.locator(".hops > li").all_inner_texts()
        assert any("h1" in h for h in hops) and any("h2" in h for h in hops), hops
        page.wait_for_selector(".device.journey-active")
        shot(page, "journey")
        # Destroy.
        page.get_by_role("button", name="Destroy").click()
        page.wait_for_function(
            "document.querySelector('[data-testid=state-badge]').dataset.state === 'stopped'",
            timeout=90_000,
        )
        shot(page, "destroyed")
        assert not {n for n in netns_names() if n.startswith(f"tl-l{lab_id}-")}
    finally:
        if {n for n in netns_names() if n.startswith(f"tl-l{lab_id}-")}:
            api.call("POST", f"/api/labs/{lab_id}/destroy")
