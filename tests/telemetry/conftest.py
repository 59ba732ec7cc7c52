"""Namespaces for telemetry tests: made with `ip`, removed in finalizers even on failure."""

from __future__ import annotations

import array
import ctypes
import fcntl
import os
import secrets
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lab.topology import naming
from worker import sandbox
from worker.kernel import default_kernel as kernel

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str) -> None:
    """Run `ip ARGS`, raising with its stderr on failure."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def in_netns(namespace: str, fn: Callable[[], Any]) -> Any:
    """Run fn in a thread that joined `namespace`; return its result."""
    box: list[Any] = []

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                assert _libc.setns(fd, CLONE_NEWNET) == 0, ctypes.get_errno()
            finally:
                os.close(fd)
            box.append((True, fn()))
        except BaseException as exc:
            box.append((False, exc))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value


def tx_checksum_off(namespace: str, ifname: str) -> None:
    """Turn tx checksum offload off (ethtool -K IF tx off) with the SIOCETHTOOL ioctl."""

    def run() -> None:
        buf = array.array("B", struct.pack("=II", ETHTOOL_STXCSUM, 0))
        addr, _ = buf.buffer_info()
        ifreq = struct.pack("16sP", ifname.encode(), addr) + b"\0" * 16
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)

    in_netns(namespace, run)


def run_in(namespace: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run argv inside `namespace` as root (test plumbing only)."""
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Net:
    """Nodes of one test lab (namespaces owned by the lab's user namespace, as the engine
    makes them); `cleanup()` removes every one of them, their sandboxes and the lab's uids."""

    lab: str
    made: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return naming.namespace_name(self.lab, "").rstrip("-")

    def ns(self, short: str) -> str:
        name = naming.namespace_name(self.lab, short)
        kernel().ns_create(name, naming.owner_alias(self.lab, short), self.lab)
        kernel().release()  # our socket (and the maker) would keep the namespace alive
        self.made.append(name)
        return name

    def veth(self, a: str, a_if: str, b: str, b_if: str) -> None:
        tmp = f"tt{secrets.token_hex(4)}"
        ip("-n", a, "link", "add", a_if, "type", "veth", "peer", tmp)
        ip("-n", a, "link", "set", tmp, "netns", b)
        ip("-n", b, "link", "set", tmp, "name", b_if)
        for n, i in ((a, a_if), (b, b_if)):
            tx_checksum_off(n, i)
            ip("-n", n, "link", "set", i, "up")

    def addr(self, namespace: str, ifname: str, cidr: str) -> None:
        ip("-n", namespace, "addr", "add", cidr, "dev", ifname)

    def cleanup(self) -> None:
        sandbox.teardown(self.lab)
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
        self.made.clear()
        kernel().release()
        kernel().lab_release(self.lab)


@pytest.fixture
def net() -> Iterator[Net]:
    """A factory of a test lab's nodes (tl-tt<random>-<short>), all removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("telemetry kernel tests need root (network namespaces)")
    n = Net(lab=f"tt{secrets.token_hex(3)}")
    try:
        yield n
    finally:
        n.cleanup()


@dataclass
class Pair:
    a: str
    b: str
    a_ip: str
    b_ip: str
    lab: str = ""  # the test lab; its nodes are "a" and "b"


@pytest.fixture
def pair(net: Net) -> Pair:
    """Two namespaces a and b joined by a veth eth0<->eth0, 10.77.0.1/24 and .2."""
    return make_pair(net)


def make_pair(net: Net) -> Pair:
    """Nodes a and b of ``net``'s lab joined by a veth eth0<->eth0, 10.77.0.1/24 and .2."""
    a, b = net.ns("a"), net.ns("b")
    net.veth(a, "eth0", b, "eth0")
    net.addr(a, "eth0", "10.77.0.1/24")
    net.addr(b, "eth0", "10.77.0.2/24")
    return Pair(a, b, "10.77.0.1", "10.77.0.2", lab=net.lab)


@dataclass
class Vxlan:
    """u1 and u2 joined by an underlay veth ul0 (192.168.77.0/24); vxlan0 (VNI 42) on top
    carries the overlay 10.42.0.0/24."""

    u1: str
    u2: str
    o1: str
    o2: str
    lab: str = ""


@pytest.fixture
def vxlan_pair(net: Net) -> Vxlan:
    u1, u2 = net.ns("u1"), net.ns("u2")
    net.veth(u1, "ul0", u2, "ul0")
    net.addr(u1, "ul0", "192.168.77.1/24")
    net.addr(u2, "ul0", "192.168.77.2/24")
    for ns, local, remote, ov in (
        (u1, "192.168.77.1", "192.168.77.2", "10.42.0.1/24"),
        (u2, "192.168.77.2", "192.168.77.1", "10.42.0.2/24"),
    ):
        ip(
            "-n",
            ns,
            "link",
            "add",
            "vxlan0",
            "type",
            "vxlan",
            "id",
            "42",
            "local",
            local,
            "remote",
            remote,
            "dstport",
            "4789",
            "dev",
            "ul0",
        )
        ip("-n", ns, "link", "set", "vxlan0", "up")
        net.addr(ns, "vxlan0", ov)
    return Vxlan(u1, u2, "10.42.0.1", "10.42.0.2", lab=net.lab)


@pytest.fixture
def capture_dir() -> Iterator[Any]:
    """A capture base dir the unprivileged capture user can traverse to its own subdir."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="tltel-cap-"))
    os.chmod(path, 0o711)  # noqa: S103
    try:
        yield path / "captures"
    finally:
        shutil.rmtree(path, ignore_errors=True)
