"""Captures: tcpdump in the node, lines streamed in batches, pcap that dpkt reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dpkt
import pytest

from tests.telemetry.conftest import Net, Pair, Vxlan, ip, run_in
from worker.telemetry.capture import (
    CaptureError,
    CaptureManager,
    CaptureSpec,
    parse_tcpdump_stats,
    take_batch,
    tcpdump_argv,
)


class Lines:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, cid: str, lines: list[str]) -> None:
        with self.lock:
            self.batches.append(lines)

    @property
    def text(self) -> str:
        with self.lock:
            return "\n".join(line for b in self.batches for line in b)


def test_take_batch_limits_and_counts() -> None:
    pending = [f"l{i}" for i in range(73)]
    batch = take_batch(pending, 50)
    assert len(batch) == 51
    assert batch[-1] == "... 23 more packets (not shown)"
    assert pending == []
    assert take_batch(["a"], 50) == ["a"]


def test_parse_stats() -> None:
    err = "5 packets captured\n7 packets received by filter\n2 packets dropped by kernel\n"
    assert parse_tcpdump_stats(err) == (5, 2)


def test_filter_is_never_an_option() -> None:
    argv = tcpdump_argv(CaptureSpec("lab", "n", "eth0", "-w /etc/passwd"), Path("/x/c.pcap"))
    assert argv[-2:] == ["--", "-w /etc/passwd"]


def test_vxlan_on_other_port_only_when_filtered() -> None:
    spec = CaptureSpec("lab", "n", "ul0", "udp port 8472", vxlan_ports=(8472,))
    assert "-T" in tcpdump_argv(spec, Path("/x/c.pcap"))
    spec2 = CaptureSpec("lab", "n", "ul0", "udp", vxlan_ports=(8472,))
    assert "-T" not in tcpdump_argv(spec2, Path("/x/c.pcap"))


def _ping(ns: str, dst: str, count: int = 3) -> None:
    done = run_in(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "2", dst)
    assert done.returncode == 0, done.stdout + done.stderr


def test_capture_lines_and_pcap(pair: Pair, capture_dir: Path) -> None:
    mgr = CaptureManager(capture_dir)
    sink = Lines()
    try:
        cap = mgr.start(CaptureSpec(pair.lab, "b", "eth0", "icmp"), sink=sink, lab="l1")
        assert cap.warnings == []
        _ping(pair.a, pair.b_ip)
        deadline = time.monotonic() + 5
        while sink.text.count("echo reply") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        result = mgr.stop(cap.id)
    finally:
        mgr.stop_all()
    assert "ICMP echo request" in sink.text
    assert "ICMP echo reply" in sink.text
    assert f"{pair.a_ip} > {pair.b_ip}" in sink.text
    assert result.packets == 6
    assert result.kernel_drops == 0
    assert cap.pcap_path.stat().st_uid == 0
    with cap.pcap_path.open("rb") as f:
        frames = list(dpkt.pcap.Reader(f))
    assert len(frames) == 6
    for _ts, raw in frames:
        eth = dpkt.ethernet.Ethernet(raw)
        ip4 = eth.data
        assert isinstance(ip4, dpkt.ip.IP)
        icmp = ip4.data
        assert isinstance(icmp, dpkt.icmp.ICMP)
        # dpkt recomputes a checksum when it is zero; compare against the stored one.
        stored_ip, stored_icmp = ip4.sum, icmp.sum
        ip4.sum = 0
        icmp.sum = 0
        assert dpkt.ethernet.Ethernet(bytes(eth)).data.sum == stored_ip
        assert dpkt.ethernet.Ethernet(bytes(eth)).data.data.sum == stored_icmp


def test_bad_filter_is_a_clear_error(pair: Pair, capture_dir: Path) -> None:
    mgr = CaptureManager(capture_dir)
    with pytest.raises(CaptureError) as err:
        mgr.start(CaptureSpec(pair.lab, "a", "eth0", "icmp and and"))
    assert err.value.code == "capture.bad_filter"
    assert err.value.field == "filter"
    assert "syntax error" in err.value.message
    assert mgr.running_ids() == []
    with pytest.raises(CaptureError) as err2:
        mgr.start(CaptureSpec(pair.lab, "a", "eth9", "icmp"))
    assert err2.value.code == "capture.no_interface"


def test_a_capture_that_reaches_its_time_limit_is_finished_by_reap(
    pair: Pair, capture_dir: Path
) -> None:
    mgr = CaptureManager(capture_dir)
    try:
        cap = mgr.start(CaptureSpec(pair.lab, "a", "eth0", "icmp", max_seconds=0.5))
        deadline = time.monotonic() + 10
        while cap.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not cap.running
        assert mgr.reap() == [cap.id]  # counts read, pcap handed to root
        assert cap.result is not None and cap.result.reason == "time limit reached"
        assert cap.pcap_path.stat().st_uid == 0
        assert mgr.reap() == []
    finally:
        mgr.stop_all()


def test_bridge_warning_and_stop_lab(net: Net, capture_dir: Path) -> None:
    s = net.ns("s")
    ip("-n", s, "link", "add", "br0", "type", "bridge")
    ip("-n", s, "link", "set", "br0", "up")
    mgr = CaptureManager(capture_dir)
    try:
        cap = mgr.start(CaptureSpec(net.lab, "s", "br0"), lab="l2")
        assert any("bridge" in w for w in cap.warnings)
        assert mgr.stop_lab("l2") == [cap.id]
        assert not cap.running
        assert cap.result is not None and cap.result.reason == "lab destroyed"
        assert mgr.prune(max_age=3600) == []
        assert mgr.prune(max_age=-1) == [cap.id]
        assert not cap.directory.exists()
    finally:
        mgr.stop_all()


def test_vxlan_underlay_shows_inner_icmp(vxlan_pair: Vxlan, capture_dir: Path) -> None:
    mgr = CaptureManager(capture_dir)
    sink = Lines()
    try:
        cap = mgr.start(CaptureSpec(vxlan_pair.lab, "u2", "ul0", "udp port 4789"), sink=sink)
        _ping(vxlan_pair.u1, vxlan_pair.o2, count=2)
        deadline = time.monotonic() + 5
        while "echo reply" not in sink.text and time.monotonic() < deadline:
            time.sleep(0.1)
        mgr.stop(cap.id)
    finally:
        mgr.stop_all()
    text = sink.text
    assert "VXLAN" in text and "vni 42" in text
    assert f"{vxlan_pair.o1} > {vxlan_pair.o2}: ICMP echo request" in text


def test_stop_right_after_traffic_keeps_the_last_packets(pair: Pair, capture_dir: Path) -> None:
    """libpcap delivers a ring block when full or 1 s old; stop() must not lose the last."""
    mgr = CaptureManager(capture_dir)
    try:
        cap = mgr.start(CaptureSpec(pair.lab, "b", "eth0", "icmp"))
        _ping(pair.a, pair.b_ip, count=1)
        result = mgr.stop(cap.id)
    finally:
        mgr.stop_all()
    assert result.packets == 2
    with cap.pcap_path.open("rb") as f:
        assert len(list(dpkt.pcap.Reader(f))) == 2
