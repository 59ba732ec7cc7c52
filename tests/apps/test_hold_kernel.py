"""hold: keeps a tun/tap up, discards its packets, and (by default) takes it along on exit."""

from __future__ import annotations

import contextlib
import secrets
import sys
import tempfile
from pathlib import Path

import pytest

from tests.apps.harness import Lab, Program, run, started

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


def test_hold_runs_in_the_node_sandbox_with_dev_net_tun_0600(tun_0600: None) -> None:
    # How the engine launches programs: in the node's sandbox, root of the lab's user
    # namespace only, attaching through the node's own /dev/net/tun (the host's is 0600).
    from lab.topology import naming
    from worker import sandbox
    from worker.kernel import default_kernel

    lab, k = f"ta{secrets.token_hex(3)}", default_kernel()
    ns = naming.namespace_name(lab, "h")
    try:
        k.ns_create(ns, naming.owner_alias(lab, "h"), lab)
        k.tuntap_add(ns, "tun0", "topolab:x", "tun", k.lab_uid(lab))
        k.release()
        argv = sandbox.app_command(lab, "h", "worker.apps.hold", ["--dev", "tun0", "--trace"])
        hold = Program(argv, Path(tempfile.mkdtemp()), "hold-sandbox", sandbox.app_environment())
        try:
            hold.wait_for(started, "hold start in the sandbox")
            (child,) = (int(c) for c in Path(f"/proc/{hold.pid}/task/{hold.pid}/children")
                        .read_text().split())  # fmt: skip
            status = Path(f"/proc/{child}/status").read_text()
            uid_map = Path(f"/proc/{child}/uid_map").read_text().split()
            assert uid_map[:2] == ["0", str(k.lab_uid(lab))]  # root inside, the lab's uid outside
            assert "NoNewPrivs:\t1" in status
            assert "NO-CARRIER" not in run(["ip", "-n", ns, "link", "show", "tun0"]).stdout
        finally:
            assert hold.stop() == 0
    finally:
        sandbox.teardown(lab)
        with contextlib.suppress(Exception):
            k.ns_delete(ns)
        k.lab_release(lab)


def test_hold_names_why_it_cannot_hold(lab: Lab) -> None:
    ns = lab.netns("h")
    proc = run(
        lab.exec_argv(ns, [sys.executable, "-m", "worker.apps.hold", "--dev", "lo"]), check=False
    )
    assert proc.returncode == 1
    assert "cannot hold lo: lo exists but is not a tun device" in proc.stderr
    assert "lo is not a macvtap" in proc.stderr
