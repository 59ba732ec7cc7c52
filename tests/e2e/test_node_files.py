"""A node's files and services in the node inspector, on a lab the real lab host runs.

Edit a node file in the page, apply, and the running node has the new content in place
(read through the node's sandbox, as ``topolab exec`` does, and served by its http
service); stop and restart the http service from the page and see its state and log.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_editor import open_lab, wait_saved
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture
from tests.e2e.test_page_bugs import destroy, make_lab, pair_doc, wait_state
from tests.kernel.test_frr import http_get
from tests.unit.topology.test_archive import FRR01, frr01_members, tar_gz
from worker import sandbox

pytestmark = pytest.mark.e2e

PAGE = "/root/www/index.html"
RUNNING = "document.querySelector('[data-testid=state-badge]')?.dataset.state === 'running'"


def node_file(key: str, node: str, path: str, want: str, timeout: float = 30) -> str:
    """The file's content in the running node, once it is ``want`` (or at the deadline)."""
    deadline = time.monotonic() + timeout
    got = sandbox.run(key, node, ["cat", path]).stdout
    while got != want and time.monotonic() < deadline:
        time.sleep(0.3)
        got = sandbox.run(key, node, ["cat", path]).stdout
    return got


def test_files_of_a_stopped_lab_are_edited_added_and_removed_in_the_document(
    signed_in: Any, api: Api, stack: LiveServer
) -> None:
    page = signed_in
    doc = pair_doc("files-stopped", 95)
    doc["nodes"][1]["files"] = {PAGE: "first\n"}
    doc["nodes"][1]["services"] = [{"kind": "http", "port": 8080, "root": "/root/www"}]
    lab_id = make_lab(api, "files-stopped", doc)
    open_lab(page, stack, lab_id)
    page.locator('[data-node="h2"]').click()
    files = page.locator("[data-testid=node-files]")
    files.locator(f'[data-file="{PAGE}"]').click()
    files.locator("textarea[name=node-file-content]").fill("edited\n")
    files.locator("button[name=node-file-save]").click()
    assert wait_saved(page) == "saved"
    # A new file, then the old one removed: each a saved edit of the node's files.
    files.get_by_label("New file path").fill("/root/www/extra.html")
    files.get_by_role("button", name="Add file").click()
    files.locator("textarea[name=node-file-content]").fill("extra\n")
    files.locator("button[name=node-file-save]").click()
    assert wait_saved(page) == "saved"
    files.locator(f'[data-file="{PAGE}"]').click()
    files.get_by_role("button", name="Remove").click()
    assert wait_saved(page) == "saved"
    _, lab = api.call("GET", f"/api/labs/{lab_id}")
    assert lab["topology"]["nodes"][1]["files"] == [
        {"path": "/root/www/extra.html", "content": "extra\n"}
    ]
    # The services list asks nothing of a lab host while the lab is stopped.
    http = page.locator("[data-testid=node-services] [data-service=http]")
    expect(http).to_have_attribute("data-state", "stopped")
    expect(http.locator("button[name=service-restart]")).to_be_disabled()
    expect(page.get_by_text("The lab is not running")).to_be_visible()


def test_a_lab_folder_archive_imports_with_its_binds_as_node_files(
    signed_in: Any, api: Api, stack: LiveServer, tmp_path: Path
) -> None:
    page = signed_in
    lab_id = make_lab(api, "archive target", pair_doc("archive-target", 96))
    open_lab(page, stack, lab_id)
    archive = tmp_path / "frr01.tar.gz"
    archive.write_bytes(tar_gz(frr01_members()))
    page.get_by_test_id("import-file").set_input_files(str(archive))
    dialog = page.get_by_test_id("import-dialog")
    dialog.wait_for()
    assert "frr01.tar.gz" in dialog.inner_text() and "6 nodes" in dialog.inner_text()
    page.get_by_role("button", name="Replace the design").click()
    page.locator('[data-node="router1"]').wait_for()
    assert wait_saved(page) == "saved"
    page.locator('[data-node="router1"]').click()
    files = page.locator("[data-testid=node-files]")
    files.locator('[data-file="/etc/frr/frr.conf"]').click()
    want = (FRR01 / "router1" / "frr.conf").read_text()
    expect(files.locator("textarea[name=node-file-content]")).to_have_value(want)
    # A file that is no lab folder: the page says why, the design stays.
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    page.get_by_test_id("import-file").set_input_files(str(bad))
    expect(page.get_by_text("Import failed")).to_be_visible()
    assert page.locator('[data-node="router1"]').count() == 1


def test_edit_a_node_file_apply_and_control_its_service(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    doc = pair_doc("files", 94)
    doc["nodes"][1]["files"] = {PAGE: "first\n"}
    doc["nodes"][1]["services"] = [{"kind": "http", "port": 8080, "root": "/root/www"}]
    lab_id = make_lab(api, "files", doc)
    try:
        assert api.call("POST", f"/api/labs/{lab_id}/deploy")[0] == 202
        key = wait_state(api, lab_id, "running")["key"]
        open_lab(page, stack, lab_id)
        page.wait_for_function(RUNNING)
        page.locator('[data-node="h2"]').click()
        files = page.locator("[data-testid=node-files]")
        files.locator(f'[data-file="{PAGE}"]').click()
        editor = files.locator("textarea[name=node-file-content]")
        expect(editor).to_have_value("first\n")

        # Over the bound: the editor says so and will not save.
        editor.fill("x" * (256 * 1024 + 1))
        expect(files.get_by_text("larger than 256 KiB")).to_be_visible()
        expect(files.locator("button[name=node-file-save]")).to_be_disabled()

        editor.fill("second\n")
        files.locator("button[name=node-file-save]").click()
        assert wait_saved(page) == "saved"
        _, lab = api.call("GET", f"/api/labs/{lab_id}")
        assert {"path": PAGE, "content": "second\n"} in lab["topology"]["nodes"][1]["files"]
        assert node_file(key, "h2", PAGE, "first\n", timeout=0) == "first\n"  # until applied
        shot(page, "file-edited")

        page.get_by_test_id("deploy-button").click()
        page.get_by_test_id("pending-apply").click()
        page.wait_for_function("document.querySelector('[data-testid=deploy-button]').disabled")
        wait_state(api, lab_id, "running")
        page.wait_for_function(RUNNING)
        assert node_file(key, "h2", PAGE, "second\n") == "second\n"  # rewritten in place
        assert http_get(key, "h1", "http://10.94.0.2:8080/index.html").stdout == "second\n"

        # The service's state and log; stop, then restart from the page.
        services = page.locator("[data-testid=node-services]")
        services.get_by_role("button", name="refresh").click()
        http = services.locator("[data-service=http]")
        expect(http).to_have_attribute("data-state", "running", timeout=30_000)
        expect(http.get_by_test_id("service-log")).to_contain_text('"GET /index.html HTTP/1.1" 200')
        http.locator("button[name=service-stop]").click()
        expect(http).to_have_attribute("data-state", "stopped", timeout=30_000)
        assert http_get(key, "h1", "http://10.94.0.2:8080/", tries=1).returncode != 0
        http.locator("button[name=service-restart]").click()
        expect(http).to_have_attribute("data-state", "running", timeout=30_000)
        expect(http.get_by_test_id("service-state")).to_have_text("running")
        assert http_get(key, "h1", "http://10.94.0.2:8080/index.html").stdout == "second\n"
        shot(page, "service-restarted")
    finally:
        destroy(api, lab_id)
