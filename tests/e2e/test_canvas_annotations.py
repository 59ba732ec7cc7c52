"""Issue 15, feature 3: what is on the wire, visible on the canvas.

Addresses and subnets on the canvas (a toggle that stays on across reloads), notes and
shapes saved with the lab (through the topology document: they come back after a reload
and in the JSON/YAML exports; the containerlab export says it leaves them out),
shift-click multi-select and the properties of several nodes at once. The attacks: an
annotation's text is shown as text, never as markup, and a colour that is not #rrggbb
is a 400 naming the field. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_editor import open_lab, wait_saved
from tests.e2e.test_page_bugs import routed_doc

pytestmark = pytest.mark.e2e


def saved_doc(api: Api, lab_id: int) -> dict[str, Any]:
    status, lab = api.call("GET", f"/api/labs/{lab_id}")
    assert status == 200, lab
    return dict(lab.get("draft") or lab["topology"])


def open_new_lab(page: Any, api: Api, stack: LiveServer, name: str, doc: dict[str, Any]) -> int:
    """Make a lab of ``doc`` through the API, open it and wait for its nodes; its id."""
    status, lab = api.call("POST", "/api/labs", {"name": name, "topology": doc})
    assert status == 201, json.dumps(lab)
    open_lab(page, stack, int(lab["id"]))
    page.locator(".react-flow__node").first.wait_for()
    return int(lab["id"])


def test_addresses_and_subnets_toggle_on_the_canvas(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    open_new_lab(page, api, stack, "addresses on the canvas", routed_doc("addr-canvas", 1))
    assert page.get_by_test_id("node-addresses").count() == 0  # off by default
    page.get_by_test_id("show-addresses").check()
    h1 = page.locator('[data-node="h1"] [data-testid=node-addresses]')
    assert h1.inner_text().split() == ["eth0", "10.1.1.2/24"]
    r1 = page.locator('[data-node="r1"] [data-testid=node-addresses]').inner_text()
    assert "10.1.1.1/24" in r1 and "10.1.2.1/24" in r1
    subnets = page.get_by_test_id("link-subnet").all_text_contents()
    assert sorted(s.strip() for s in subnets) == ["10.1.1.0/24", "10.1.2.0/24"]
    shot(page, "addresses-on")
    # An edit shows at once: h2's new address and its link's subnet.
    page.locator('[data-node="h2"]').click()
    page.locator(".iface-head", has_text="eth0").click()
    field = page.get_by_label("Addresses (one per line, CIDR)")
    field.fill("10.1.2.9/24")
    field.press("Control+Enter")
    page.locator('[data-node="h2"] [data-testid=node-addresses]', has_text="10.1.2.9/24").wait_for()
    # The toggle stays on after a reload (a teacher's projector keeps its view).
    page.reload()
    page.locator('[data-node="h1"] [data-testid=node-addresses]').wait_for()
    page.get_by_test_id("show-addresses").uncheck()
    assert page.get_by_test_id("node-addresses").count() == 0
    assert page.get_by_test_id("link-subnet").count() == 0


def test_notes_and_shapes_are_saved_with_the_lab(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    lab_id = open_new_lab(page, api, stack, "annotated lab", routed_doc("annotated", 1))
    # A note: added, its text typed in place (double-click), saved in the document.
    page.get_by_test_id("add-note").click()
    note = page.locator('[data-annotation="0"]')
    note.dblclick()
    editor = page.get_by_label("Annotation text").first
    editor.fill("r1 forwards between the subnets")
    editor.press("Enter")
    assert wait_saved(page) == "saved"
    # A rectangle, given a colour in its properties, then dragged.
    page.get_by_test_id("add-rect").click()
    page.get_by_test_id("annotation-properties").wait_for()
    page.get_by_label("colour #16a34a").click()
    box = page.locator('[data-annotation="1"]')
    before = box.bounding_box()
    assert before
    page.mouse.move(before["x"] + 30, before["y"] + 30)
    page.mouse.down()
    page.mouse.move(before["x"] + 130, before["y"] + 90, steps=10)
    page.mouse.up()
    assert wait_saved(page) == "saved"
    doc = saved_doc(api, lab_id)
    notes = doc["annotations"]
    assert [a["kind"] for a in notes] == ["note", "rect"]
    assert notes[0]["text"] == "r1 forwards between the subnets"
    assert notes[1]["color"] == "#16a34a" and notes[1]["width"] == 240
    moved = notes[1]["position"]
    page.get_by_test_id("add-ellipse").click()
    assert wait_saved(page) == "saved"
    shot(page, "notes-and-shapes")
    # A reload draws them again from the server's document.
    page.reload()
    page.locator('[data-annotation="2"][data-kind="ellipse"]').wait_for()
    assert page.locator('[data-annotation="0"]').inner_text() == "r1 forwards between the subnets"
    after = saved_doc(api, lab_id)["annotations"]
    assert after[1]["position"] == moved and len(after) == 3
    # The exports carry them (JSON, YAML); containerlab's file says it leaves them out.
    for fmt, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        res = page.request.get(f"{stack.url}/api/labs/{lab_id}/export?format={fmt}")
        assert res.status == 200
        assert [a["kind"] for a in parse(res.text())["annotations"]] == ["note", "rect", "ellipse"]
    clab = page.request.get(f"{stack.url}/api/labs/{lab_id}/export?format=clab").text()
    assert "not carried: annotations: the editor's 3 notes and shapes" in clab
    # Deleting the selected note takes it out of the document; undo brings it back.
    page.locator('[data-annotation="0"]').click()
    # The note is selected once its properties show (a key pressed before goes nowhere).
    page.get_by_test_id("annotation-properties").get_by_role("heading", name="Note").wait_for()
    page.keyboard.press("Delete")
    assert wait_saved(page) == "saved"
    assert [a["kind"] for a in saved_doc(api, lab_id)["annotations"]] == ["rect", "ellipse"]
    page.keyboard.press("Control+z")
    assert wait_saved(page) == "saved"
    assert len(saved_doc(api, lab_id)["annotations"]) == 3
    # The panel's Delete removes the selected shape and its selection with it.
    # (its top edge: the note and the rectangle cover its middle)
    page.locator('[data-annotation="2"]').click(position={"x": 110, "y": 8})
    panel = page.get_by_test_id("annotation-properties")
    panel.get_by_role("button", name="Delete").click()
    panel.wait_for(state="detached")
    assert wait_saved(page) == "saved"
    assert [a["kind"] for a in saved_doc(api, lab_id)["annotations"]] == ["note", "rect"]


def test_annotation_text_is_text_and_a_css_colour_is_refused(
    signed_in: Any, api: Api, stack: LiveServer
) -> None:
    page = signed_in
    markup = "<img src=x onerror=\"document.title='owned'\">"
    doc = {
        **routed_doc("attack", 1),
        "annotations": [{"kind": "note", "position": {"x": 0, "y": -90}, "text": markup}],
    }
    lab_id = open_new_lab(page, api, stack, "annotation attack", doc)
    note = page.locator('[data-annotation="0"]')
    note.wait_for()
    assert note.inner_text() == markup  # shown literally
    assert note.locator("img").count() == 0
    time.sleep(0.3)  # an onerror would have fired by now
    assert page.title() != "owned"
    # A colour goes into a style: anything but #rrggbb is refused, naming the field.
    bad = {
        **doc,
        "annotations": [
            {"kind": "rect", "position": {"x": 0, "y": 0}, "width": 50, "height": 50,
             "color": "red; background-image: url(https://evil.example/x)"}
        ],
    }  # fmt: skip
    status, body = api.call("PUT", f"/api/labs/{lab_id}/topology", bad)
    assert status == 400, body
    assert body["code"] and any(i["path"] == "annotations[0].color" for i in body["issues"])
    # The legitimate colour is taken.
    bad["annotations"][0]["color"] = "#dc2626"
    status, body = api.call("PUT", f"/api/labs/{lab_id}/topology", bad)
    assert status == 200, body


def test_shift_click_selects_several_nodes_and_edits_them_at_once(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    lab_id = open_new_lab(page, api, stack, "several at once", routed_doc("multi", 1))
    page.locator('[data-node="h1"]').click()
    page.locator('[data-node="h2"]').click(modifiers=["Shift"])
    panel = page.get_by_test_id("multi-properties")
    panel.wait_for()
    assert panel.locator("h3").inner_text() == "2 nodes"
    assert page.locator(".react-flow__node.selected").count() == 2
    # Shift-click a third; the gateways differ, so the field says so.
    page.locator('[data-node="r1"]').click(modifiers=["Shift"])
    page.locator("h3", has_text="3 nodes").wait_for()
    assert page.get_by_test_id("multi-gateway").get_attribute("placeholder") == "several values"
    mtu = page.get_by_test_id("multi-mtu")
    mtu.fill("1400")
    mtu.press("Enter")
    page.get_by_role("button", name="Align in a row").click()
    assert wait_saved(page) == "saved"
    shot(page, "three-selected")
    doc = saved_doc(api, lab_id)
    assert all(i.get("mtu") == 1400 for n in doc["nodes"] for i in n["interfaces"])
    assert len({n["position"]["y"] for n in doc["nodes"]}) == 1
    # Shift-click again takes one out; a plain click on another selects it alone
    # (a plain click on a selected one keeps the group, to drag it together).
    page.locator('[data-node="r1"]').click(modifiers=["Shift"])
    page.locator("h3", has_text="2 nodes").wait_for()
    page.locator('[data-node="r1"]').click()
    page.get_by_test_id("multi-properties").wait_for(state="detached")
    assert page.locator(".react-flow__node.selected").count() == 1
    # One undo takes the whole MTU change of the three back... after the align's.
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert wait_saved(page) == "saved"
    assert not any(i.get("mtu") for n in saved_doc(api, lab_id)["nodes"] for i in n["interfaces"])
