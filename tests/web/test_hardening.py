"""Control-plane hardening (issue 12): each finding's attack is refused, the legitimate use works.

Findings: 1 secrets and files, 2 account takeover by CSV, 4 admin bypass, 6 login
throttling, 7 malformed content types, 8 websocket origin, 9 duplicate keys,
10 YAML alias bombs, 11 password recovery and change.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lab import accounts, throttle
from lab.classroom.models import Course, LoginToken
from lab.classroom.permissions import INSTRUCTOR, STUDENT, ensure_roles
from lab.models import Lab
from tests.conftest import ROOT, free_port
from tests.web.conftest import api

pytestmark = pytest.mark.django_db

User = get_user_model()


def _csrf_client(**defaults: Any) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True, **defaults)
    token = client.get("/api/auth/csrf").json()["csrf_token"]
    return client, token


def _login(client: Client, token: str, username: str, password: str) -> Any:
    return api(
        client,
        "POST",
        "/api/auth/login",
        {"username": username, "password": password},
        HTTP_X_CSRFTOKEN=token,
    )


# -- 1. secrets and files ---------------------------------------------------------------

_SETUP = (
    "import django, json, os; django.setup(); from django.conf import settings; "
    "print(json.dumps({'key': settings.SECRET_KEY, 'var': str(settings.VAR_DIR)}))"
)


def _settings_process(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly these TOPOLAB_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOPOLAB_")}
    base.update(DJANGO_SETTINGS_MODULE="lab.settings", TOPOLAB_VAR_DIR=str(tmp / "var"), **env)
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", _SETUP],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_refuse_to_start_without_a_real_secret_key(tmp_path: Path) -> None:
    missing = _settings_process(tmp_path, TOPOLAB_ENV="production")
    assert missing.returncode != 0
    assert "ImproperlyConfigured" in missing.stderr and "TOPOLAB_SECRET_KEY" in missing.stderr
    for weak in ("change-me", "topolab-dev-insecure-key-change-me", "short-key"):
        refused = _settings_process(tmp_path, TOPOLAB_ENV="production", TOPOLAB_SECRET_KEY=weak)
        assert refused.returncode != 0 and "too weak" in refused.stderr, weak
    debug = _settings_process(
        tmp_path, TOPOLAB_ENV="production", TOPOLAB_SECRET_KEY="k" * 50, TOPOLAB_DEBUG="1"
    )
    assert debug.returncode != 0 and "TOPOLAB_DEBUG" in debug.stderr
    unreadable = _settings_process(
        tmp_path, TOPOLAB_ENV="production", TOPOLAB_SECRET_KEY_FILE=str(tmp_path / "nope")
    )
    assert unreadable.returncode != 0 and "TOPOLAB_SECRET_KEY_FILE" in unreadable.stderr

    # The legitimate ways: a key in the environment, or in a file (what make run does).
    key = secrets.token_urlsafe(50)
    given_key = _settings_process(tmp_path, TOPOLAB_ENV="production", TOPOLAB_SECRET_KEY=key)
    assert given_key.returncode == 0, given_key.stderr
    assert json.loads(given_key.stdout)["key"] == key
    key_file = tmp_path / "secret_key"
    key_file.write_text(key + "\n")
    from_file = _settings_process(
        tmp_path, TOPOLAB_ENV="production", TOPOLAB_SECRET_KEY_FILE=str(key_file)
    )
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout)["key"] == key
    # Development (tests, a laptop) needs nothing.
    dev = _settings_process(tmp_path)
    assert dev.returncode == 0, dev.stderr


def test_settings_make_var_0700_and_the_database_0600(tmp_path: Path) -> None:
    fresh = _settings_process(tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    var = tmp_path / "var"
    assert var.stat().st_mode & 0o777 == 0o700
    assert (var / "topolab.sqlite3").stat().st_mode & 0o777 == 0o600
    # An older install's loose modes are tightened (the files are this user's).
    var.chmod(0o755)
    (var / "topolab.sqlite3").chmod(0o644)
    again = _settings_process(tmp_path)
    assert again.returncode == 0, again.stderr
    assert var.stat().st_mode & 0o777 == 0o700
    assert (var / "topolab.sqlite3").stat().st_mode & 0o777 == 0o600
    # SQLite's own files take the database file's mode.
    with sqlite3.connect(var / "topolab.sqlite3") as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        assert (var / "topolab.sqlite3-wal").stat().st_mode & 0o777 == 0o600


def _run_as(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    entry = pwd.getpwnam(user)
    return subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


# Run by the system's Python as another user: one statement on a database file.
_WRITE = (
    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(sys.argv[2]); db.commit()"
)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the worker's side of the file")
def test_a_root_worker_keeps_the_web_users_database_usable() -> None:
    """The web user owns the SQLite file; journal and WAL files root makes stay the web user's."""
    work = Path(tempfile.mkdtemp(prefix="topolab-sqlite-"))
    try:
        shutil.chown(work, "nobody", "nogroup")
        work.chmod(0o700)
        database = work / "topolab.sqlite3"
        made = _run_as(
            "nobody", "/usr/bin/python3", "-c", _WRITE, str(database), "CREATE TABLE t (x)"
        )
        assert made.returncode == 0, made.stderr
        for mode in ("DELETE", "WAL"):
            db = sqlite3.connect(database, isolation_level=None)
            db.execute(f"PRAGMA journal_mode={mode}")
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t VALUES (1)")
            for name in os.listdir(work):
                assert (work / name).stat().st_uid == pwd.getpwnam("nobody").pw_uid, name
            db.execute("COMMIT")
            db.close()
            wrote = _run_as(
                "nobody",
                "/usr/bin/python3",
                "-c",
                _WRITE,
                str(database),
                "INSERT INTO t VALUES (2)",
            )
            assert wrote.returncode == 0, (mode, wrote.stderr)
    finally:
        shutil.rmtree(work)


@pytest.fixture
def web_user() -> Iterator[str]:
    """A throwaway system user name for the user-creation script; deleted afterwards."""
    name = f"tlweb{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", name], capture_output=True, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates a system user")
@pytest.mark.skipif(shutil.which("setfacl") is None, reason="acl is installed by make run/test")
def test_the_web_user_script_is_idempotent_and_opens_only_a_path(web_user: str) -> None:
    script = ROOT / "scripts" / "web-user-ensure.sh"
    work = Path(tempfile.mkdtemp(prefix="topolab-webuser-"))  # 0700, like /root
    try:
        closed = work / "closed"
        closed.mkdir(mode=0o700)
        target = closed / "python"
        target.write_text("x")
        target.chmod(0o644)
        secret = work / "secret"
        secret.write_text("y")
        secret.chmod(0o600)
        assert _run_as("nobody", "test", "-r", str(target)).returncode != 0

        first = subprocess.run(
            [str(script), web_user, str(target)], capture_output=True, text=True, timeout=60
        )
        assert first.returncode == 0, first.stderr
        assert f"created system user '{web_user}'" in first.stdout
        entry = pwd.getpwnam(web_user)
        assert entry.pw_shell.endswith("nologin") and entry.pw_uid < 1000
        assert _run_as(web_user, "test", "-r", str(target)).returncode == 0
        # Traverse only: the closed directories cannot be listed, nothing else opens.
        assert _run_as(web_user, "ls", str(closed)).returncode != 0
        assert _run_as(web_user, "cat", str(secret)).returncode != 0
        assert _run_as("nobody", "test", "-r", str(target)).returncode != 0
        acl = subprocess.run(["getfacl", "-p", str(work)], capture_output=True, text=True)
        assert f"user:{web_user}:--x" in acl.stdout

        second = subprocess.run(
            [str(script), web_user, str(target)], capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 0, second.stderr
        assert second.stdout == ""  # nothing left to do
        assert pwd.getpwnam(web_user).pw_uid == entry.pw_uid
        passwd = Path("/etc/passwd").read_text().splitlines()
        assert sum(line.startswith(f"{web_user}:") for line in passwd) == 1
    finally:
        shutil.rmtree(work)


def test_compose_requires_the_secret_key_and_runs_the_web_unprivileged() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text
    data = yaml.safe_load(text)
    # Only the control plane's services hold the key (a lab host gets no secrets).
    env = data["x-control-plane-env"]
    assert re.fullmatch(r"\$\{TOPOLAB_SECRET_KEY:\?[^}]+\}", env["TOPOLAB_SECRET_KEY"])
    assert "TOPOLAB_SECRET_KEY" not in data["x-topolab-env"]
    assert data["x-topolab-env"]["TOPOLAB_ENV"] == "production"
    for name in ("web", "control", "beat"):
        assert data["services"][name]["user"] not in (None, "root", "0", "0:0")


def test_make_run_generates_the_key_once_and_serves_as_the_web_user() -> None:
    run = (ROOT / "scripts" / "run.sh").read_text()
    assert "TOPOLAB_ENV=production" in run and "TOPOLAB_SECRET_KEY_FILE" in run
    assert "umask 077" in run and 'if [ ! -s "$key" ]' in run
    assert "web-user-ensure.sh" in run
    uvicorn = next(line for line in run.splitlines() if "uvicorn lab.asgi:application" in line)
    assert uvicorn.startswith('"${as_web[@]}"')


# -- 2. enrolment by CSV never hands over an existing account ---------------------------


@pytest.fixture
def roles() -> dict[str, Group]:
    return ensure_roles()


@pytest.fixture
def teaching(roles: dict[str, Group]) -> dict[str, Any]:
    """An instructor with a course, and accounts of every kind an attacker may name."""
    teacher = User.objects.create_user("teacher", password="pw-teacher")
    teacher.groups.add(roles[INSTRUCTOR])
    course = Course.objects.create(name="Networks 101")
    course.instructors.add(teacher)
    other = User.objects.create_user("other_teacher", password="pw-other")
    other.groups.add(roles[INSTRUCTOR])
    staff = User.objects.create_user("staffer", password="pw-staff", is_staff=True)
    root = User.objects.create_superuser("root", "root@example.org", "pw-root")
    admin_member = User.objects.create_user("admin_member", password="pw-adm")
    admin_member.groups.add(roles["admin"])
    no_role = User.objects.create_user("no_role", password="pw-none")
    student = User.objects.create_user("old_student", password="pw-old")
    student.groups.add(roles[STUDENT])
    client = Client()
    client.force_login(teacher)
    return {
        "teacher": teacher,
        "client": client,
        "course": course,
        "other": other,
        "staff": staff,
        "root": root,
        "admin_member": admin_member,
        "no_role": no_role,
        "student": student,
    }


@pytest.mark.parametrize("victim", ["other", "staff", "root", "admin_member", "no_role"])
def test_csv_enrolment_never_touches_or_links_a_privileged_account(
    teaching: dict[str, Any], victim: str
) -> None:
    account = teaching[victim]
    before = set(account.groups.values_list("name", flat=True))
    response = api(
        teaching["client"],
        "POST",
        f"/api/courses/{teaching['course'].pk}/students/csv",
        {"csv": f"username,email\nnewbie,n@example.org\n{account.username},x@example.com\n"},
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "csv.not_a_student"
    assert [i["path"] for i in body["issues"]] == ["rows[1].username"]
    assert "login_link" not in response.content.decode()
    account.refresh_from_db()
    assert set(account.groups.values_list("name", flat=True)) == before
    assert account.email != "x@example.com"
    assert not LoginToken.objects.filter(user=account).exists()
    assert not teaching["course"].students.filter(pk=account.pk).exists()
    assert not User.objects.filter(username="newbie").exists()  # nothing half-done


def test_csv_enrols_an_existing_student_without_a_link_and_links_new_accounts(
    teaching: dict[str, Any],
) -> None:
    response = api(
        teaching["client"],
        "POST",
        f"/api/courses/{teaching['course'].pk}/students/csv",
        {"csv": "username,email\nnewbie,n@example.org\nold_student,o@example.org\n"},
    )
    assert response.status_code == 200, response.content
    rows = {r["username"]: r for r in response.json()}
    assert rows["old_student"] == {
        "username": "old_student",
        "email": "",
        "created": False,
        "login_link": None,
    }
    assert not LoginToken.objects.filter(user=teaching["student"]).exists()
    assert teaching["course"].students.filter(username="old_student").exists()
    assert rows["newbie"]["created"] and rows["newbie"]["login_link"].startswith("/login?token=")
    newbie = User.objects.get(username="newbie")
    assert set(newbie.groups.values_list("name", flat=True)) == {STUDENT}
    assert not newbie.has_usable_password()
    client, csrf = _csrf_client()
    token = rows["newbie"]["login_link"].split("=", 1)[1]
    signed = api(client, "POST", "/api/auth/token", {"token": token}, HTTP_X_CSRFTOKEN=csrf)
    assert signed.status_code == 200 and signed.json()["username"] == "newbie"


# -- 4. the admin is for superusers; instructors are not staff ---------------------------


def test_the_demo_instructor_is_not_staff_and_the_admin_refuses_it(
    teaching: dict[str, Any],
) -> None:
    call_command("topolab_demo_user", stdout=io.StringIO())
    demo = User.objects.get(username="demo")
    assert not demo.is_staff and not demo.is_superuser
    assert demo.groups.filter(name=INSTRUCTOR).exists()
    # The right password at the admin's door does not open it.
    door = Client()
    page = door.post("/admin/login/", {"username": "demo", "password": "topolab-demo"})
    assert page.status_code == 200 and "_auth_user_id" not in door.session
    # Even signed in (through the page), nothing of the admin is served.
    other_course = Course.objects.create(name="Someone else's")
    other_course.instructors.add(teaching["other"])
    for intruder in (demo, teaching["staff"], teaching["admin_member"]):
        client = Client()
        client.force_login(intruder)
        for url in ("/admin/", "/admin/lab/lab/", "/admin/lab/exerciseattempt/"):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url
        change = client.post(
            f"/admin/lab/course/{other_course.pk}/change/",
            {"name": other_course.name, "instructors": [intruder.pk, teaching["other"].pk]},
        )
        assert change.status_code == 302 and "/admin/login/" in change["Location"]
        assert list(other_course.instructors.all()) == [teaching["other"]]
        if intruder is not teaching["admin_member"]:  # the API's admins see every course
            results = api(client, "GET", f"/api/courses/{other_course.pk}/results")
            assert results.status_code == 404
    # A superuser still runs the admin.
    root = Client()
    signed = root.post("/admin/login/", {"username": "root", "password": "pw-root"})
    assert signed.status_code == 302
    assert root.get("/admin/lab/lab/").status_code == 200


def test_roles_lose_model_permissions_an_older_install_gave_them(roles: dict[str, Group]) -> None:
    roles[INSTRUCTOR].permissions.add(*Permission.objects.filter(codename__in=["view_lab"]))
    ensure_roles()
    assert not roles[INSTRUCTOR].permissions.exists()
    assert not roles[STUDENT].permissions.exists()
    assert roles["admin"].permissions.filter(codename="view_lab").exists()


# -- 6. sign-in throttling --------------------------------------------------------------


@pytest.fixture
def small_limits(settings: Any) -> Any:
    settings.TOPOLAB_LOGIN_MAX_FAILURES_PER_USER = 3
    settings.TOPOLAB_LOGIN_MAX_FAILURES_PER_ADDRESS = 6
    settings.TOPOLAB_LOGIN_WINDOW_SECONDS = 600
    return settings


def _redis_client(settings: Any) -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def test_api_login_is_refused_with_429_after_n_failures_even_with_the_right_password(
    alice: Any, bob: Any, small_limits: Any
) -> None:
    client, token = _csrf_client()
    for _ in range(3):
        wrong = _login(client, token, "alice", "guess")
        assert wrong.status_code == 400 and wrong.json()["code"] == "auth.invalid_credentials"
    right = _login(client, token, "alice", "pw-alice")
    assert right.status_code == 429, right.content
    assert right.json()["code"] == "auth.throttled"
    assert 0 < int(right["Retry-After"]) <= 600
    assert client.get("/api/auth/me").status_code == 401
    # The counter is the username's, whatever the address or the letter case.
    elsewhere, other_token = _csrf_client(REMOTE_ADDR="192.0.2.7")
    assert _login(elsewhere, other_token, "ALICE", "pw-alice").status_code == 429
    # Another user from the first address still signs in.
    assert _login(client, token, "bob", "pw-bob").status_code == 200
    # When the window ends, the right password works again.
    _redis_client(small_limits).delete(throttle.user_key("alice"))
    fresh, fresh_token = _csrf_client()
    assert _login(fresh, fresh_token, "alice", "pw-alice").status_code == 200


def test_api_login_is_throttled_per_address(alice: Any, small_limits: Any) -> None:
    client, token = _csrf_client(REMOTE_ADDR="198.51.100.9")
    for i in range(6):
        assert _login(client, token, f"nobody{i}", "guess").status_code == 400
    refused = _login(client, token, "alice", "pw-alice")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    other, other_token = _csrf_client(REMOTE_ADDR="198.51.100.10")
    assert _login(other, other_token, "alice", "pw-alice").status_code == 200


def test_a_success_clears_the_usernames_failures(alice: Any, small_limits: Any) -> None:
    client, token = _csrf_client()
    for _ in range(2):
        assert _login(client, token, "alice", "guess").status_code == 400
    assert _login(client, token, "alice", "pw-alice").status_code == 200
    client, token = _csrf_client()
    for _ in range(3):
        assert _login(client, token, "alice", "guess").status_code == 400
    assert _login(client, token, "alice", "guess").status_code == 429


def test_concurrent_guesses_cannot_pass_the_limit_together(small_limits: Any) -> None:
    request = RequestFactory().post("/api/auth/login", REMOTE_ADDR="203.0.113.5")
    passed: list[int] = []
    refused: list[int] = []
    barrier = threading.Barrier(12)

    def guess(i: int) -> None:
        barrier.wait()
        try:
            throttle.begin_attempt(request, "alice")
        except throttle.TooManyAttempts:
            refused.append(i)
        else:
            passed.append(i)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 3 and len(refused) == 9


def test_one_time_link_redemption_is_throttled_per_address(alice: Any, small_limits: Any) -> None:
    from lab.classroom.services import do_issue_login_token

    good = do_issue_login_token(alice)
    client, csrf = _csrf_client(REMOTE_ADDR="192.0.2.50")
    for _ in range(6):
        bad = api(client, "POST", "/api/auth/token", {"token": "x" * 43}, HTTP_X_CSRFTOKEN=csrf)
        assert bad.status_code == 400 and bad.json()["code"] == "auth.token_invalid"
    refused = api(client, "POST", "/api/auth/token", {"token": good}, HTTP_X_CSRFTOKEN=csrf)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert LoginToken.objects.get(user=alice).used is None  # not spent by the refusal
    other, csrf = _csrf_client(REMOTE_ADDR="192.0.2.51")
    ok = api(other, "POST", "/api/auth/token", {"token": good}, HTTP_X_CSRFTOKEN=csrf)
    assert ok.status_code == 200 and ok.json()["username"] == "alice"


def test_admin_login_is_throttled(make_user: Any, small_limits: Any) -> None:
    User.objects.create_superuser("root", "root@example.org", "pw-root")
    client = Client()
    for _ in range(3):
        page = client.post("/admin/login/", {"username": "root", "password": "guess"})
        assert page.status_code == 200
    refused = client.post("/admin/login/", {"username": "root", "password": "pw-root"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    _redis_client(small_limits).delete(throttle.user_key("root"))
    assert (
        client.post("/admin/login/", {"username": "root", "password": "pw-root"}).status_code == 302
    )


def test_sign_in_refuses_when_the_attempt_counter_is_unreachable(alice: Any, settings: Any) -> None:
    client, token = _csrf_client()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    refused = _login(client, token, "alice", "pw-alice")
    assert refused.status_code == 503 and refused.json()["code"] == "auth.throttle_unavailable"
    assert client.get("/api/auth/me").status_code == 401


# -- 7. malformed content types are 400s --------------------------------------------------

MALFORMED = [
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=" + "b" * 202,
    'multipart/form-data; boundary="ends in a space "',
    "multipart/form-data; boundary=caf\u00e9",
    "multipart/form-data; charset=utf-8",
]


@pytest.fixture
def browser(alice: Any) -> tuple[Client, str]:
    """Alice signed in as a browser is: CSRF enforced, the cookie set, the token at hand."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    token = client.get("/api/auth/csrf").json()["csrf_token"]
    return client, token


@pytest.mark.parametrize("content_type", MALFORMED)
@pytest.mark.parametrize(
    "path", ["/api/labs", "/api/auth/login", "/api/topology/import", "/api/labs/1/deploy"]
)
def test_a_malformed_content_type_is_400_with_a_code(
    browser: tuple[Client, str], alice_client: Client, path: str, content_type: str
) -> None:
    client, token = browser
    for response in (
        client.post(path, data=b"--x\r\n\r\n", content_type=content_type, HTTP_X_CSRFTOKEN=token),
        alice_client.post(path, data=b"--x\r\n\r\n", content_type=content_type),
    ):
        assert response.status_code == 400, (path, content_type, response.content)
        assert response.json()["code"] == "request.bad_content_type"
        assert response.json()["issues"][0]["path"] == "$"


def test_malformed_forms_outside_the_api_are_400_too(alice: Any) -> None:
    page = Client().post("/admin/login/", data=b"x", content_type="multipart/form-data")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/plain")


def test_a_form_body_where_json_is_expected_is_400_and_json_still_works(
    alice_client: Client, valid_doc: dict[str, Any]
) -> None:
    form = alice_client.post("/api/labs", {"name": "x"})  # the test client's multipart
    assert form.status_code == 400 and form.json()["code"] == "request.bad_content_type"
    encoded = alice_client.post(
        "/api/labs", "name=x", content_type="application/x-www-form-urlencoded"
    )
    assert encoded.status_code == 400, encoded.content
    made = api(alice_client, "POST", "/api/labs", {"name": "ok", "topology": valid_doc})
    assert made.status_code == 201
    assert Lab.objects.filter(owner__username="alice").count() == 1


@hsettings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content_type=st.one_of(
        st.text(max_size=60),
        st.builds(lambda p: f"multipart/form-data; {p}", st.text(max_size=40)),
    ),
    body=st.binary(max_size=200),
)
def test_no_content_type_or_body_is_a_5xx(
    browser: tuple[Client, str], content_type: str, body: bytes
) -> None:
    try:
        content_type.encode("latin1")
    except UnicodeEncodeError:
        return  # not sendable as an HTTP header
    if any(c in content_type for c in "\r\n\x00"):
        return
    client, token = browser
    response = client.post(
        "/api/labs", data=body, content_type=content_type, HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code < 500, (content_type, body, response.content)
    assert response["Content-Type"].startswith("application/json")


# -- 8. websocket origin: scheme, host and port exactly -----------------------------------


async def _ws_connects(origin: bytes | None, host: bytes = b"127.0.0.1:8000") -> bool:
    from lab.asgi import application

    headers = [(b"host", host)]
    if origin is not None:
        headers.append((b"origin", origin))
    communicator = WebsocketCommunicator(application, "/ws/labs/1/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return bool(connected)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:9999",
        b"http://127.0.0.1",
        b"http://localhost:8001",
        b"https://127.0.0.1:8000",
        b"http://127.0.0.1.attacker.example:8000",
        b"http://evil.example",
        b"null",
        b"http://user@127.0.0.1:8000",
        b"http://127.0.0.1:8000/path",
    ],
)
async def test_websocket_from_another_origin_is_refused(origin: bytes) -> None:
    assert not await _ws_connects(origin)


@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_rules(settings: Any) -> None:
    # The page's own origin, and the configured origins, exactly.
    assert await _ws_connects(b"http://127.0.0.1:8000")
    assert await _ws_connects(b"HTTP://LOCALHOST:8000", host=b"localhost:8000")
    assert await _ws_connects(b"http://testserver", host=b"testserver")
    assert not await _ws_connects(None)
    settings.TOPOLAB_WS_ORIGINS = ["https://lab.example:8443"]
    assert await _ws_connects(b"https://lab.example:8443", host=b"10.0.0.1:8000")
    assert not await _ws_connects(b"https://lab.example", host=b"10.0.0.1:8000")
    # A Host outside ALLOWED_HOSTS is no origin of ours.
    assert not await _ws_connects(b"http://evil.example:8000", host=b"evil.example:8000")


def test_parse_origin_normalizes_and_refuses_non_origins() -> None:
    from lab.asgi import parse_origin

    assert parse_origin("HTTP://Example.ORG") == ("http", "example.org", 80)
    assert parse_origin("https://example.org:443/") == ("https", "example.org", 443)
    assert parse_origin("http://[::1]:8000") == ("http", "::1", 8000)
    for bad in ("null", "", "ftp://x", "http://x:99999", "http://x/a", "http://x?q", "//x"):
        assert parse_origin(bad) is None, bad


# -- 9. duplicate keys --------------------------------------------------------------------


def test_duplicate_keys_in_json_bodies_are_400_naming_the_key(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    duplicated = '{"name": "a", "description": "x", "name": "b"}'
    made = alice_client.post("/api/labs", duplicated, content_type="application/json")
    assert made.status_code == 400 and made.json()["code"] == "request.duplicate_key"
    assert "'name'" in made.json()["message"]
    nested = (
        '{"name": "pair", "links": [], "nodes": [{"name": "h1", "kind": "host", "name": "h2"}]}'
    )
    for method, path in (
        ("PUT", f"/api/labs/{alice_lab['id']}/topology"),
        ("POST", "/api/topology/validate"),
    ):
        response = getattr(alice_client, method.lower())(
            path, nested, content_type="application/json"
        )
        assert response.status_code == 400, (path, response.content)
        assert response.json()["code"] == "request.duplicate_key"
        assert "'name'" in response.json()["issues"][0]["message"]
    assert Lab.objects.get(pk=alice_lab["id"]).revisions.count() == 1


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("yaml", "name: a\nnodes: []\nlinks: []\nname: b\n"),
        ("yaml", "name: a\nlinks: []\nnodes:\n  - name: h1\n    kind: host\n    name: h2\n"),
        ("json", '{"name": "a", "nodes": [], "links": [], "name": "b"}'),
        ("clab", "name: a\ntopology:\n  nodes:\n    r1: {kind: linux}\n    r1: {kind: linux}\n"),
    ],
)
def test_duplicate_keys_in_uploads_are_400_naming_the_key(
    alice_client: Client, fmt: str, text: str
) -> None:
    response = api(alice_client, "POST", "/api/topology/import", {"format": fmt, "text": text})
    assert response.status_code == 400, response.content
    issue = response.json()["issues"][0]
    assert issue["code"] == "syntax.duplicate_key"
    assert re.search(r"the key '(name|r1)' appears twice", issue["message"]), issue
    if fmt != "json":
        assert "line" in issue["message"]


def test_yaml_merge_keys_and_small_anchors_still_import(alice_client: Client) -> None:
    text = (
        "name: anchors\n"
        "x-iface: &iface {name: eth0}\n"
        "nodes:\n"
        "  - name: h1\n"
        "    interfaces: [{<<: *iface, addresses: [10.0.0.1/24]}]\n"
        "  - name: h2\n"
        "    interfaces: [{<<: *iface, name: eth0, addresses: [10.0.0.2/24]}]\n"
        "links: [{kind: veth, a: 'h1:eth0', b: 'h2:eth0'}]\n"
    )
    from lab.topology.io import parse_text

    data = parse_text(text, "yaml")
    assert data["nodes"][1]["interfaces"][0] == {"name": "eth0", "addresses": ["10.0.0.2/24"]}


# -- 10. YAML alias bombs cost milliseconds -----------------------------------------------

BOMB = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
)


def test_a_billion_laughs_is_refused_while_composing(alice_client: Client) -> None:
    from lab.topology import TopologyError
    from lab.topology.io import MAX_ALIAS_ELEMENTS, parse_text

    response = api(alice_client, "POST", "/api/topology/import", {"format": "yaml", "text": BOMB})
    assert response.status_code == 400
    issue = response.json()["issues"][0]
    # Refused as an alias expansion at composition (before any expansion), not as a
    # too-large document after building it.
    assert issue["code"] == "syntax.yaml_alias"
    assert str(MAX_ALIAS_ELEMENTS) in issue["message"]
    for recursive in ("a: &a [*a]", "a: &a {b: *a}"):
        with pytest.raises(TopologyError) as caught:
            parse_text(recursive, "yaml")
        assert caught.value.issues[0].code == "syntax.yaml_alias"
    clab = api(alice_client, "POST", "/api/topology/import", {"format": "clab", "text": BOMB})
    assert clab.status_code == 400
    assert clab.json()["issues"][0]["code"] == "syntax.yaml_alias"


# -- 11. forgotten and changed passwords --------------------------------------------------


def _password(client: Client, token: str, body: dict[str, Any]) -> Any:
    return api(client, "POST", "/api/auth/password", body, HTTP_X_CSRFTOKEN=token)


def test_an_admin_issues_a_link_and_the_user_sets_a_new_password(alice: Any) -> None:
    out = io.StringIO()
    call_command("topolab_login_link", "alice", "--base-url", "http://lab.example/", stdout=out)
    link = out.getvalue().strip()
    assert re.fullmatch(r"http://lab\.example/login\?token=[\w-]{40,}", link), link
    old_session = Client()
    old_session.force_login(alice)

    client, csrf = _csrf_client()
    signed = api(
        client, "POST", "/api/auth/token", {"token": link.split("=", 1)[1]}, HTTP_X_CSRFTOKEN=csrf
    )
    assert signed.status_code == 200 and signed.json()["username"] == "alice"
    csrf = client.cookies["csrftoken"].value
    weak = _password(client, csrf, {"new_password": "12345"})
    assert weak.status_code == 400 and weak.json()["code"] == "password.invalid"
    assert {i["path"] for i in weak.json()["issues"]} == {"new_password"}
    changed = _password(client, csrf, {"new_password": "a-much-better-secret"})
    assert changed.status_code == 204, changed.content
    assert client.get("/api/auth/me").json()["username"] == "alice"  # this session stays
    assert old_session.get("/api/auth/me").status_code == 401  # the others end
    alice.refresh_from_db()
    assert alice.check_password("a-much-better-secret") and not alice.check_password("pw-alice")
    # The link's grace is spent: the next change needs the password.
    again = _password(client, csrf, {"new_password": "yet-another-secret-1"})
    assert again.status_code == 400 and again.json()["code"] == "auth.wrong_password"
    with pytest.raises(CommandError):
        call_command("topolab_login_link", "nobody-here")


def test_changing_a_password_needs_the_current_one(alice: Any, small_limits: Any) -> None:
    client, csrf = _csrf_client()
    assert _login(client, csrf, "alice", "pw-alice").status_code == 200
    csrf = client.cookies["csrftoken"].value
    new = "a-much-better-secret"
    for body in ({"new_password": new}, {"current_password": "guess", "new_password": new}):
        refused = _password(client, csrf, body)
        assert refused.status_code == 400 and refused.json()["code"] == "auth.wrong_password"
        assert refused.json()["issues"][0]["path"] == "current_password"
    ok = _password(
        client, csrf, {"current_password": "pw-alice", "new_password": "a-much-better-1"}
    )
    assert ok.status_code == 204
    # Guessing the current password is throttled like a sign-in.
    for _ in range(3):
        _password(client, csrf, {"current_password": "guess", "new_password": "whatever-12345"})
    throttled = _password(
        client, csrf, {"current_password": "a-much-better-1", "new_password": "whatever-12345"}
    )
    assert throttled.status_code == 429
    assert Client().get("/api/auth/password").status_code in (401, 405)


def test_the_link_grace_lasts_an_hour(alice: Any) -> None:
    session: dict[str, Any] = {}
    assert accounts.current_password_needed(alice, session)
    accounts.mark_link_session(session, now=1000.0)
    assert not accounts.current_password_needed(alice, session, now=1000.0 + 3599)
    assert accounts.current_password_needed(alice, session, now=1000.0 + 3601)
    alice.set_unusable_password()
    assert not accounts.current_password_needed(alice, {})


def test_the_user_admin_action_issues_a_sign_in_link(alice: Any) -> None:
    User.objects.create_superuser("root", "root@example.org", "pw-root")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    response = client.post(
        "/admin/auth/user/",
        {"action": "issue_sign_in_link", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert response.status_code == 200
    # The admin capitalizes a message's first letter.
    found = re.search(r"Alice: http://testserver/login\?token=([\w-]+)", response.content.decode())
    assert found, response.content.decode()[:2000]
    link_client, csrf = _csrf_client()
    signed = api(
        link_client, "POST", "/api/auth/token", {"token": found.group(1)}, HTTP_X_CSRFTOKEN=csrf
    )
    assert signed.status_code == 200 and signed.json()["username"] == "alice"
    assert LoginToken.objects.filter(user=alice).count() == 1
