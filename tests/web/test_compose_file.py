"""docker-compose.yml and the Dockerfile: the composed web serves the UI, the key is required.

No Docker engine runs here, so Debian's `docker-compose` (which parses, merges and
interpolates without one) validates the file, and the Dockerfile's frontend stage is
replayed step by step in a temp dir with Debian 12's Node.js 18: its WORKDIR, COPY (with
.dockerignore) and RUN lines, the `apt-get install nodejs npm` line standing for the
toolchain fixture. tests/orchestration/test_compose.py checks the Procfile agreement.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.node18 import Toolchain, node18

__all__ = ["node18"]  # the fixture, imported for the tests below

KEY = "k" * 40
CONTROL_PLANE = ("web", "control", "beat")
# What a lab host may be told: it speaks Redis only (DESIGN.md).
LAB_HOST_ENV = {
    "TOPOLAB_REDIS_URL",
    "TOPOLAB_HOST_NAME",
    "TOPOLAB_UNDERLAY",
    "TOPOLAB_VAR_DIR",
    "TOPOLAB_ENV",
}


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose config` on the checkout's file with only ``env`` set."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("Debian's docker-compose is needed (make test installs it)")
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("TOPOLAB_", "COMPOSE_", "DOCKER_"))
    }
    return subprocess.run(
        [exe, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**clean, **env}, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip


def services() -> dict[str, Any]:
    """The services as docker-compose resolves them, with a secret key set."""
    done = compose_config(TOPOLAB_SECRET_KEY=KEY)
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert isinstance(data["services"], dict)
    return data["services"]


def test_compose_refuses_to_start_without_the_secret_key() -> None:
    done = compose_config()
    assert done.returncode != 0
    assert "TOPOLAB_SECRET_KEY" in done.stderr
    # An empty key is no key either (`:?` refuses unset and empty alike).
    assert compose_config(TOPOLAB_SECRET_KEY="").returncode != 0
    assert "change-me" not in (ROOT / "docker-compose.yml").read_text()


def test_control_plane_services_get_the_key_database_and_redis() -> None:
    svc = services()
    for name in CONTROL_PLANE:
        env = svc[name]["environment"]
        assert env["TOPOLAB_SECRET_KEY"] == KEY, name
        assert (
            env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
        ), name
        assert env["TOPOLAB_REDIS_URL"] == "redis://redis:6379/0", name
        assert svc[name]["user"] not in ("root", "0") and "cap_add" not in svc[name], name
        assert "network_mode" not in svc[name] and "privileged" not in svc[name], name


def test_control_consumer_runs_the_web_image_unprivileged() -> None:
    svc = services()
    control, web = svc["control"], svc["web"]
    assert shlex.split(control["command"]) == ["python", "manage.py", "control"]
    assert control["image"] == web["image"] and control["build"] == web["build"]
    assert control["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "redis" in control["depends_on"]


def test_lab_host_gets_redis_name_and_underlay_but_no_database_or_key() -> None:
    host = services()["labhost"]
    env = host["environment"]
    assert set(env) <= LAB_HOST_ENV, set(env) - LAB_HOST_ENV
    assert {"TOPOLAB_REDIS_URL", "TOPOLAB_HOST_NAME", "TOPOLAB_UNDERLAY"} <= set(env)
    assert "DATABASE_URL" not in env and "TOPOLAB_SECRET_KEY" not in env
    assert set(host["depends_on"]) == {"redis"}
    # The web still has its database: the split took it from the lab host only.
    assert "DATABASE_URL" in services()["web"]["environment"]


def test_every_service_of_ours_builds_the_dockerfile() -> None:
    svc = services()
    for name in (*CONTROL_PLANE, "labhost"):
        assert svc[name]["build"]["dockerfile"] == "Dockerfile", name
        assert Path(svc[name]["build"]["context"]) == ROOT, name


# --- the Dockerfile's frontend stage, replayed here -------------------------------------


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's instructions per stage name (the unnamed last stage is "final")."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        op, _, args = line.strip().partition(" ")
        if op.upper() == "FROM":
            words = args.split()
            current = stages.setdefault(words[2] if len(words) == 3 else "final", [])
        current.append((op.upper(), args.strip()))
    return stages


def docker_ignored(rel: PurePosixPath) -> bool:
    """Whether .dockerignore leaves ``rel`` (relative to the context) out of the build."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    return any(
        fnmatch.fnmatch(str(rel), p) or any(fnmatch.fnmatch(str(a), p) for a in rel.parents)
        for p in patterns
    )


def replay_copy(args: str, root: Path, workdir: PurePosixPath) -> None:
    """Do a COPY from the build context (the checkout) into the image tree under ``root``."""
    *sources, dest = shlex.split(args)
    target = root / (workdir / dest).relative_to("/")
    for source in sources:
        src = ROOT / source
        if src.is_dir():
            ignore = lambda d, names: [  # noqa: E731
                n for n in names if docker_ignored(PurePosixPath((Path(d) / n).relative_to(ROOT)))
            ]
            shutil.copytree(src, target, ignore=ignore, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / src.name)


def test_dockerignore_keeps_local_builds_out_of_the_image() -> None:
    assert docker_ignored(PurePosixPath("frontend/node_modules"))
    assert docker_ignored(PurePosixPath("frontend/dist/index.html"))
    assert docker_ignored(PurePosixPath("var/secret_key"))
    assert not docker_ignored(PurePosixPath("frontend/src/App.tsx"))
    assert not docker_ignored(PurePosixPath("frontend/package-lock.json"))


def test_dockerfile_frontend_stage_produces_dist(node18: Toolchain, tmp_path: Path) -> None:
    stages = dockerfile_stages()
    frontend = stages["frontend"]
    assert frontend[0] == ("FROM", "debian:bookworm-slim AS frontend")
    root = tmp_path / "image"
    workdir = PurePosixPath("/")
    installed_node = False
    for op, args in frontend[1:]:
        if op == "WORKDIR":
            workdir = workdir / args
            (root / workdir.relative_to("/")).mkdir(parents=True, exist_ok=True)
        elif op == "COPY":
            replay_copy(args, root, workdir)
        elif op == "RUN" and "apt-get install" in args:
            # The toolchain fixture stands for Debian's nodejs and npm packages.
            assert re.search(r"install -y --no-install-recommends nodejs npm\b", args), args
            installed_node = True
        elif op == "RUN":
            assert installed_node, "a RUN before node is installed"
            node18.run(["sh", "-c", args], root / workdir.relative_to("/"))
        else:
            pytest.fail(f"the replay does not know {op}")
    # The final stage copies exactly what the frontend stage built.
    copies = [a for op, a in stages["final"] if op == "COPY" and a.startswith("--from=frontend ")]
    assert len(copies) == 1
    built, dest = shlex.split(copies[0])[1:]
    assert dest == "/app/frontend/dist"
    dist = root / PurePosixPath(built).relative_to("/")
    index = (dist / "index.html").read_text()
    assets = re.findall(r'(?:src|href)="/assets/([^"]+)"', index)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    assert all((dist / "assets" / a).is_file() for a in assets)
    # npm ci made node_modules: the checkout's (with frontend-ensure.sh's markers) stayed out.
    modules = root / "src" / "frontend" / "node_modules"
    assert (modules / ".package-lock.json").is_file() and not list(modules.glob(".topolab-*"))
