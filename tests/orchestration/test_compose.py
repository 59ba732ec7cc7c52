"""docker-compose.yml parses and runs the same commands as `make run` (the Procfile)."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from tests.conftest import ROOT


def procfile() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, cmd = line.partition(":")
            out[name.strip()] = cmd.strip()
    return out


def compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_parses_and_has_every_service() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert {"postgres", "redis", "web", "labhost", "beat"} <= set(services)


def test_lab_host_and_beat_run_the_procfile_commands() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    commands = procfile()
    assert services["labhost"]["command"] == commands["worker"]
    assert services["beat"]["command"] == commands["beat"]
    assert shlex.split(commands["worker"])[:3] == ["python", "-m", "worker"]
    assert "worker.celery" in commands["beat"] and "beat" in shlex.split(commands["beat"])


def test_make_run_starts_the_procfile_commands() -> None:
    script = (ROOT / "scripts" / "run-services.sh").read_text()
    assert "Procfile" in script
    run = (ROOT / "scripts" / "run.sh").read_text()
    assert "run-services.sh" in run
    # The web both start is the same ASGI application.
    web = compose()["services"]["web"]["command"]  # type: ignore[index]
    assert "uvicorn lab.asgi:application" in web and "uvicorn lab.asgi:application" in run


def test_lab_host_is_privileged_for_namespaces_and_web_is_not() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    host = services["labhost"]
    assert host["network_mode"] == "host"
    assert {"NET_ADMIN", "SYS_ADMIN"} <= set(host["cap_add"])
    mounts = host["volumes"]
    assert any(isinstance(m, dict) and m.get("target") == "/run/netns" for m in mounts)
    web = services["web"]
    assert web.get("user") not in (None, "root", "0") and "cap_add" not in web
    assert Path(ROOT / "Procfile").exists()
