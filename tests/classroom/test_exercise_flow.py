"""An exercise end to end on real namespaces: the instructor makes it from a lab, a
student starts a copy, the checks that need work fail, the student's changes through
the API (PUT topology + apply) make them pass, the instructor's table shows it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from lab.models import Lab
from tests.classroom.conftest import api
from tests.conftest import netns_names

pytestmark = [pytest.mark.kernel, pytest.mark.django_db(transaction=True)]

CHECKS = [
    {
        "kind": "address",
        "node": "h2",
        "interface": "eth0",
        "address": "10.61.2.1/24",
        "hint": "give h2 its address",
    },
    {"kind": "reach", "src": "h1", "dst": "10.61.2.1", "count": 1, "timeout": 1},
    {"kind": "forwarding", "node": "r1"},
]


def _passed(client: Any, lab_id: int) -> list[bool]:
    response = api(client, "POST", f"/api/labs/{lab_id}/checks")
    assert response.status_code == 202, response.content
    rows = api(client, "GET", f"/api/labs/{lab_id}/checks").json()["checks"]
    return [row["passed"] for row in rows]


def test_exercise_from_template_to_passing_checks(
    people: dict[str, Any],
    client_for: Any,
    doc: dict[str, Any],
    unique_lab_ids: None,
    kernel_labs: list[str],
    checks_here: None,
) -> None:
    teacher, stud1, stud2 = people["teacher"], people["stud1"], people["stud2"]
    t, s1, s2 = client_for(teacher), client_for(stud1), client_for(stud2)
    course = people["course"]

    source = api(t, "POST", "/api/labs", {"name": "routing", "topology": doc}).json()
    response = api(
        t,
        "POST",
        f"/api/courses/{course.pk}/exercises",
        {
            "lab": source["id"],
            "title": "Route to h2",
            "instructions": "Give **h2** its address and gateway.",
            "preconfigure": {"addresses": False, "routes": False, "nodes": ["h2"]},
            "checks": CHECKS,
        },
    )
    assert response.status_code == 201, response.content
    exercise = response.json()
    assert "<strong>h2</strong>" in exercise["instructions_html"]
    h2 = next(n for n in exercise["template"]["nodes"] if n["name"] == "h2")
    assert h2["interfaces"][0]["addresses"] == [] and h2["gateway"] is None

    started = api(s1, "POST", f"/api/exercises/{exercise['id']}/start")
    assert started.status_code == 202, started.content
    lab_id = started.json()["lab"]
    lab = Lab.objects.get(pk=lab_id)
    assert lab.owner == stud1 and lab.state == Lab.State.RUNNING
    assert f"tl-{lab.key}-h2" in netns_names()
    # Starting again hands back the same copy.
    assert api(s1, "POST", f"/api/exercises/{exercise['id']}/start").json()["lab"] == lab_id

    assert _passed(s1, lab_id) == [False, False, True]
    rows = api(s1, "GET", f"/api/labs/{lab_id}/checks").json()["checks"]
    assert rows[0]["hint"] == "give h2 its address" and rows[0]["last_pass"] is None

    # Other students and other courses' instructors see nothing; the course's does.
    assert api(s2, "GET", f"/api/labs/{lab_id}/checks").status_code == 404
    assert api(s2, "POST", f"/api/labs/{lab_id}/checks").status_code == 404
    other = client_for(people["other_teacher"])
    assert api(other, "GET", f"/api/labs/{lab_id}/checks").status_code == 404
    assert api(t, "GET", f"/api/labs/{lab_id}/checks").status_code == 200

    # The student's work, through the API: the full document, then apply.
    put = api(s1, "PUT", f"/api/labs/{lab_id}/topology", doc)
    assert put.status_code == 200, put.content
    applied = api(s1, "POST", f"/api/labs/{lab_id}/apply")
    assert applied.status_code == 202, applied.content
    assert _passed(s1, lab_id) == [True, True, True]

    table = api(t, "GET", f"/api/courses/{course.pk}/results").json()
    assert len(table["columns"]) == 3
    by_student = {row["student"]: row["cells"] for row in table["rows"]}
    assert [c["passed"] for c in by_student["stud1"]] == [True, True, True]
    assert all(c["last_pass"] for c in by_student["stud1"])
    assert [c["started"] for c in by_student["stud2"]] == [False, False, False]
    assert api(s1, "GET", f"/api/courses/{course.pk}/results").status_code == 404

    exported = api(t, "GET", f"/api/courses/{course.pk}/results.csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.content.decode())))
    assert lines[0][0] == "student" and len(lines[0]) == 4
    stud1_line = next(line for line in lines if line[0] == "stud1")
    assert all(cell.startswith("PASS 20") for cell in stud1_line[1:])

    # Reset restores the template: the address is gone again, the last pass is kept.
    reset = api(s1, "POST", f"/api/exercises/{exercise['id']}/reset")
    assert reset.status_code == 202, reset.content
    assert _passed(s1, lab_id) == [False, False, True]
    rows = api(s1, "GET", f"/api/labs/{lab_id}/checks").json()["checks"]
    assert rows[0]["last_pass"] is not None


def test_bad_exercise_input_names_the_field(
    people: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    t = client_for(people["teacher"])
    source = api(t, "POST", "/api/labs", {"name": "routing", "topology": doc}).json()
    course = people["course"]
    response = api(
        t,
        "POST",
        f"/api/courses/{course.pk}/exercises",
        {
            "lab": source["id"],
            "title": "x",
            "preconfigure": {"nodes": ["h9"], "adresses": False},
            "checks": [{"kind": "reach", "src": "h7", "dst": "10.0.0.1"}],
        },
    )
    assert response.status_code == 400, response.content
    paths = {i["path"] for i in response.json()["issues"]}
    assert {"preconfigure.adresses", "checks[0].src"} <= paths
    body = {"lab": source["id"], "title": "x", "checks": [{"kind": "mtu", "node": "h1"}]}
    response = api(t, "POST", f"/api/courses/{course.pk}/exercises", body)
    assert response.status_code == 400
    assert {i["path"] for i in response.json()["issues"]} == {
        "checks[0].interface",
        "checks[0].mtu",
    }
    # Another instructor's course, or a lab that is not theirs: 404.
    other = client_for(people["other_teacher"])
    assert (
        api(
            other,
            "POST",
            f"/api/courses/{course.pk}/exercises",
            {"lab": source["id"], "title": "x"},
        ).status_code
        == 404
    )
    mine = people["other_course"]
    assert (
        api(
            other, "POST", f"/api/courses/{mine.pk}/exercises", {"lab": source["id"], "title": "x"}
        ).status_code
        == 404
    )
