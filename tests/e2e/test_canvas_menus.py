"""Right-click menus on the canvas (issue 15, feature 1): per node (console, capture, trace
from here, start/stop, delete) and per link (capture on either end, MTU and rate with
whether the running lab has them, up/down and impairments, delete), on a lab the real
lab host runs.

Node start/stop and link state/impairments wait for the engine (the device-kinds issue):
the menus show them disabled with the reason, never as if they worked.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_editor import open_lab, wait_saved
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture
from tests.e2e.test_page_bugs import destroy, make_lab, pair_doc, wait_state

pytestmark = pytest.mark.e2e

MENU = "[data-testid=context-menu]"
RUNNING = "document.querySelector('[data-testid=state-badge]')?.dataset.state === 'running'"


def menu_of_link(page: Any) -> Any:
    """Right-click the link h1 - h2 halfway between the nodes; return the menu."""
    a = page.locator('[data-node="h1"]').bounding_box()
    b = page.locator('[data-node="h2"]').bounding_box()
    assert a and b
    page.mouse.click((a["x"] + a["width"] + b["x"]) / 2, a["y"] + a["height"] / 2, button="right")
    menu = page.locator(MENU)
    menu.wait_for()
    return menu


def kernel_mtu(lab_id: int, node: str) -> int:
    out = subprocess.run(
        ["ip", "-n", f"tl-l{lab_id}-{node}", "-o", "link", "show", "dev", "eth0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"\bmtu (\d+)", out)
    assert m, out
    return int(m.group(1))


def test_node_and_link_menus_on_a_running_lab(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    doc = pair_doc("menus", 93)
    doc["links"][0]["mtu"] = 1400
    lab_id = make_lab(api, "menus", doc)
    try:
        assert api.call("POST", f"/api/labs/{lab_id}/deploy")[0] == 202
        wait_state(api, lab_id, "running")
        open_lab(page, stack, lab_id)
        page.wait_for_function(RUNNING)

        # A node's menu: what it can do now, and what waits for the engine (disabled, why).
        page.locator('[data-node="h1"]').click(button="right")
        menu = page.locator(MENU)
        menu.wait_for()
        assert menu.locator(".context-title").inner_text() == "host h1"
        for item in ("Start", "Stop", "Restart"):
            button = menu.get_by_role("menuitem", name=re.compile(f"^{item}"))
            assert button.is_disabled() and "engine" in (button.get_attribute("title") or "")
        assert "running on the lab host" in menu.inner_text()
        shot(page, "node-menu")
        menu.get_by_role("menuitem", name="Open console").click()
        assert page.locator(MENU).count() == 0
        page.wait_for_selector("text=h1 · connected", timeout=20_000)

        page.locator('[data-node="h2"]').click(button="right")
        page.locator(MENU).get_by_role("menuitem", name="Trace from here").click()
        expect(page.get_by_role("tab", name="Packet journey")).to_have_attribute(
            "aria-selected", "true"
        )
        expect(page.get_by_label("Journey source")).to_have_value("h2")

        page.locator('[data-node="h1"]').click(button="right")
        page.locator(MENU).get_by_role("menuitem", name="Capture…").click()
        expect(page.get_by_label("Capture node")).to_have_value("h1")
        expect(page.get_by_label("Capture interface")).to_have_value("eth0")

        # A link's menu: capture on either end; MTU and rate beside what the kernel has.
        menu = menu_of_link(page)
        page.wait_for_function(
            f"!document.querySelector('{MENU}').innerText.includes('reading the lab host')"
        )
        text = menu.inner_text()
        assert "Capture on h1:eth0" in text and "Capture on h2:eth0" in text
        assert kernel_mtu(lab_id, "h1") == 1400
        assert "MTU 1400 · applied" in text and "rate no limit · applied" in text
        assert menu.get_by_role("menuitem", name=re.compile("^Link down")).is_disabled()
        assert menu.get_by_role("menuitem", name=re.compile("^Impairments")).is_disabled()
        shot(page, "link-menu")
        menu.get_by_role("menuitem", name="Capture on h2:eth0").click()
        expect(page.get_by_label("Capture node")).to_have_value("h2")

        # A new MTU: the menu says what the kernel has, before Apply and after it.
        menu_of_link(page).get_by_role("menuitem", name="Set MTU and rate…").click()
        mtu = page.locator("[data-props-link='0']").get_by_label("MTU")
        mtu.fill("1300")
        mtu.press("Enter")
        assert wait_saved(page) == "saved"
        menu_of_link(page)
        before = "MTU 1300 · lab host: 1400 (not applied)"
        page.wait_for_function(f"document.querySelector('{MENU}').innerText.includes({before!r})")
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Apply changes").click()
        page.get_by_test_id("pending-apply").click()  # the pending-changes view first
        page.wait_for_function("document.querySelector('[data-testid=deploy-button]').disabled")
        wait_state(api, lab_id, "running")
        page.wait_for_function(RUNNING)
        # Whatever the engine made of it, the menu says what the kernel has.
        have = {kernel_mtu(lab_id, "h1"), kernel_mtu(lab_id, "h2")}
        want = (
            "MTU 1300 · applied"
            if have == {1300}
            else f"MTU 1300 · lab host: {' / '.join(str(m) for m in sorted(have))} (not applied)"
        )
        menu_of_link(page)
        page.wait_for_function(
            f"document.querySelector('{MENU}').innerText.includes({want!r})", timeout=10_000
        )
        print(f"\nafter Apply the kernel has MTU {sorted(have)} for a link designed with 1300")
        shot(page, "mtu-after-apply")
        page.keyboard.press("Escape")

        # Delete from the menu: the link goes, its interfaces stay.
        menu_of_link(page).get_by_role("menuitem", name=re.compile("^Delete link")).click()
        page.wait_for_function("document.querySelectorAll('.react-flow__edge').length === 0")
        assert wait_saved(page) == "saved"
        _, lab = api.call("GET", f"/api/labs/{lab_id}")
        assert lab["topology"]["links"] == []
        assert [len(n["interfaces"]) for n in lab["topology"]["nodes"]] == [1, 1]
    finally:
        destroy(api, lab_id)
