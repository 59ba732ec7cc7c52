"""End to end: the agent (in a thread), Redis, Channels consumers and the capture API.

The agent gets its lab -> namespaces map from a hook, so the test's own `tltel-*`
namespaces stand in for a deployed lab (no `tl-` names: those are reserved for labs).
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from asgiref.sync import sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from lab.api import telemetry as telemetry_api
from tests.conftest import RedisServer
from tests.telemetry.conftest import Net, Pair, make_pair, run_in
from worker.telemetry.agent import lab_key_of, run_agent

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _private_redis(redis_server: RedisServer, settings: Any) -> Iterator[None]:
    from channels.layers import channel_layers

    settings.REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url], "capacity": 1500, "expiry": 30},
        }
    }
    settings.TOPOLAB_HOST_NAME = f"tltel-host-{secrets.token_hex(4)}"
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


class Live:
    def __init__(self, pair: Pair, lab_id: int, alice: Client, bob: Client) -> None:
        self.pair, self.lab_id, self.alice, self.bob = pair, lab_id, alice, bob

    def cookie(self, client: Client) -> bytes:
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    def ws(self, path: str, client: Client | None) -> WebsocketCommunicator:
        from lab.asgi import application

        headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
        if client is not None:
            headers.append((b"cookie", self.cookie(client)))
        return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def live(capture_dir: Path, redis_server: RedisServer, settings: Any) -> Iterator[Live]:
    from lab.models import Lab

    users = get_user_model().objects
    alice_user = users.create_user("alice", password="pw-a")
    bob_user = users.create_user("bob", password="pw-b")
    lab = Lab.objects.create(owner=alice_user, name="tele")
    # The lab's nodes, owned by its user namespace as the engine makes them.
    net = Net(lab=lab_key_of(lab.pk))
    request_cleanup = net.cleanup
    pair = make_pair(net)
    alice, bob = Client(), Client()
    alice.force_login(alice_user)
    bob.force_login(bob_user)
    stop = threading.Event()
    key = lab_key_of(lab.pk)
    agent = threading.Thread(
        target=run_agent,
        kwargs={
            "host": settings.TOPOLAB_HOST_NAME,
            "stop": stop,
            "redis_url": redis_server.url,
            "capture_dir": capture_dir,
            "discover": lambda: {key: [pair.a, pair.b]},
            "period": 0.5,
        },
        daemon=True,
    )
    agent.start()
    try:
        yield Live(pair, lab.pk, alice, bob)
    finally:
        stop.set()
        agent.join(timeout=15)
        request_cleanup()
        assert not agent.is_alive()


async def _receive_until(
    comm: WebsocketCommunicator, pred: Any, timeout: float = 10.0
) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = await comm.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        seen.append(msg)
        if pred(msg):
            return seen
    raise AssertionError(f"no matching message; got {[m.get('type') for m in seen]}")


async def test_snapshot_then_counters_rise(live: Live) -> None:
    comm = live.ws(f"/ws/labs/{live.lab_id}/", live.alice)
    connected, _ = await comm.connect()
    assert connected
    try:
        snap = await comm.receive_json_from(timeout=5)
        assert snap["type"] == "snapshot" and snap["lab"] == live.lab_id, snap
        first = await _receive_until(comm, lambda m: m["type"] == "counters")
        base = next(
            i for i in first[-1]["interfaces"] if i["node"] == "a" and i["interface"] == "eth0"
        )
        assert first[-1]["seq"] > snap["seq"]
        done = await sync_to_async(run_in)(
            live.pair.a, "ping", "-c", "3", "-i", "0.2", live.pair.b_ip
        )
        assert done.returncode == 0

        def rose(m: dict[str, Any]) -> bool:
            if m["type"] != "counters":
                return False
            row = next(i for i in m["interfaces"] if i["node"] == "a" and i["interface"] == "eth0")
            return row["tx_packets"] >= base["tx_packets"] + 3

        await _receive_until(comm, rose)
        await comm.send_json_to({"type": "resync"})
        again = await _receive_until(comm, lambda m: m["type"] == "snapshot")
        assert again[-1]["seq"] >= snap["seq"]
        await comm.send_json_to({"type": "bogus"})
        err = await _receive_until(comm, lambda m: m["type"] == "error")
        assert err[-1]["code"] == "message.unknown_type"
    finally:
        await comm.disconnect()


async def test_other_users_lab_websocket_refused(live: Live) -> None:
    for client, code in ((live.bob, "lab.not_found"), (None, "auth.required")):
        comm = live.ws(f"/ws/labs/{live.lab_id}/", client)
        connected, _ = await comm.connect()
        assert connected
        msg = await comm.receive_json_from(timeout=5)
        assert msg == {"type": "error", "code": code, "message": msg["message"]}
        closed = await comm.receive_output(timeout=5)
        assert closed["type"] == "websocket.close" and closed["code"] == 4404
        await comm.disconnect()


async def test_console_over_websocket(live: Live) -> None:
    comm = live.ws(f"/ws/labs/{live.lab_id}/nodes/a/console", live.alice)
    connected, _ = await comm.connect()
    assert connected
    try:
        await comm.send_to(text_data=json.dumps({"type": "resize", "cols": 100, "rows": 30}))
        await comm.send_to(text_data='stty size; ip -br addr; echo EN"D"\n')
        out = ""
        deadline = time.monotonic() + 15
        while "END" not in out and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                out += await comm.receive_from(timeout=1)
        assert "30 100" in out
        assert live.pair.a_ip in out
        assert live.pair.b_ip not in out
    finally:
        await comm.disconnect()
    refused = live.ws(f"/ws/labs/{live.lab_id}/nodes/a/console", live.bob)
    connected, _ = await refused.connect()
    assert connected
    msg = json.loads(await refused.receive_from(timeout=5))
    assert msg["type"] == "error" and msg["code"] == "lab.not_found"
    await refused.disconnect()


async def test_capture_api_and_lines(live: Live) -> None:
    comm = live.ws(f"/ws/labs/{live.lab_id}/", live.alice)
    await comm.connect()
    try:
        await comm.receive_json_from(timeout=5)
        post = sync_to_async(live.alice.post)
        bad = await post(
            f"/api/labs/{live.lab_id}/captures",
            {"node": "b", "interface": "eth0", "filter": "icmp and and"},
            content_type="application/json",
        )
        assert bad.status_code == 400, bad.content
        body = bad.json()
        assert body["code"] == "capture.bad_filter" and body["issues"][0]["path"] == "filter"
        denied = await sync_to_async(live.bob.post)(
            f"/api/labs/{live.lab_id}/captures",
            {"node": "b", "interface": "eth0", "filter": "icmp"},
            content_type="application/json",
        )
        assert denied.status_code == 404
        res = await post(
            f"/api/labs/{live.lab_id}/captures",
            {"node": "b", "interface": "eth0", "filter": "icmp"},
            content_type="application/json",
        )
        assert res.status_code == 201, res.content
        cid = res.json()["id"]
        done = await sync_to_async(run_in)(
            live.pair.a, "ping", "-c", "2", "-i", "0.2", live.pair.b_ip
        )
        assert done.returncode == 0
        lines: list[str] = []

        def has_reply(m: dict[str, Any]) -> bool:
            if m["type"] == "capture.lines" and m["capture"] == cid:
                lines.extend(m["lines"])
            return sum("echo reply" in ln for ln in lines) >= 2

        await _receive_until(comm, has_reply)
        assert any("ICMP echo request" in ln for ln in lines)
        for client in (live.bob,):
            assert (
                await sync_to_async(client.post)(f"/api/captures/{cid}/stop")
            ).status_code == 404
            assert (await sync_to_async(client.get)(f"/api/captures/{cid}/pcap")).status_code == 404
        stopped = await post(f"/api/captures/{cid}/stop")
        assert stopped.status_code == 200 and stopped.json()["result"]["packets"] == 4
        # The download streams one agent request per chunk (small chunks here: 100 bytes).
        telemetry_api.PCAP_CHUNK = 100
        try:
            pcap = await sync_to_async(live.alice.get)(f"/api/captures/{cid}/pcap")
            assert pcap.status_code == 200 and pcap.streaming
            content = await sync_to_async(lambda: b"".join(pcap.streaming_content))()
        finally:
            telemetry_api.PCAP_CHUNK = 256 * 1024
        assert len(content) > 300  # several chunks, joined in order into one valid pcap
        frames = list(dpkt.pcap.Reader(io.BytesIO(content)))
        assert len(frames) == 4
        assert all(
            isinstance(dpkt.ethernet.Ethernet(raw).data.data, dpkt.icmp.ICMP) for _, raw in frames
        )
    finally:
        await comm.disconnect()


async def test_capture_limits_are_bounded(live: Live) -> None:
    for field, value in (("max_bytes", 10**15), ("max_bytes", 2**70), ("max_seconds", 1e9)):
        res = await sync_to_async(live.alice.post)(
            f"/api/labs/{live.lab_id}/captures",
            {"node": "b", "interface": "eth0", field: value},
            content_type="application/json",
        )
        assert res.status_code == 400, res.content
        body = res.json()
        assert body["code"] == "capture.bad_limits" and body["issues"][0]["path"] == field


async def test_exec_api_for_the_labs_owner_only(live: Live) -> None:
    url = f"/api/labs/{live.lab_id}/exec"
    body = {"node": "a", "argv": ["sh", "-c", "cat /proc/1/comm; ip -br addr show eth0"]}
    res = await sync_to_async(live.alice.post)(url, body, content_type="application/json")
    assert res.status_code == 200, res.content
    out = res.json()
    assert out["status"] == 0 and out["stdout"].startswith("catatonit\n")
    assert live.pair.a_ip in out["stdout"] and live.pair.b_ip not in out["stdout"]
    denied = await sync_to_async(live.bob.post)(url, body, content_type="application/json")
    assert denied.status_code == 404
    bad = await sync_to_async(live.alice.post)(
        url, {"node": "a", "argv": []}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "exec.bad_argv", bad.content
    slow = await sync_to_async(live.alice.post)(
        url, {"node": "a", "argv": ["true"], "timeout": 10**6}, content_type="application/json"
    )
    assert slow.status_code == 400 and slow.json()["issues"][0]["path"] == "timeout"


async def test_journey_api(live: Live) -> None:
    # A page watching the lab gets the journey as an event too.
    comm = live.ws(f"/ws/labs/{live.lab_id}/", live.alice)
    connected, _ = await comm.connect()
    assert connected
    post = sync_to_async(live.alice.post)
    try:
        assert (await comm.receive_json_from(timeout=5))["type"] == "snapshot"
        res = await post(
            f"/api/labs/{live.lab_id}/journeys",
            {"src": "a", "dst": live.pair.b_ip, "count": 1},
            content_type="application/json",
        )
        assert res.status_code == 200, res.content
        hops = res.json()["hops"]
        assert [(h["node"], h["direction"]) for h in hops if h["packet"] == "request"] == [
            ("a", "out"),
            ("b", "in"),
        ]
        seen = await _receive_until(comm, lambda m: m["type"] == "journey.done")
        event = seen[-1]
        assert event["src"] == "a" and event["dst"] == live.pair.b_ip
        assert event["hops"] == hops
    finally:
        await comm.disconnect()
    bad = await post(
        f"/api/labs/{live.lab_id}/journeys",
        {"src": "a", "dst": "10.1"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["issues"][0]["path"] == "dst"
    denied = await sync_to_async(live.bob.post)(
        f"/api/labs/{live.lab_id}/journeys",
        {"src": "a", "dst": live.pair.b_ip},
        content_type="application/json",
    )
    assert denied.status_code == 404
