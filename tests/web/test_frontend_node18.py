"""`make run` on stock Debian 12: its Node.js 18 and npm 9 install and build the frontend.

scripts/frontend-ensure.sh (what `make run` and `make test` call) runs in a copy of the
frontend's sources with Debian 12's node first on PATH, engines checked strictly, so a
package that refuses Node 18 fails the install here rather than on a teacher's machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.node18 import Toolchain, copy_frontend_sources, node18

__all__ = ["node18"]  # the fixture, imported for the tests below


def ensure_in_copy(tmp_path: Path) -> Path:
    """Lay out scripts/frontend-ensure.sh beside a copy of the frontend; return its path."""
    copy_frontend_sources(tmp_path)
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "frontend-ensure.sh"
    shutil.copy2(ROOT / "scripts" / "frontend-ensure.sh", script)
    return script


def test_frontend_ensure_builds_with_debian12_node(node18: Toolchain, tmp_path: Path) -> None:
    script = ensure_in_copy(tmp_path)
    strict = Toolchain(node18.bin_dir, {**node18.env, "npm_config_engine_strict": "true"})
    strict.run(["bash", str(script)], tmp_path)
    dist = tmp_path / "frontend" / "dist"
    index = (dist / "index.html").read_text()
    scripts = re.findall(r'src="/assets/([^"]+\.js)"', index)
    assert scripts, index
    assert all((dist / "assets" / name).stat().st_size > 0 for name in scripts)
    assert (dist / "favicon.svg").exists()
    # The unit tests (make test) run on the same node.
    out = strict.run(["npm", "test"], tmp_path / "frontend")
    # Under CI=true vitest colours its summary: read it without the escape codes.
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)
    assert re.search(r"Tests\s+\d+ passed", plain), plain


def test_frontend_ensure_refuses_a_node_too_old_by_name(tmp_path: Path) -> None:
    script = ensure_in_copy(tmp_path)
    # A stand-in `node` that reports Debian 11's version: the check must read it and stop
    # before npm touches anything.
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "node").write_text("#!/bin/sh\necho v12.22.12\n")
    (fake_bin / "node").chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin"}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "Node.js v12.22.12 is too old" in done.stderr and "18 or later" in done.stderr
    assert not (tmp_path / "frontend" / "node_modules").exists()
