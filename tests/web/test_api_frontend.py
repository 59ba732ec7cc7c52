"""Serving the single-page app: index.html for client routes, hashed assets, placeholder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

INDEX = (
    b'<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js">'
    b'</script></head><body><div id="root"></div></body></html>'
)


@pytest.fixture
def dist(tmp_path: Path, settings: Any) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "app-1a2b.js").write_text("console.log('topolab')")
    (root / "assets" / "app-1a2b.css").write_text("body{}")
    (root / "assets" / "font-9z.woff2").write_bytes(b"wOF2")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    settings.FRONTEND_DIST = root
    return root


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    "route", ["/", "/login", "/labs", "/labs/12", "/labs/12/edit", "/demos", "/courses/net-101/3"]
)
def test_client_routes_get_index_html(client: Client, dist: Path, route: str) -> None:
    response = client.get(route)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/assets/app-1a2b.js", "text/javascript; charset=utf-8"),
        ("/assets/app-1a2b.css", "text/css; charset=utf-8"),
        ("/assets/font-9z.woff2", "font/woff2"),
    ],
)
def test_assets_have_types_and_long_cache(
    client: Client, dist: Path, path: str, content_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert _body(response) == (dist / path.lstrip("/")).read_bytes()


def test_top_level_build_files(client: Client, dist: Path) -> None:
    response = client.get("/favicon.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert client.get("/robots.txt").status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/assets/missing.js", "/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/"],
)
def test_no_file_outside_assets(client: Client, dist: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"not for the web" not in _body(response)


def test_placeholder_until_the_frontend_is_built(
    client: Client, tmp_path: Path, settings: Any
) -> None:
    settings.FRONTEND_DIST = tmp_path / "not-built"
    response = client.get("/labs/3")
    assert response.status_code == 200
    assert b"make frontend" in response.content and b"/api/docs" in response.content


def test_reserved_prefixes_are_not_the_spa(client: Client, dist: Path) -> None:
    assert client.get("/admin").status_code == 301  # APPEND_SLASH to the admin
    assert client.get("/ws/labs/1/").status_code == 404
    api = client.get("/api")
    assert api.status_code in (301, 404) and api.content != INDEX
    assert client.post("/labs/1").status_code == 405
