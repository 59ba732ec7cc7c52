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
    assert {"postgres", "redis", "web", "control", "labhost", "beat"} <= set(services)


def test_lab_host_and_beat_run_the_procfile_commands() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    commands = procfile()
    assert services["labhost"]["command"] == commands["worker"]
    assert services["beat"]["command"] == commands["beat"]
    assert services["control"]["command"] == commands["control"]
    assert shlex.split(commands["worker"])[:3] == ["python", "-m", "worker"]
    # The periodic jobs are the control plane's: beat runs its Celery app.
    assert "lab.celery" in commands["beat"] and "beat" in shlex.split(commands["beat"])


def _environment(service: dict[str, object]) -> dict[str, object]:
    env = service.get("environment") or {}
    assert isinstance(env, dict)
    return env


def test_a_lab_host_gets_no_database_and_the_control_plane_does() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    host = _environment(services["labhost"])
    assert "DATABASE_URL" not in host and "TOPOLAB_SECRET_KEY" not in host
    assert {"TOPOLAB_REDIS_URL", "TOPOLAB_HOST_NAME", "TOPOLAB_UNDERLAY"} <= set(host)
    for name in ("web", "control", "beat"):
        assert "DATABASE_URL" in _environment(services[name]), name
        assert services[name].get("user") not in (None, "root", "0"), name
    # make run: the worker line loses the database settings, the others run unprivileged.
    script = (ROOT / "scripts" / "run-services.sh").read_text()
    assert "env -u DATABASE_URL -u DJANGO_SETTINGS_MODULE" in script
    assert '"${as_web[@]}"' in script


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
