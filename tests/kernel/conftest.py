"""Kernel tests: real namespaces, unique lab keys, and a finalizer that destroys them."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator

import pytest

from lab.topology.load import load_topology
from lab.topology.schema import Topology

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.fail("kernel tests need root (network namespaces)")


@pytest.fixture
def lab_key() -> Iterator[Callable[[], str]]:
    """Return a maker of unique lab keys; every lab made is destroyed afterwards."""
    from worker import engine

    made: list[str] = []

    def make() -> str:
        key = f"kt{secrets.token_hex(3)}"
        made.append(key)
        return key

    yield make
    for key in made:
        engine.destroy(key)
        left = [n for n in netns() if n.startswith(f"tl-{key}-")]
        assert not left, f"lab {key} left namespaces: {left}"


def netns() -> list[str]:
    """Return `ip netns list` names."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def ping(ns: str, address: str, count: int = 1) -> bool:
    """Ping ``address`` from namespace ``ns``; True if answered (retries once for ARP/DAD)."""
    for _ in range(3):
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, "ping", "-c", str(count), "-W", "1", address],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return True
    return False


def ping_once(ns: str, address: str) -> bool:
    """Ping once without retries (for "must not answer")."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", address],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def topo(data: dict) -> Topology:  # type: ignore[type-arg]
    """Load a topology document."""
    return load_topology(data)
