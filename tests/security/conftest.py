"""Two running labs, A and B, each of two hosts, as students would have them.

Every attack in this room runs as a student would: inside a node of lab A, in the
sandbox a console gets (``worker.sandbox.command``, the same argv a console and
``topolab exec`` run), and is aimed at lab B or at the host.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from lab.topology import naming
from lab.topology.load import load_topology
from worker import engine, sandbox

pytestmark = pytest.mark.kernel


@dataclass(frozen=True)
class Lab:
    """A deployed two-host lab: h1 (10.9.0.1) and h2 (10.9.0.2) on one veth."""

    key: str

    def ns(self, node: str) -> str:
        return naming.namespace_name(self.key, node)

    def run(
        self, node: str, script: str, timeout: float = 30, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        """Run ``sh -c script`` in ``node``'s sandbox (what a console would type)."""
        return self.argv(node, ["sh", "-c", script], timeout=timeout, **kw)

    def argv(
        self, node: str, argv: Sequence[str], timeout: float = 30, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            sandbox.command(self.key, node, list(argv)),
            capture_output=True,
            text=True,
            env=sandbox.environment(),
            timeout=timeout,
            check=False,
            **kw,  # type: ignore[arg-type]
        )


def topology(name: str) -> dict:  # type: ignore[type-arg]
    def host(node: str, address: str) -> dict:  # type: ignore[type-arg]
        return {"name": node, "interfaces": [{"name": "eth0", "addresses": [address]}]}

    return {
        "name": name,
        "nodes": [host("h1", "10.9.0.1/24"), host("h2", "10.9.0.2/24")],
        "links": [{"a": "h1:eth0", "b": "h2:eth0"}],
    }


def deploy(prefix: str) -> Lab:
    key = f"{prefix}{secrets.token_hex(3)}"
    engine.deploy(load_topology(topology(key)), key)
    return Lab(key)


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("security tests need root (they build real labs)")


@pytest.fixture
def two_labs() -> Iterator[tuple[Lab, Lab]]:
    """Labs A and B, destroyed afterwards (also when the test fails)."""
    made: list[Lab] = []
    try:
        made.append(deploy("sa"))
        made.append(deploy("sb"))
        yield made[0], made[1]
    finally:
        for lab in made:
            engine.destroy(lab.key)


@pytest.fixture
def lab_a(two_labs: tuple[Lab, Lab]) -> Lab:
    return two_labs[0]


@pytest.fixture
def lab_b(two_labs: tuple[Lab, Lab]) -> Lab:
    return two_labs[1]
