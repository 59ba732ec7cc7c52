"""hold: keeps a tun/tap up, discards its packets, and (by default) takes it along on exit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.apps.harness import Lab, run, started

pytestmark = pytest.mark.kernel

SEND = (
    "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.1.0.2', 9))"
)


def test_hold_keeps_a_tun_up_and_takes_it_along(lab: Lab) -> None:
    ns = lab.netns("h")
    lab.ip(ns, "tuntap", "add", "dev", "tun0", "mode", "tun")
    lab.ip(ns, "address", "add", "10.1.0.1/24", "dev", "tun0")
    lab.ip(ns, "link", "set", "tun0", "up")
    assert "NO-CARRIER" in lab.ip(ns, "link", "show", "tun0")  # nobody holds it yet

    hold = lab.app(ns, "hold", ["--dev", "tun0", "--trace", "--user", "nobody"], "hold-tun")
    hold.wait_for(started, "hold start")
    assert "NO-CARRIER" not in lab.ip(ns, "link", "show", "tun0")
    assert next(e for e in hold.events() if e["event"] == "start")["kind"] == "tun"

    run(lab.exec_argv(ns, [sys.executable, "-c", SEND]))
    hold.wait_for(
        lambda p: any(e.get("proto") == "udp" and e.get("dport") == 9 for e in p.events()),
        "the datagram read and discarded",
    )
    assert hold.stop() == 0
    assert "discarded" in hold.stderr()
    # The persist flag was cleared: the device went with its holder.
    assert "tun0" not in lab.ip(ns, "-o", "link", "show")


def test_hold_detects_a_tap_and_can_leave_it_persistent(lab: Lab) -> None:
    ns = lab.netns("h")
    lab.ip(ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
    hold = lab.app(ns, "hold", ["--dev", "tap0", "--keep-persistent", "--trace"], "hold-tap")
    hold.wait_for(started, "hold start")
    assert next(e for e in hold.events() if e["event"] == "start")["kind"] == "tap"
    assert hold.stop() == 0
    assert "tap0" in lab.ip(ns, "-o", "link", "show")


def test_hold_runs_unprivileged_on_a_device_owned_by_its_user(lab: Lab) -> None:
    # How the engine launches programs: the device is owned by the program's user, and
    # setpriv drops uid, groups and every capability before exec.
    ns = lab.netns("h")
    lab.ip(ns, "tuntap", "add", "dev", "tun0", "mode", "tun", "user", "nobody")
    setpriv = [
        "setpriv",
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
    ]
    hold = lab.start(
        lab.exec_argv(
            ns,
            [
                *setpriv,
                sys.executable,
                "-m",
                "worker.apps.hold",
                "--dev",
                "tun0",
                "--user",
                "nobody",
                "--trace",
            ],
        ),
        "hold-setpriv",
    )
    hold.wait_for(started, "hold start as nobody")
    status = Path(f"/proc/{hold.pid}/status").read_text()
    assert "CapEff:\t0000000000000000" in status
    assert hold.stop() == 0
    assert "tun0" not in lab.ip(ns, "-o", "link", "show")  # even nobody may unpersist it


def test_hold_names_why_it_cannot_hold(lab: Lab) -> None:
    ns = lab.netns("h")
    proc = run(
        lab.exec_argv(ns, [sys.executable, "-m", "worker.apps.hold", "--dev", "lo"]), check=False
    )
    assert proc.returncode == 1
    assert "cannot hold lo: lo exists but is not a tun device" in proc.stderr
    assert "lo is not a macvtap" in proc.stderr
