"""``POST /api/topology/import/archive``: a containerlab lab folder as a .tar.gz or .zip.

The legitimate folder (our frr01) imports with its binds as node files; an archive that
reaches outside itself, or past a bound, is a 400 whose code names why and whose issue
names the field ``archive``, never a 500.
"""

from __future__ import annotations

import tarfile
from typing import Any

import pytest
from django.test import Client

from lab.topology.archive import ARCHIVE_MAX_BYTES
from tests.unit.topology.test_archive import FRR01, frr01_members, tar_gz, zip_of

pytestmark = pytest.mark.django_db
URL = "/api/topology/import/archive"


def post(client: Client, data: bytes, content_type: str = "application/gzip", **extra: Any) -> Any:
    return client.post(URL, data=data, content_type=content_type, **extra)


@pytest.mark.parametrize(
    ("pack", "media"), [(tar_gz, "application/gzip"), (zip_of, "application/zip")]
)
def test_the_frr01_folder_imports_as_the_cli_reads_it(alice_client: Client, pack, media) -> None:  # type: ignore[no-untyped-def]
    response = post(alice_client, pack(frr01_members()), media)
    assert response.status_code == 200, response.content
    body = response.json()
    router1 = next(n for n in body["topology"]["nodes"] if n["name"] == "router1")
    conf = {f["path"]: f["content"] for f in router1["files"]}
    assert conf["/etc/frr/frr.conf"] == (FRR01 / "router1" / "frr.conf").read_text()
    assert [s["kind"] for s in router1["services"]] == ["frr"]
    assert not [w for w in body["warnings"] if "bind" in w]
    # Nothing was saved: an import is a document for the page to open.
    assert alice_client.get("/api/labs").json() == []


def test_attack_traversal_links_and_bounds_are_400_naming_the_field(alice_client: Client) -> None:
    yml = {"lab/x.clab.yml": b"name: x\ntopology:\n  nodes: {}\n"}
    link = tarfile.TarInfo("lab/r1/frr.conf")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    cases = {
        "archive.bad_member": [
            tar_gz({**yml, "../../etc/cron.d/evil": b"* * * * * root sh"}),
            tar_gz(yml, [link]),
            zip_of({**yml, "/etc/passwd": b"x"}),
        ],
        "archive.member_too_large": [tar_gz({**yml, "zeros": bytes(50_000_000)})],
        "archive.unknown_format": [b"name: x\n"],
        "archive.no_topology": [tar_gz({"r1/frr.conf": b"x"})],
    }
    for code, bodies in cases.items():
        for data in bodies:
            response = post(alice_client, data)
            assert response.status_code == 400, (code, response.content)
            body = response.json()
            assert body["code"] == code, body
            assert body["issues"][0]["path"] == "archive"


def test_an_archive_too_large_is_refused_before_it_is_read(alice_client: Client) -> None:
    response = post(alice_client, b"\x1f\x8b" + bytes(ARCHIVE_MAX_BYTES))
    assert response.status_code in (400, 413)
    assert response.json()["code"] in ("archive.too_large", "request.too_large")
    empty = post(alice_client, b"")
    assert empty.status_code == 400 and empty.json()["code"] == "archive.missing"


def test_a_bind_that_leaves_the_folder_becomes_no_node_file(alice_client: Client) -> None:
    yml = (
        b"name: x\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      image: alpine\n"
        b"      binds:\n        - ../secret.conf:/etc/frr/frr.conf\n"
        b"        - /etc/passwd:/etc/frr/daemons\n"
    )
    data = tar_gz({"lab/x.clab.yml": yml, "secret.conf": b"outside the folder"})
    response = post(alice_client, data)
    assert response.status_code == 200, response.content
    (r1,) = response.json()["topology"]["nodes"]
    assert r1["files"] == []  # neither the sibling of the folder nor the host's file
    assert "root:" not in response.content.decode()


def test_signed_out_is_refused() -> None:
    response = post(Client(), tar_gz(frr01_members()))
    assert response.status_code in (401, 403)
    assert set(response.json()) >= {"code", "message"}
