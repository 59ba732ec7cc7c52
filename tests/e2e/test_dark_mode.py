"""Issue 15, feature 7: a link to the API docs from the app, and dark mode following the
system setting (`prefers-color-scheme`), the editor's canvas included. A screenshot of
each mode goes to test-artifacts/e2e/."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_editor import open_lab, two_hosts

pytestmark = pytest.mark.e2e

# The relative luminance (0 black .. 1 white) of what shows behind an element: its own
# background colour, or its nearest ancestor's where it is transparent.
LUMINANCE = """(sel) => {
  let el = document.querySelector(sel), c = "rgba(0, 0, 0, 0)";
  for (; el; el = el.parentElement) {
    c = getComputedStyle(el).backgroundColor;
    if (!/^rgba\\(.*, 0\\)$/.test(c) && c !== "transparent") break;
  }
  const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number)
    .map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""
SURFACES = ("body", ".topbar", ".palette", ".properties", ".react-flow", ".dock")


def test_api_docs_link_opens_the_openapi_page(signed_in: Any, stack: LiveServer) -> None:
    page = signed_in
    page.goto(f"{stack.url}/labs")
    link = page.get_by_test_id("api-docs")
    assert link.inner_text() == "API docs"
    with page.context.expect_page() as opened:
        link.click()
    docs = opened.value
    docs.wait_for_load_state()
    assert re.search(r"/api/docs$", docs.url)
    # Swagger UI draws the OpenAPI description: the labs endpoints are listed.
    docs.locator(".opblock").first.wait_for()
    assert docs.locator(".opblock-summary-path", has_text="/api/labs").count() > 0
    docs.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_follow_the_system_colour_scheme(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any, scheme: str
) -> None:
    page = signed_in
    page.emulate_media(color_scheme=scheme)
    try:
        status, lab = api.call(
            "POST", "/api/labs", {"name": f"{scheme} mode", "topology": two_hosts(f"{scheme}-mode")}
        )
        assert status == 201, json.dumps(lab)
        page.goto(f"{stack.url}/labs")
        page.locator(".table, .empty").first.wait_for()
        dark = scheme == "dark"
        body = page.evaluate(LUMINANCE, "body")
        assert (body < 0.05) if dark else (body > 0.8), body
        shot(page, f"labs-{scheme}")
        open_lab(page, stack, lab["id"])
        page.locator('[data-node="h1"]').wait_for()
        for sel in SURFACES:
            lum = page.evaluate(LUMINANCE, sel)
            assert (lum < 0.05) if dark else (lum > 0.8), (sel, lum)
        # Text stays readable on it: the node names are light on dark, dark on light.
        name_color = page.evaluate("getComputedStyle(document.querySelector('.device-name')).color")
        r, g, b = (int(v) for v in re.findall(r"\d+", name_color)[:3])
        assert (min(r, g, b) > 180) if dark else (max(r, g, b) < 80), name_color
        shot(page, f"editor-{scheme}")
    finally:
        page.emulate_media(color_scheme="no-preference")
