"""Link conditioning on a running lab: rate, netem impairments, MTU and link state, live.

An edit changes the interface in place (same ifindex) and a second apply is empty.
Rate, MTU and state work on every lab host (tbf); netem needs sch_netem, which the
test guest's kernel has: there the delay and loss are measured.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from lab.topology import naming
from tests.kernel.conftest import topo
from tests.kernel.nsnet import (
    tcp_transfer_seconds,
    udp_delivered,
    udp_roundtrip,
    udp_rtts,
)
from tests.kernel.test_kinds import build, link_of, needs
from worker import engine
from worker.facts import HostFacts
from worker.ops import SetMtu, SetShaping, SetUp, UnsupportedKindError

pytestmark = pytest.mark.kernel


def pair(a_extra: dict[str, Any] | None = None, **link: Any) -> dict[str, Any]:
    return {
        "name": "cond",
        "nodes": [
            {"name": "a", "interfaces": [{"name": "eth0", "addresses": ["10.90.0.1/24"],
                                          **(a_extra or {})}]},
            {"name": "b", "interfaces": [{"name": "eth0", "addresses": ["10.90.0.2/24"]}]},
        ],
        "links": [{"a": "a:eth0", "b": "b:eth0", **link}],
    }  # fmt: skip


def edit(key: str, doc: dict[str, Any]) -> list[type]:
    """Apply ``doc`` to the running lab; return the kinds of ops it took."""
    result = engine.deploy(topo(doc), key)
    assert engine.plan_for(topo(doc), key).ops == (), "a second apply must be a no-op"
    return [type(op) for op in result.plan.ops]


@pytest.mark.guest
def test_rate_mtu_and_state_change_the_running_link_in_place(lab_key) -> None:
    key = lab_key()
    ns = build(key, pair(rate_mbit=10))
    before = link_of(key, "a", "eth0")
    assert before.get("shaping") == "rate 10mbit"
    kinds = edit(key, pair({"up": False}, rate_mbit=20, mtu=1400))
    assert set(kinds) == {SetShaping, SetMtu, SetUp}  # nothing made again
    after = link_of(key, "a", "eth0")
    assert after.ifindex == before.ifindex
    assert (after.get("shaping"), after.mtu, after.up) == ("rate 20mbit", 1400, False)
    assert link_of(key, "b", "eth0").mtu == 1400
    assert not udp_roundtrip(ns("a"), ns("b"), "10.90.0.2", tries=1)
    assert set(edit(key, pair(mtu=1400))) == {SetShaping, SetUp}  # up again, rate removed
    assert link_of(key, "a", "eth0").get("shaping") is None
    assert udp_roundtrip(ns("a"), ns("b"), "10.90.0.2")


@pytest.mark.guest
def test_a_rate_bounds_the_throughput(lab_key) -> None:
    key = lab_key()
    ns = build(key, pair({"rate_mbit": 10}))
    size = 1_500_000
    seconds = tcp_transfer_seconds(ns("a"), ns("b"), "10.90.0.2", size)
    mbit = size * 8 / seconds / 1e6
    print(f"rate 10 Mbit/s: {size} bytes in {seconds:.2f} s = {mbit:.1f} Mbit/s")
    # tbf can never send faster than its rate plus one 64 kB burst: a bound, not a timing.
    assert seconds >= (size - 65536) * 8 / 10e6


@pytest.mark.guest
def test_netem_delay_adds_to_the_round_trip(lab_key) -> None:
    needs("netem")
    key = lab_key()
    ns = build(key, pair())
    base = udp_rtts(ns("a"), ns("b"), "10.90.0.2", 20)
    index = link_of(key, "a", "eth0").ifindex
    assert edit(key, pair({"netem": {"delay_ms": 10}})) == [SetShaping]
    assert link_of(key, "a", "eth0").ifindex == index
    assert link_of(key, "a", "eth0").get("shaping") == "delay 10ms"
    delayed = udp_rtts(ns("a"), ns("b"), "10.90.0.2", 20)
    print(
        f"RTT min/median without delay {min(base):.2f}/{statistics.median(base):.2f} ms, "
        f"with 10 ms {min(delayed):.2f}/{statistics.median(delayed):.2f} ms"
    )
    # netem holds every packet at least its delay: a bound the kernel keeps.
    assert len(delayed) == 20 and min(delayed) >= 10.0


@pytest.mark.guest
def test_netem_loss_drops_its_share(lab_key) -> None:
    needs("netem")
    key = lab_key()
    ns = build(key, pair({"netem": {"loss_pct": 20}}))
    assert udp_roundtrip(ns("b"), ns("a"), "10.90.0.1")  # b's replies are not impaired
    sent = 500
    delivered = udp_delivered(ns("a"), ns("b"), "10.90.0.2", sent)
    lost = (sent - delivered) / sent
    print(f"netem loss 20 %: {sent - delivered} of {sent} lost ({lost:.1%})")
    assert 0.15 <= lost <= 0.25


def test_netem_on_a_kernel_without_sch_netem_is_refused_naming_it(lab_key) -> None:
    key = lab_key()
    lacking = HostFacts(kinds=engine.host_facts().kinds - {"netem"})
    with pytest.raises(UnsupportedKindError) as caught:
        engine.deploy(topo(pair({"netem": {"delay_ms": 10}})), key, facts=lacking)
    assert caught.value.module == "sch_netem" and "sch_netem" in str(caught.value)
    assert engine.discover(key).empty  # refused before anything was made
    assert naming.namespace_name(key, "a") not in engine.labs_present().get(key, [])
