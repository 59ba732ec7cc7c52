"""Counters: pure rate math and parsing, then the sampler on real namespaces."""

from __future__ import annotations

import struct
import subprocess
import time

import pytest

from tests.telemetry.conftest import Net, Pair, ip, run_in
from worker.kernel.stats import (
    IFLA_STATS_LINK_64,
    RTM_NEWSTATS,
    LinkCounters,
    NamespaceStats,
    StatsError,
    parse_stats_dump,
)
from worker.telemetry.counters import Sampler, compute_rates


def _c(**kw: int) -> LinkCounters:
    names = "rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors rx_dropped tx_dropped"
    base = dict.fromkeys(names.split(), 0)
    base.update(kw)
    return LinkCounters(ifindex=1, **base)


def test_rates_from_deltas() -> None:
    r = compute_rates(_c(rx_bytes=100, tx_packets=10), _c(rx_bytes=1100, tx_packets=30), 2.0)
    assert r.rx_bps == 4000.0
    assert r.tx_pps == 10.0
    assert r.tx_bps == 0.0


def test_rates_counter_reset_counts_from_zero() -> None:
    r = compute_rates(_c(rx_bytes=10_000), _c(rx_bytes=50), 1.0)
    assert r.rx_bps == 400.0


def test_rates_zero_interval() -> None:
    assert compute_rates(_c(), _c(rx_bytes=9), 0.0).rx_bps == 0.0


def test_parse_stats_dump_two_messages() -> None:
    def msg(ifindex: int, values: tuple[int, ...]) -> bytes:
        stats = struct.pack("=24Q", *values, *([0] * (24 - len(values))))
        attr = struct.pack("=HH", 4 + len(stats), IFLA_STATS_LINK_64) + stats
        body = struct.pack("=BBHII", 0, 0, 0, ifindex, 1) + attr
        return struct.pack("=IHHII", 16 + len(body), RTM_NEWSTATS, 2, 1, 0) + body

    data = msg(2, (1, 2, 3, 4, 5, 6, 7, 8)) + msg(9, (10, 20, 30, 40))
    out = parse_stats_dump(data)
    assert [c.ifindex for c in out] == [2, 9]
    assert out[0].rx_packets == 1 and out[0].tx_dropped == 8
    assert out[1].tx_bytes == 40


def test_missing_namespace_is_a_clear_error() -> None:
    with pytest.raises(StatsError, match="tltel-nonexistent"):
        NamespaceStats("tltel-nonexistent")


def test_sampler_sees_ping_and_rates(pair: Pair) -> None:
    with Sampler() as sampler:
        sampler.watch([pair.a, pair.b])
        first = {(s.namespace, s.ifname): s for s in sampler.sample()}
        assert set(first) == {(pair.a, "eth0"), (pair.b, "eth0")}
        assert first[(pair.a, "eth0")].rx_bps is None  # no previous sample yet
        done = run_in(pair.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", pair.b_ip)
        assert done.returncode == 0, done.stdout + done.stderr
        second = {(s.namespace, s.ifname): s for s in sampler.sample()}
    a0, a1 = first[(pair.a, "eth0")], second[(pair.a, "eth0")]
    b1 = second[(pair.b, "eth0")]
    assert a1.tx_packets - a0.tx_packets >= 3
    assert a1.tx_bytes - a0.tx_bytes >= 3 * 98
    assert b1.rx_packets >= 3
    assert a1.tx_pps is not None and a1.tx_pps > 0
    assert a1.tx_bps is not None and a1.tx_bps > 0


def test_sampler_lets_a_deleted_namespace_go(net: Net) -> None:
    """An open netlink socket would keep a deleted namespace (and its veth ends) alive."""
    a, b = net.ns("a"), net.ns("b")
    net.veth(a, "x0", b, "x1")
    with Sampler() as sampler:
        sampler.watch([a])
        assert [r.ifname for r in sampler.sample()] == ["x0"]
        ip("netns", "delete", a)
        assert sampler.sample() == []
        assert a in sampler.errors and sampler.namespaces == set()
        # with the socket closed the kernel frees the namespace, and x0's peer with it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            links = subprocess.run(
                ["ip", "-n", b, "-o", "link"], capture_output=True, text=True, check=True
            ).stdout
            if "x1" not in links:
                break
            time.sleep(0.1)
        assert "x1" not in links


def test_sampler_drops_deleted_namespace(net: Net) -> None:
    a = net.ns("a")
    b = net.ns("b")
    net.veth(a, "x0", b, "x1")
    with Sampler() as sampler:
        sampler.watch([a, b, "tltel-missing-zz"])
        assert sampler.namespaces == {a, b}
        assert "tltel-missing-zz" in sampler.errors
        sampler.watch([a])
        assert sampler.namespaces == {a}
        rows = sampler.sample()
        assert [r.ifname for r in rows] == ["x0"]
        # The kernel publishes oper state through linkwatch, up to ~1 s after `link set
        # up`; wait for it rather than read a transient "down".
        deadline = time.monotonic() + 10
        while rows[0].oper_state != "up" and time.monotonic() < deadline:
            time.sleep(0.2)
            sampler._watched[a].links_at = float("-inf")  # force a link refresh
            rows = sampler.sample()
        assert rows[0].oper_state == "up"
        ip("-n", b, "link", "set", "x1", "down")
        deadline = time.monotonic() + 10
        while rows[0].oper_state == "up" and time.monotonic() < deadline:
            time.sleep(0.2)
            sampler._watched[a].links_at = float("-inf")
            rows = sampler.sample()
        assert rows[0].oper_state == "down"  # a veth whose peer is down has no carrier
