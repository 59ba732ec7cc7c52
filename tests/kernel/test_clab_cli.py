"""A containerlab file through ``manage.py topolab`` on real namespaces.

The file is not named ``*.clab.yml``: the CLI must tell it by content. It
holds a node on no link, which ``inspect`` must still list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.topology import naming
from tests.kernel.conftest import ping
from worker import engine

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "tests" / "fixtures" / "clab" / "content-detected.yaml"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "manage.py", "topolab", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_a_containerlab_file_deploys_and_every_node_is_inspected(lab_key, tmp_path) -> None:
    key = lab_key()
    path = tmp_path / "lab.yml"
    path.write_text(FILE.read_text())
    deployed = cli("deploy", str(path), "--lab", key)
    assert deployed.returncode == 0, deployed.stderr
    assert "warning: topology.nodes.n1.image" in deployed.stderr  # read as containerlab
    assert ping(naming.namespace_name(key, "n1"), "10.90.0.2")
    table = cli("inspect", key)
    assert table.returncode == 0, table.stderr
    rows: dict[str, str] = {}
    for line in table.stdout.splitlines()[1:]:  # under the header, one or more lines per node
        if line.strip():
            rows[line.split()[0]] = rows.get(line.split()[0], "") + line + "\n"
    assert set(rows) == {"n1", "n2", "lonely"}
    assert "(no interfaces)" in rows["lonely"] and "10.90.0.1/24" in rows["n1"]
    assert "destroyed" in cli("destroy", key).stdout
    assert engine.discover(key).empty


def test_a_failing_containerlab_file_prints_its_warnings_too(tmp_path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text((FILE.parent / "failing-with-warnings.clab.yml").read_text())
    out = cli("deploy", str(path), "--dry-run")
    assert out.returncode != 0
    assert "topology.links[2].endpoints[1]: interface eth1 of node h2" in out.stderr
    assert "warning: mgmt: mgmt is not carried" in out.stderr
