"""Who may do what: sign-in, CSRF, other users' labs (404 on every route), docs offline."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from lab.api import api as ninja_api
from lab.models import Deployment, Lab
from tests.web.conftest import api

pytestmark = pytest.mark.django_db

SCHEMA = ninja_api.get_openapi_schema(path_prefix="/api/")
# Every operation of the API, read from its OpenAPI description so a route added
# later (by any room) is covered without touching these tests.
OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    (method.upper(), path, operation)
    for path, operations in SCHEMA["paths"].items()
    for method, operation in operations.items()
]
# Path parameters naming public things (the demo library), not anybody's objects.
PUBLIC_PARAMS = {"slug"}
OWNED = [
    (m, p, op) for m, p, op in OPERATIONS if set(re.findall(r"\{([^}]+)\}", p)) - PUBLIC_PARAMS
]
PROTECTED = [(m, p, op) for m, p, op in OPERATIONS if op.get("security")]


def _ids(ops: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [f"{m} {p}" for m, p, _ in ops]


def test_every_api_url_is_described() -> None:
    """The route tables below come from the OpenAPI paths; none may hide from them."""
    patterns, _, _ = ninja_api.urls
    described = {re.sub(r"\{[^}]+\}", "<x>", p.removeprefix("/api/")) for p in SCHEMA["paths"]}
    for pattern in patterns:
        route = re.sub(r"<[^>]+>", "<x>", str(pattern.pattern))
        if pattern.name in ("api-root", "openapi-json", "openapi-view"):
            continue
        assert route in described, f"{route} is not in the OpenAPI description"
    assert len(OWNED) >= 10 and len(PROTECTED) >= 14


def _resolve(ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    if not ref:
        return ref_or_schema
    name = ref.rsplit("/", 1)[-1]
    return dict(SCHEMA["components"]["schemas"][name])


def _example(schema: dict[str, Any]) -> Any:
    """A value satisfying a (simple) JSON schema: enough to get past body validation."""
    schema = _resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _example(schema["anyOf"][0])
    kind = schema.get("type", "object")
    if kind == "string" and schema.get("format") in ("date-time", "date"):
        return "2030-01-01T00:00:00Z" if schema["format"] == "date-time" else "2030-01-01"
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _example(props[name]) for name in schema.get("required", [])}
    return {"string": "x", "integer": 1, "number": 1, "boolean": False, "array": []}.get(kind)


def _body(operation: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return _example(content["schema"]) if content else None


@pytest.fixture
def alice_objects(
    alice: Any, alice_client: Client, alice_lab: dict[str, Any], enqueued: list[int], settings: Any
) -> dict[str, Any]:
    """One object of alice's for every kind of path parameter any room's routes take.

    A route with a parameter missing here fails the ownership test by name: add
    the object, so the route is checked like the others.
    """
    import datetime

    import redis

    from lab.models import LabHost

    deployment = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/deploy")
    assert deployment.status_code == 202
    objects: dict[str, Any] = {
        "lab_id": alice_lab["id"],
        "deployment_id": deployment.json()["deployment"]["id"],
        "number": 1,  # the lab's first revision
        # A node and an interface of that revision (tests/web/conftest.py VALID_DOC).
        "node": "h1",
        "interface": "eth0",
        # A service and an action of lab/api/nodes.py (h1 has none: 404 comes first).
        "service": "http",
        "action": "restart",
    }
    # Telemetry keeps a capture's owner lab in Redis (lab/api/telemetry.py).
    capture_id = "0123456789abcdef"
    redis.Redis.from_url(settings.REDIS_URL).set(
        f"topolab:capture:{capture_id}",
        json.dumps({"lab": alice_lab["id"], "host": "nowhere"}),
        ex=300,
    )
    objects["capture_id"] = capture_id
    try:
        from lab.classroom.models import Course, Exercise, Reservation
    except ImportError:
        return objects
    course = Course.objects.create(name="alice's course")
    course.instructors.add(alice)
    objects["course_id"] = course.pk
    document = Lab.objects.get(pk=alice_lab["id"]).latest_revision().document
    objects["exercise_id"] = Exercise.objects.create(
        course=course, title="ex", topology=document, template=document
    ).pk
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    objects["reservation_id"] = Reservation.objects.create(
        user=alice,
        lab_id=alice_lab["id"],
        host=LabHost.objects.create(name="booked-host"),
        start=start,
        end=start + datetime.timedelta(hours=1),
        nodes=2,
    ).pk
    return objects


def _fill(path: str, objects: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in objects:
            pytest.fail(
                f"{path}: no fixture object for path parameter {name!r}; add one to "
                "alice_objects so the ownership test covers this route"
            )
        return str(objects[name])

    return re.sub(r"\{([^}]+)\}", one, path)


@pytest.mark.parametrize(("method", "path", "operation"), OWNED, ids=_ids(OWNED))
def test_other_users_labs_are_404_everywhere(
    bob_client: Client,
    alice_client: Client,
    alice_objects: dict[str, Any],
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    url = _fill(path, alice_objects)
    query = "?format=json" if path.endswith("/export") else ""
    before = (Lab.objects.count(), Deployment.objects.count())
    response = api(bob_client, method, url + query, _body(operation))
    assert response.status_code == 404, (url, response.status_code, response.content)
    body = response.json()
    assert set(body) == {"code", "message", "issues"}
    assert body["code"].endswith("not_found")
    # Nothing was made or removed for bob, and alice still sees her lab.
    assert (Lab.objects.count(), Deployment.objects.count()) == before
    assert alice_client.get(f"/api/labs/{alice_objects['lab_id']}").status_code == 200


@pytest.mark.parametrize(("method", "path", "operation"), OWNED, ids=_ids(OWNED))
def test_missing_objects_are_404_like_foreign_ones(
    alice_client: Client, method: str, path: str, operation: dict[str, Any]
) -> None:
    url = re.sub(r"\{[^}]+\}", "999999", path)
    response = api(alice_client, method, url, _body(operation))
    assert response.status_code == 404
    assert response.json()["code"].endswith("not_found")


@pytest.mark.parametrize(("method", "path", "operation"), PROTECTED, ids=_ids(PROTECTED))
def test_anonymous_is_401_everywhere(method: str, path: str, operation: dict[str, Any]) -> None:
    url = re.sub(r"\{[^}]+\}", "1", path)
    response = api(Client(), method, url, _body(operation))
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "auth.required"


def test_labs_list_shows_only_own(
    alice_client: Client, bob_client: Client, alice_lab: dict[str, Any]
) -> None:
    assert api(bob_client, "GET", "/api/labs").json() == []
    assert [lab["id"] for lab in api(alice_client, "GET", "/api/labs").json()] == [alice_lab["id"]]


# -- sign-in and CSRF -------------------------------------------------------------------


def test_login_me_logout_with_csrf(alice: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.get("/api/auth/me").status_code == 401

    no_token = api(client, "POST", "/api/auth/login", {"username": "alice", "password": "pw-alice"})
    assert no_token.status_code == 403
    assert no_token.json()["code"] == "csrf.failed"

    token = client.get("/api/auth/csrf").json()["csrf_token"]
    assert client.cookies["csrftoken"].value
    wrong = api(
        client, "POST", "/api/auth/login", {"username": "alice", "password": "nope"},
        HTTP_X_CSRFTOKEN=token,
    )  # fmt: skip
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "auth.invalid_credentials"

    ok = api(
        client, "POST", "/api/auth/login", {"username": "alice", "password": "pw-alice"},
        HTTP_X_CSRFTOKEN=token,
    )  # fmt: skip
    assert ok.status_code == 200
    assert ok.json()["username"] == "alice"
    assert client.get("/api/auth/me").json()["username"] == "alice"

    # Signing in rotates the token: the old one no longer works.
    fresh = client.cookies["csrftoken"].value
    stale = api(client, "POST", "/api/labs", {"name": "x"}, HTTP_X_CSRFTOKEN=token)
    assert stale.status_code == 403 and stale.json()["code"] == "csrf.failed"
    made = api(client, "POST", "/api/labs", {"name": "x"}, HTTP_X_CSRFTOKEN=fresh)
    assert made.status_code == 201

    out = api(client, "POST", "/api/auth/logout", HTTP_X_CSRFTOKEN=fresh)
    assert out.status_code == 204
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize(("method", "path", "operation"), PROTECTED, ids=_ids(PROTECTED))
def test_writes_without_csrf_token_are_403_json(
    alice: Any, alice_lab: dict[str, Any], method: str, path: str, operation: dict[str, Any]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = re.sub(r"\{[^}]+\}", str(alice_lab["id"]), path)
    response = api(client, method, url, _body(operation))
    if method == "GET":
        assert response.status_code != 403
        return
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "csrf.failed"
    assert Lab.objects.count() == 1


def test_django_csrf_failure_under_api_is_json(alice: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    # Not a ninja route: Django's own CSRF middleware refuses it, through our view.
    response = client.post("/api/no-such-endpoint", {})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "csrf.failed"
    page = client.post("/admin/login/", {})
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


# -- error shapes -----------------------------------------------------------------------


def test_unknown_paths_and_methods_keep_the_error_shape(alice_client: Client) -> None:
    missing = alice_client.get("/api/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong_method = alice_client.delete("/api/labs")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method.not_allowed"
    assert "GET" in wrong_method["Allow"]
    bad_id = alice_client.get("/api/labs/abc")
    assert bad_id.status_code == 400
    assert bad_id.json()["issues"][0]["path"] == "lab_id"


# -- documentation ----------------------------------------------------------------------


def test_openapi_json_is_served(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert "/api/labs/{lab_id}/topology" in response.json()["paths"]


def test_docs_page_uses_only_local_assets(client: Client) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    # The validator badge would fetch from validator.swagger.io: it is off.
    assert '"validatorUrl": null' in html
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in refs)
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert len(body) > 100, ref
    css = client.get("/static/ninja/swagger-ui.css")
    assert css["Content-Type"].startswith("text/css")


def test_admin_login_works(make_user: Any) -> None:
    staff = make_user("root")
    staff.is_staff = True
    staff.is_superuser = True
    staff.save()
    client = Client()
    page = client.get("/admin/login/")
    assert page.status_code == 200
    css = re.search(r'href="(/static/admin/css/[^"]+)"', page.content.decode())
    assert css and client.get(css.group(1)).status_code == 200
    signed_in = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "pw-root"}
    )
    assert signed_in.status_code == 302
    assert client.get("/admin/lab/lab/").status_code == 200
    assert client.get("/admin/lab/deployment/").status_code == 200
    assert client.get("/admin/lab/labhost/").status_code == 200
    assert client.get("/admin/lab/lab/add/").status_code == 200
    lab = Lab.objects.create(owner=staff, name="admin view")
    lab.revisions.create(number=1, document={"name": "x"})
    deployment = Deployment.objects.create(lab=lab, action="deploy")
    assert client.get(f"/admin/lab/lab/{lab.pk}/change/").status_code == 200
    assert client.get(f"/admin/lab/deployment/{deployment.pk}/change/").status_code == 200
    assert client.get("/admin/lab/topologyrevision/").status_code == 200
