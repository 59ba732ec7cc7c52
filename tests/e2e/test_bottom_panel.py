"""Issue 15, feature 5: a bottom panel that fits the work.

It resizes from its top edge (mouse or keyboard) and floats over the canvas when
detached, both kept across reloads; a console opens in a window of its own (a real
console of a real node on the lab host); the journey list follows the hop the canvas
shows. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_editor import open_lab, two_hosts
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture
from tests.e2e.test_page_bugs import destroy, make_lab, routed_doc, wait_state

pytestmark = pytest.mark.e2e

DOCK = "[data-testid=dock]"


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).first.bounding_box()
    assert b, selector
    return dict(b)


def test_bottom_panel_resizes_and_detaches(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    status, lab = api.call("POST", "/api/labs", {"name": "dock", "topology": two_hosts("dock")})
    assert status == 201, lab
    page.goto(stack.url + "/labs")
    page.evaluate("localStorage.removeItem('topolab.dock')")
    open_lab(page, stack, lab["id"])
    start = box(page, DOCK)
    canvas = box(page, ".canvas")
    # Drag the top edge up by 200 px: the panel grows, the canvas shrinks by as much.
    edge = box(page, "[data-testid=dock-resize]")
    mid = edge["y"] + edge["height"] / 2
    page.mouse.move(edge["x"] + 300, mid)
    page.mouse.down()
    page.mouse.move(edge["x"] + 300, mid - 200, steps=10)
    page.mouse.up()
    grown = box(page, DOCK)
    assert abs(grown["height"] - (start["height"] + 200)) <= 2, (start, grown)
    assert abs(box(page, ".canvas")["height"] - (canvas["height"] - 200)) <= 2
    # It cannot swallow the canvas: a drag to the top stops with the canvas still there.
    edge = box(page, "[data-testid=dock-resize]")
    page.mouse.move(edge["x"] + 300, edge["y"] + 2)
    page.mouse.down()
    page.mouse.move(edge["x"] + 300, 0, steps=10)
    page.mouse.up()
    assert box(page, ".canvas")["height"] >= 150
    # The keyboard works too: the handle is a focusable separator.
    handle = page.get_by_role("separator", name="Resize the bottom panel")
    handle.focus()
    before = int(handle.get_attribute("aria-valuenow"))
    page.keyboard.press("ArrowDown")
    assert int(handle.get_attribute("aria-valuenow")) == before - 20
    # The height survives a reload.
    height = box(page, DOCK)["height"]
    page.reload()
    page.locator(DOCK).wait_for()
    assert abs(box(page, DOCK)["height"] - height) <= 2
    shot(page, "dock-resized")
    # Detached, it floats over the canvas, which takes the whole height again.
    page.get_by_test_id("dock-detach").click()
    page.locator(".dock.detached").wait_for()
    assert page.evaluate("getComputedStyle(document.querySelector('.dock')).position") == "fixed"
    assert box(page, ".canvas")["height"] > canvas["height"]
    # Dragged by its tab bar's free space, it moves with the pointer.
    floating = box(page, DOCK)
    grip = box(page, ".dock-grip")
    page.mouse.move(grip["x"] + 10, grip["y"] + 10)
    page.mouse.down()
    page.mouse.move(grip["x"] + 110, grip["y"] + 80, steps=8)
    page.mouse.up()
    moved = box(page, DOCK)
    assert (
        abs(moved["x"] - (floating["x"] + 100)) <= 2 and abs(moved["y"] - (floating["y"] + 70)) <= 2
    )
    # Its tabs still work where it floats.
    page.get_by_role("tab", name="Packet journey").click()
    page.get_by_label("Journey source").wait_for()
    shot(page, "dock-detached")
    page.reload()
    page.locator(".dock.detached").wait_for()  # still floating after a reload
    page.get_by_test_id("dock-detach").click()
    page.locator(".dock.detached").wait_for(state="detached")
    assert page.evaluate("getComputedStyle(document.querySelector('.dock')).position") != "fixed"


def test_console_window_and_journey_follow_the_active_hop(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    lab_id = make_lab(api, "console window", routed_doc("console-window", 87))
    try:
        status, body = api.call("POST", f"/api/labs/{lab_id}/deploy")
        assert status in (200, 202), body
        wait_state(api, lab_id, "running")
        page.goto(stack.url + "/labs")
        page.evaluate("localStorage.removeItem('topolab.dock')")
        open_lab(page, stack, lab_id)
        page.locator("[data-testid=state-badge][data-state=running]").wait_for()
        # A console in the dock, then in its own window: the dock's tab closes.
        page.get_by_label("Open a console").select_option("h1")
        page.locator("[data-console=h1]").wait_for()
        with page.context.expect_page() as opened:
            page.get_by_role("button", name="Open h1's console in its own window").click()
        win = opened.value
        win.wait_for_load_state()
        assert win.url.endswith(f"/labs/{lab_id}/console/h1")
        win.locator("[data-console=h1] .xterm").wait_for()
        win.locator(".console-status", has_text="connected").wait_for()
        win.locator("[data-console=h1] .xterm").click()
        win.keyboard.type("ip -br addr show eth0; hostname\n")
        win.wait_for_function(
            "document.querySelector('[data-console=h1] .xterm-rows')"
            "?.innerText.includes('10.87.1.2/24')",
            timeout=15_000,
        )
        rows = win.locator("[data-console=h1] .xterm-rows").inner_text()
        assert "\nh1" in rows  # the node's own hostname: it is h1's sandbox
        assert win.title() == "h1 · console · Topolab"
        shot(win, "console-window")
        win.close()
        assert page.locator("[data-console=h1]").count() == 0
        # A short panel: the journey list must scroll to keep the active hop in view.
        handle = page.get_by_role("separator", name="Resize the bottom panel")
        handle.focus()
        for _ in range(2):
            page.keyboard.press("ArrowDown")
        page.get_by_role("tab", name="Packet journey").click()
        page.get_by_label("Journey source").select_option("h1")
        page.get_by_label("Journey address").fill("10.87.2.2")
        with page.expect_response(lambda r: r.url.endswith("/journeys"), timeout=60_000) as got:
            page.get_by_role("button", name="Trace").click()
        hops = got.value.json()["hops"]
        assert len(hops) >= 12, hops
        # The replay walks hop by hop; each active hop is inside the visible list.
        seen: set[int] = set()
        for _ in range(len(hops) * 4):
            state = page.evaluate(
                """() => {
                  const items = [...document.querySelectorAll('.hops > li')];
                  const i = items.findIndex((li) => li.classList.contains('active'));
                  if (i < 0) return null;
                  const view = document.querySelector('.dock-body').getBoundingClientRect();
                  const list = document.querySelector('.hops').getBoundingClientRect();
                  const r = items[i].getBoundingClientRect();
                  const top = Math.max(view.top, list.top);
                  const bottom = Math.min(view.bottom, list.bottom);
                  // Its head (node, interface, direction) is on screen.
                  return {i, visible: r.top >= top - 1 && r.top + 18 <= bottom + 1};
                }"""
            )
            if state:
                assert state["visible"], state
                seen.add(state["i"])
                if state["i"] == len(hops) - 1:
                    break
            page.wait_for_timeout(350)
        assert len(hops) - 1 in seen and len(seen) >= len(hops) // 2, seen
        scrolled = page.evaluate(
            "document.querySelector('.hops').scrollTop"
            " + document.querySelector('.dock-body').scrollTop"
        )
        assert scrolled > 0
        shot(page, "journey-follows")
    finally:
        destroy(api, lab_id)
