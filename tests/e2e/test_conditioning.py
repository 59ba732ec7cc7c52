"""An interface's conditioning in the page, on the real stack: web, Redis, and this box's
lab host (Celery worker and telemetry agent, as root) building the lab in namespaces.

A rate set in the inspector of a running lab is applied live (the kernel's qdisc shows
it, on the same ifindex) and the page shows it running; a delay is refused on this host,
whose kernel lacks sch_netem, with the message next to the impairment fields. The demo
library, from the same host's heartbeat, says which modules the kinds' demos need.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_editor import open_lab
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture
from tests.e2e.test_page_bugs import destroy, make_lab, pair_doc, wait_state

pytestmark = pytest.mark.e2e

COND = "/api/labs/{lab}/nodes/h1/interfaces/eth0/conditioning"


def in_node(api: Api, lab_id: int, *argv: str) -> str:
    """Run ``argv`` in node h1's sandbox (the exec API); return its output."""
    status, body = api.call("POST", f"/api/labs/{lab_id}/exec", {"node": "h1", "argv": list(argv)})
    assert status == 200 and body["status"] == 0, body
    return str(body["stdout"])


def host_facts_known(api: Api, lab_id: int, timeout: float = 30) -> dict[str, Any]:
    """Wait for the lab host's heartbeat to have said what its kernel has."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = api.call("GET", COND.format(lab=lab_id))
        assert status == 200, body
        if body["netem_available"] is not None or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.5)


def test_rate_applies_live_and_a_delay_names_sch_netem(
    signed_in: Any,
    stack: LiveServer,
    api: Api,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    lab_id = make_lab(api, "conditioning", pair_doc("cond", 84))
    try:
        status, body = api.call("POST", f"/api/labs/{lab_id}/deploy")
        assert status == 202, body
        wait_state(api, lab_id, "running", timeout=240)  # a loaded 2-core box is slow
        facts = host_facts_known(api, lab_id)
        # This machine's kernel lacks sch_netem (DESIGN.md); the heartbeat says so.
        assert facts["netem_available"] is False, facts
        before = in_node(api, lab_id, "ip", "-o", "link", "show", "dev", "eth0").split(":")[0]

        open_lab(page, stack, lab_id)
        page.locator('[data-node="h1"]').click()
        page.locator('[data-iface="eth0"] .iface-head').click()
        panel = page.locator('[data-conditioning="h1:eth0"]')
        panel.wait_for()
        applied = panel.locator("[data-testid=cond-applied]")
        assert "Running (revision 1)" in applied.inner_text()

        panel.locator("input[name=cond-rate_mbit]").fill("10")
        panel.get_by_role("button", name="Apply now").click()
        # The page follows the apply until the lab host runs the new revision.
        page.wait_for_function(
            "document.querySelector('[data-conditioning=\"h1:eth0\"] [data-testid=cond-applied]')"
            "?.innerText.includes('rate 10 Mbit/s') && !document.querySelector("
            "'[data-conditioning=\"h1:eth0\"] [data-testid=cond-applied]').innerText"
            ".includes('not applied')",
            timeout=180_000,
        )
        assert "Running (revision 2)" in applied.inner_text()
        shot(page, "rate-applied")
        qdisc = in_node(api, lab_id, "tc", "qdisc", "show", "dev", "eth0")
        assert "rate 10Mbit" in qdisc, qdisc
        after = in_node(api, lab_id, "ip", "-o", "link", "show", "dev", "eth0").split(":")[0]
        assert after == before  # changed in place, not rebuilt

        panel.locator("input[name=cond-delay_ms]").fill("10")
        panel.get_by_role("button", name="Apply now").click()
        issue = panel.locator("[data-testid=cond-issue-netem]")
        issue.wait_for()
        assert "sch_netem" in issue.inner_text()
        shot(page, "sch-netem-refused")
        # Refused: nothing saved, and the kernel keeps the rate alone.
        status, body = api.call("GET", COND.format(lab=lab_id))
        assert body["latest"]["revision"] == 2 and body["latest"]["netem"] is None
        assert "netem" not in in_node(api, lab_id, "tc", "qdisc", "show", "dev", "eth0")
    finally:
        destroy(api, lab_id)


def test_the_demo_library_says_what_this_host_lacks(
    signed_in: Any,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - its heartbeat reports this kernel's kinds
    shot: Any,
) -> None:
    page = signed_in
    page.goto(f"{stack.url}/demos")
    bond = page.locator('[data-demo="bond-failover"] [data-testid=demo-needs]')
    bond.wait_for(timeout=30_000)
    assert bond.inner_text().strip() == "needs bonding"
    assert "needs ipvlan" in page.locator('[data-demo="ipvlan-vs-macvlan"]').inner_text()
    # The demos this kernel can run say nothing of the kind.
    assert page.locator('[data-demo="veth-pair"] [data-testid=demo-needs]').count() == 0
    shot(page, "needs-bonding")
