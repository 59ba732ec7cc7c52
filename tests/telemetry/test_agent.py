"""The agent without the web side: requests, counters payloads, and ending a lab's work."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import RedisServer
from tests.telemetry.conftest import Net, Pair
from worker.telemetry import rpc
from worker.telemetry.agent import Agent, lab_key_of, node_of
from worker.telemetry.capture import CaptureError


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def publish(self, lab_id: int, kind: str, payload: dict[str, Any]) -> None:
        self.events.append((lab_id, kind, payload))

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.events.append((group, message["type"], message))


@pytest.fixture
def net() -> Any:
    """This module's nodes belong to lab 7 (``l7``), as the agent's lab ids name them."""
    n = Net(lab=lab_key_of(7))
    try:
        yield n
    finally:
        n.cleanup()


@pytest.fixture
def agent(pair: Pair, capture_dir: Path, redis_server: RedisServer) -> Any:
    present = {lab_key_of(7): [pair.a, pair.b]}
    rec = Recorder()
    client = redis.Redis.from_url(redis_server.url)
    # Lab 7 may be a lab another test of this session watched (its key lives a while).
    client.delete(rpc.watch_key(7))
    a = Agent(
        host="tltel-agent",
        client=client,
        capture_dir=capture_dir,
        discover=lambda: present,
        publish=rec.publish,
        group_send=rec.group_send,
    )
    a.rec = rec  # type: ignore[attr-defined]
    a.present_map = present  # type: ignore[attr-defined]
    try:
        yield a
    finally:
        a.close()
        client.delete(rpc.watch_key(7))
        client.close()


def test_node_names() -> None:
    assert node_of("l7", "tl-l7-h1") == "h1"
    assert node_of("l7", "tltel-x-a") == "tltel-x-a"


def test_counters_only_for_watched_labs(agent: Any, pair: Pair) -> None:
    assert agent.sample_once() == {}
    rpc.mark_watched(agent.client, 7)
    sent = agent.sample_once()
    assert set(sent) == {7}
    nodes = {(i["node"], i["interface"]) for i in sent[7]["interfaces"]}
    assert nodes == {("a", "eth0"), ("b", "eth0")}
    assert agent.rec.events[-1][:2] == (7, "counters")


def test_unknown_node_and_op(agent: Any) -> None:
    with pytest.raises(rpc.AgentError) as err:
        agent.handle("capture.start", {"lab": 7, "node": "nope", "interface": "eth0"})
    assert err.value.field == "node"
    with pytest.raises(rpc.AgentError):
        agent.handle("capture.start", {"lab": 8, "node": "a", "interface": "eth0"})
    with pytest.raises(rpc.AgentError) as err:
        agent.handle("format.disk", {})
    assert err.value.code == "agent.bad_request"
    with pytest.raises(CaptureError):
        agent.handle("capture.stop", {"lab": 7, "id": "0123456789abcdef"})


def test_lab_gone_ends_captures_and_consoles(agent: Any, pair: Pair) -> None:
    cap = agent.handle("capture.start", {"lab": 7, "node": "b", "interface": "eth0"})
    con = agent.handle("console.open", {"lab": 7, "node": "a"})
    console = agent.consoles.get(con["id"])
    assert console is not None and console.alive
    # the lab is destroyed: its namespaces go, discovery no longer lists it
    agent.present_map.clear()
    subprocess.run(["ip", "netns", "delete", pair.a], check=True)
    agent.present(refresh=True)
    agent.housekeeping()
    capture = agent.captures.get(cap["id"])
    assert not capture.running
    assert capture.result.reason == "lab destroyed"
    state = [e for e in agent.rec.events if e[1] == "capture.state"]
    assert state and state[-1][0] == 7 and state[-1][2]["capture"] == cap["id"]
    assert agent.consoles.get(con["id"]) is None
    assert not console.alive


def test_rpc_round_trip(agent: Any, pair: Pair) -> None:
    import threading

    stop = threading.Event()
    server = threading.Thread(target=agent.serve, args=(stop,), daemon=True)
    server.start()
    try:
        with pytest.raises(rpc.AgentError) as err:
            rpc.call(
                agent.client,
                "tltel-agent",
                "capture.start",
                {"lab": 7, "node": "a", "interface": "eth0", "filter": "tcp port"},
                30,
            )
        assert err.value.code == "capture.bad_filter" and err.value.field == "filter"
        hops = rpc.call(
            agent.client,
            "tltel-agent",
            "journey",
            {"lab": 7, "src": "a", "dst": pair.b_ip, "count": 1},
            30,
        )
        assert hops["replies"] == 1
    finally:
        stop.set()
        server.join(timeout=5)
    with pytest.raises(rpc.AgentError) as err:
        rpc.call(agent.client, "tltel-nobody-home", "journey", {}, 1)
    assert err.value.code == "agent.unavailable"


def test_consoles_are_capped_per_lab_and_per_user(
    agent: Any, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPOLAB_CONSOLES_PER_LAB", "3")
    monkeypatch.setenv("TOPOLAB_CONSOLES_PER_USER", "2")
    opened = [agent.handle("console.open", {"lab": 7, "node": "a", "user": "u1"}) for _ in "ab"]
    with pytest.raises(Exception) as err:
        agent.handle("console.open", {"lab": 7, "node": "a", "user": "u1"})
    assert err.value.code == "limit.consoles_per_user"  # type: ignore[attr-defined]
    # Another student of the lab still gets one, up to the lab's cap.
    opened.append(agent.handle("console.open", {"lab": 7, "node": "b", "user": "u2"}))
    with pytest.raises(Exception) as err:
        agent.handle("console.open", {"lab": 7, "node": "b", "user": "u3"})
    assert err.value.code == "limit.consoles_per_lab"  # type: ignore[attr-defined]
    # A closed console frees its place.
    agent.handle("console.close", {"id": opened[0]["id"]})
    agent.handle("console.open", {"lab": 7, "node": "a", "user": "u1"})


def test_captures_are_capped_per_lab_and_bounded(
    agent: Any, pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPOLAB_CAPTURES_PER_LAB", "1")
    agent.handle("capture.start", {"lab": 7, "node": "b", "interface": "eth0"})
    with pytest.raises(rpc.AgentError) as err:
        agent.handle("capture.start", {"lab": 7, "node": "a", "interface": "eth0"})
    assert err.value.code == "limit.captures_per_lab"
    monkeypatch.setenv("TOPOLAB_CAPTURES_PER_LAB", "5")
    for limits in ({"max_bytes": 10**15}, {"max_bytes": 2**70}, {"max_seconds": 1e9}):
        with pytest.raises(rpc.AgentError) as err:
            agent.handle("capture.start", {"lab": 7, "node": "a", "interface": "eth0", **limits})
        assert err.value.code == "capture.bad_limits" and err.value.field == "limits"


def test_exec_runs_in_the_node_and_returns_its_status(agent: Any, pair: Pair) -> None:
    out = agent.handle(
        "exec", {"lab": 7, "node": "a", "argv": ["sh", "-c", "cat /proc/1/comm; exit 4"]}
    )
    assert out == {"status": 4, "timed_out": False, "stdout": "catatonit\n", "stderr": ""}
    slow = agent.handle("exec", {"lab": 7, "node": "a", "argv": ["sleep", "30"], "timeout": 0.5})
    assert slow["timed_out"] is True and slow["status"] is None
    for bad in ("ls /", [], ["a\0b"], [1, 2]):
        with pytest.raises(Exception) as err:
            agent.handle("exec", {"lab": 7, "node": "a", "argv": bad})
        assert err.value.code == "exec.bad_argv"  # type: ignore[attr-defined]
