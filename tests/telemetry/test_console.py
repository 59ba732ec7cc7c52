"""Consoles: a shell in the node's namespace that sees only that node, as nobody."""

from __future__ import annotations

import re
import time

import pytest

from tests.telemetry.conftest import Net, Pair
from worker.kernel import userns
from worker.telemetry.console import Console, ConsoleError, ConsoleRegistry, ConsoleSpec


def _run(console: Console, command: str, marker: str) -> str:
    """Type a command; return the output up to `MARKER-<exit status>-done`.

    The quotes keep the typed echo of the line from matching the marker.
    """
    console.write(f'{command}; echo {marker}-$?-"done"\n'.encode())
    out = b""
    deadline = time.monotonic() + 15
    pattern = re.compile(rf"{marker}-\d+-done".encode())
    while not pattern.search(out) and time.monotonic() < deadline:
        out += console.read_until(b"done", timeout=1)
    return out.decode(errors="replace")


@pytest.fixture
def console(pair: Pair) -> object:
    c = Console(ConsoleSpec(lab=pair.lab, node="a"))
    try:
        yield c
    finally:
        c.close()


def test_console_sees_only_its_node(pair: Pair, net: Net, console: Console) -> None:
    other = net.ns("c")
    out = _run(console, "ip -br addr", "m1")
    assert "10.77.0.1" in out
    assert "10.77.0.2" not in out
    out = _run(console, "ls /sys/class/net", "m2")
    assert "eth0" in out
    out = _run(console, f"ip netns exec {other} true", "m3")
    assert "m3-0-done" not in out
    out = _run(console, "ls /run/netns 2>/dev/null | wc -l", "m4")
    assert "\r0\r\nm4-0-done" in out


def test_console_is_unprivileged(console: Console) -> None:
    out = _run(console, "cat /etc/shadow", "s1")
    assert "Permission denied" in out
    assert "s1-1-done" in out
    out = _run(console, "id -u; cat /proc/self/uid_map; grep NoNewPrivs /proc/self/status", "s2")
    identity = userns.find_identity(console.spec.lab)
    assert identity is not None and identity.uid >= userns.pool()[0]
    # root of the lab's own user namespace, which maps to the lab's unprivileged host uid
    assert "\r0\r\n" in out
    assert re.search(rf"\s0\s+{identity.uid}\s+65536", out), out
    assert "NoNewPrivs:\t1" in out


def test_console_ping_works(pair: Pair, console: Console) -> None:
    out = _run(console, f"ping -c 1 -W 2 {pair.b_ip}", "p1")
    assert "1 received" in out
    assert "p1-0-done" in out


def test_console_resize(console: Console) -> None:
    console.resize(132, 40)
    out = _run(console, "stty size", "r1")
    assert "40 132" in out
    with pytest.raises(ConsoleError) as err:
        console.resize(0, 10)
    assert err.value.code == "console.bad_size"


def test_registry_closes_a_labs_consoles(pair: Pair) -> None:
    reg = ConsoleRegistry()
    try:
        c1 = reg.open("c1", "labx", ConsoleSpec(lab=pair.lab, node="a"))
        reg.open("c2", "laby", ConsoleSpec(lab=pair.lab, node="b"))
        assert reg.close_lab("labx") == 1
        assert not c1.alive
        assert list(reg.ids()) == ["c2"]
        c2 = reg.get("c2")
        assert c2 is not None
        assert reg.reap(now=c2.last_activity + 10**6) == ["c2"]
    finally:
        reg.close_all()


def test_missing_namespace() -> None:
    with pytest.raises(ConsoleError) as err:
        Console(ConsoleSpec(lab="ttnope", node="zz"))
    assert err.value.code == "console.no_node"
