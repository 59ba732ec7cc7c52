"""The demo library in a real browser: "Open & run" the TUN VPN demo, see its run and journey.

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
    # "Open & run": the library opens the lab and deploys it; the lab page runs the demo
    # as soon as the lab is running and shows the probes and the journey in its Demo tab.
    card.get_by_role("button", name="Open & run").click()
    page.wait_for_url(re.compile(r"/labs/\d+\?run=1$"))
    lab_id = int(page.url.split("?")[0].rsplit("/", 1)[1])
    try:
        page.wait_for_function("document.querySelectorAll('.react-flow__node-device').length === 2")
        panel = page.get_by_test_id("demo-panel")
        assert "tun0" in panel.inner_text()  # the explanation, rendered from Markdown
        page.wait_for_function(RUNNING, timeout=90_000)
        verdict = page.get_by_test_id("demo-verdict")
        verdict.wait_for(timeout=90_000)
        shot(page, "ran")
        assert "behaved as explained" in verdict.inner_text()
        assert "Something did not" not in verdict.inner_text()
        texts = page.get_by_test_id("demo-hops").locator("li").all_inner_texts()
        assert any("program tunnel" in t for t in texts), texts
        assert any("udp tunnel 198.18.0.1:5555 > 198.18.0.2:5555" in t for t in texts), texts
        probes = page.get_by_test_id("demo-probes").inner_text()
        assert "✔" in probes and "✘" not in probes, probes

        # The API keeps the run as the lab's last one.
        status, about = api.call("GET", f"/api/labs/{lab_id}/demo")
        assert status == 200 and about["last_run"]["passed"], about

        # The page's packet journey through the tunnel.
        page.get_by_role("tab", name="Packet journey").click()
        page.get_by_label("Journey source").select_option("siteA")
        page.get_by_label("Journey address").fill("10.8.0.2")
        with page.expect_response(lambda r: r.url.endswith("/journeys"), timeout=30_000) as traced:
            page.get_by_role("button", name="Trace").click()
        assert traced.value.status == 200
        page.get_by_role("button", name="Trace").wait_for()  # "Tracing…" again "Trace": drawn
        hops = page.locator(".hops > li").all_inner_texts()
        assert any("siteA" in h and "tun0" in h for h in hops), hops
        assert any("siteB" in h and "tun0" in h for h in hops), hops
        shot(page, "journey")
    finally:
        api.call("POST", f"/api/labs/{lab_id}/destroy")
        page.goto(f"{stack.url}/labs/{lab_id}")
        page.wait_for_function(
            "document.querySelector('[data-testid=state-badge]')?.dataset.state === 'stopped'",
            timeout=90_000,
        )
