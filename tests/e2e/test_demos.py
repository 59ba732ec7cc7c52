"""The demo library in a real browser: open the TUN VPN demo, deploy it, run it, see the journey.

Needs root and the whole stack (web, Redis, a lab host with its Celery worker and
telemetry agent): the deploy goes through the orchestration, which starts the
demo's tunnel programs; the run goes through ``worker.tasks_demos.run_demo``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture

pytestmark = pytest.mark.e2e

RUNNING = "document.querySelector('[data-testid=state-badge]')?.innerText.trim() === 'running'"


def test_open_deploy_run_and_trace_the_tun_demo(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    page.goto(f"{stack.url}/demos")
    card = page.locator('[data-demo="tun-vpn"]')
    card.wait_for()
    assert page.locator(".card.demo").count() >= 8
    assert "tun0" in card.inner_text()
    shot(page, "library")
    card.get_by_role("button", name="Open", exact=True).click()
    page.wait_for_url(re.compile(r"/labs/\d+$"))
    lab_id = int(page.url.rsplit("/", 1)[1])
    try:
        page.wait_for_function("document.querySelectorAll('.react-flow__node-device').length === 2")
        page.get_by_role("button", name="Deploy").click()
        page.wait_for_function(RUNNING, timeout=90_000)
        shot(page, "running")

        # Run: the probes and the journey, with the tunnel program between the kernel's hops.
        status, run = api.call("POST", f"/api/labs/{lab_id}/demo/run")
        assert status == 200, run
        assert run["passed"], run
        texts = [hop["text"] for hop in run["journey"]["hops"]]
        assert any("program tunnel" in t for t in texts), texts
        assert any("udp tunnel 198.18.0.1:5555 > 198.18.0.2:5555" in t for t in texts), texts

        # The page's packet journey through the tunnel.
        page.get_by_role("tab", name="Packet journey").click()
        page.get_by_label("Journey source").select_option("siteA")
        page.get_by_label("Journey address").fill("10.8.0.2")
        page.get_by_role("button", name="Trace").click()
        page.wait_for_selector(".hops li", timeout=30_000)
        hops = page.locator(".hops > li").all_inner_texts()
        assert any("siteA" in h and "tun0" in h for h in hops), hops
        assert any("siteB" in h and "tun0" in h for h in hops), hops
        shot(page, "journey")
    finally:
        api.call("POST", f"/api/labs/{lab_id}/destroy")
        page.goto(f"{stack.url}/labs/{lab_id}")
        page.wait_for_function(
            "['destroyed','stopped'].includes("
            "document.querySelector('[data-testid=state-badge]')?.innerText.trim())",
            timeout=90_000,
        )
