"""The lab host's telemetry agent: counters at 1 Hz for watched labs, and on request
captures, journeys and consoles (see `worker.telemetry.rpc` for the request protocol).

`worker/agent.py` (orchestration) sets Django up and calls `run_agent(host, stop)`.
Everything the agent touches outside the kernel comes in as a parameter with a
default (Redis client, lab discovery, event publisher), so tests run it for real
against a private Redis and their own namespaces.

Threads: the caller's thread samples counters; one thread serves requests; each
console has one thread copying pty output to its channel group and one reading
input from Redis; each capture has its own reader threads (see capture.py).
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from lab import wire
from lab.topology import naming
from worker import sandbox
from worker.locks import redis_url as default_redis_url
from worker.telemetry import rpc
from worker.telemetry.capture import CaptureManager, CaptureSpec
from worker.telemetry.console import Console, ConsoleError, ConsoleRegistry, ConsoleSpec, limit
from worker.telemetry.counters import InterfaceSample, Sampler
from worker.telemetry.events import EventSender
from worker.telemetry.journey import run_journey

logger = logging.getLogger(__name__)

Publish = Callable[[int, str, dict[str, Any]], Any]
GroupSend = Callable[[str, dict[str, Any]], Any]
DiscoverLabs = Callable[[], Mapping[str, list[str]]]

DISCOVERY_SECONDS = 5.0
PCAP_CHUNK = 256 * 1024  # bytes of pcap per download request
EXEC_OUTPUT_MAX = 64 * 1024  # bytes of stdout (and of stderr) an exec returns


def bounded(value: Any, default: float, name: str) -> Any:
    """A capture limit from a request, refused past ``TOPOLAB_CAPTURE_<NAME>``.

    Raises:
        AgentError: ``capture.bad_limits`` naming the limit (field ``limits``).
    """
    cap = float(os.environ.get(f"TOPOLAB_CAPTURE_{name}", {"MAX_BYTES": 64 * 1024**2,
                                                           "MAX_SECONDS": 3600}[name]))  # fmt: skip
    number = type(default)(value) if value else default
    if not 0 < number <= cap:
        raise rpc.AgentError(
            "capture.bad_limits",
            f"{name.lower()} must be more than 0 and at most {cap:g}",
            "limits",
        )
    return number


def exec_in_node(lab: str, node: str, namespace: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``args["argv"]`` in the node's sandbox (as a console would); return its outcome.

    Raises:
        AgentError: ``exec.bad_argv`` (field ``argv``) or the sandbox's refusal.
    """
    try:
        argv = sandbox.check_argv(args.get("argv"))
    except sandbox.SandboxError as exc:
        raise rpc.AgentError(exc.code, exc.message, "argv") from exc
    timeout = min(float(args.get("timeout") or 30), sandbox.EXEC_TIMEOUT_MAX)
    try:
        proc = sandbox.run(lab, node, argv, timeout=timeout, namespace=namespace)
    except sandbox.SandboxError as exc:
        raise rpc.AgentError(exc.code, exc.message, "node") from exc
    except subprocess.TimeoutExpired:
        return {"status": None, "timed_out": True, "stdout": "", "stderr": ""}
    return {
        "status": proc.returncode,
        "timed_out": False,
        "stdout": proc.stdout[-EXEC_OUTPUT_MAX:],
        "stderr": proc.stderr[-EXEC_OUTPUT_MAX:],
    }


def lab_key_of(lab_id: int) -> str:
    """The kernel-side key of database lab `lab_id` (the wire's convention)."""
    return wire.lab_key(lab_id)


def node_of(lab_key: str, namespace: str) -> str:
    """The node name inside a lab namespace name (`tl-<lab>-<node>` -> `<node>`).

    A namespace not named by the convention (the discovery hook decides what belongs
    to a lab, by owner tag) keeps its whole name as the node name.
    """
    prefix = naming.namespace_name(lab_key, "")
    return namespace[len(prefix) :] if namespace.startswith(prefix) else namespace


def counters_payload(host: str, lab_key: str, rows: list[InterfaceSample]) -> dict[str, Any]:
    """The `counters` event payload for one lab: one entry per node interface. Pure."""
    interfaces = []
    for row in rows:
        data = row.to_json()
        data["node"] = node_of(lab_key, data.pop("namespace"))
        data["interface"] = data.pop("ifname")
        interfaces.append(data)
    interfaces.sort(key=lambda d: (d["node"], d["interface"]))
    return {"host": host, "time": time.time(), "interfaces": interfaces}


def _default_discover() -> Mapping[str, list[str]]:
    from worker import engine

    return engine.labs_present()


_sender: EventSender | None = None


def _events() -> EventSender:
    global _sender
    if _sender is None:
        _sender = EventSender(default_redis_url())
    return _sender


def _default_publish(lab_id: int, event_type: str, payload: dict[str, Any]) -> Any:
    return _events().send(lab_id, event_type, payload)


def _default_group_send(group: str, message: dict[str, Any]) -> Any:
    return _events().group_send(group, message)


@dataclass
class Agent:
    """The state of one agent: what it samples, runs and serves."""

    host: str
    client: redis.Redis[bytes]
    capture_dir: Path
    discover: DiscoverLabs = _default_discover
    publish: Publish = _default_publish
    group_send: GroupSend = _default_group_send
    period: float = 1.0
    sampler: Sampler = field(default_factory=Sampler)
    captures: CaptureManager = field(init=False)
    consoles: ConsoleRegistry = field(default_factory=ConsoleRegistry)
    _present: Mapping[str, list[str]] = field(default_factory=dict)
    _present_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _capture_labs: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.captures = CaptureManager(self.capture_dir)
        # Made now so consoles can hide it (a mount over a missing path is skipped).
        self.capture_dir.mkdir(parents=True, exist_ok=True)

    # -- lab discovery -------------------------------------------------------------

    def present(self, refresh: bool = False) -> Mapping[str, list[str]]:
        """{lab key: [namespace, ...]} on this host, re-read every few seconds."""
        now = time.monotonic()
        with self._lock:
            if refresh or now - self._present_at >= DISCOVERY_SECONDS:
                self._present = dict(self.discover())
                self._present_at = now
            return self._present

    def namespace_of(self, lab_id: int, node: str) -> str:
        """The namespace of `node` in lab `lab_id`, checked against the owner tags.

        Raises:
            AgentError: code `telemetry.no_node` (field `node`).
        """
        key = lab_key_of(lab_id)
        for refresh in (False, True):
            for name in self.present(refresh).get(key, []):
                if node and node_of(key, name) == node:
                    return name
        raise rpc.AgentError(
            "telemetry.no_node", f"node {node!r} is not running in this lab", "node"
        )

    # -- counters --------------------------------------------------------------------

    def sample_once(self) -> dict[int, dict[str, Any]]:
        """Sample the watched labs present here, publish one `counters` event per lab,
        and return the payloads by lab id."""
        watched = rpc.watched_labs(self.client)
        present = self.present()
        wanted: dict[str, int] = {}
        for lab_id in watched:
            key = lab_key_of(lab_id)
            if key in present:
                wanted[key] = lab_id
        self.sampler.watch(ns for key in wanted for ns in present[key])
        rows = self.sampler.sample()
        by_lab: dict[str, list[InterfaceSample]] = {key: [] for key in wanted}
        owner = {ns: key for key in wanted for ns in present[key]}
        for row in rows:
            lab = owner.get(row.namespace)
            if lab is not None:
                by_lab[lab].append(row)
        sent: dict[int, dict[str, Any]] = {}
        for key, lab_rows in by_lab.items():
            payload = counters_payload(self.host, key, lab_rows)
            try:
                self.publish(wanted[key], "counters", payload)
            except Exception:
                logger.exception("cannot publish counters of lab %s", key)
            sent[wanted[key]] = payload
        return sent

    # -- requests --------------------------------------------------------------------

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Do one request; return its JSON-able result.

        Raises:
            AgentError, CaptureError, JourneyError, ConsoleError: refused or failed.
        """
        lab_id = int(args.get("lab", 0))
        if op == "capture.start":
            namespace = self.namespace_of(lab_id, str(args.get("node", "")))
            key = lab_key_of(lab_id)
            per_lab = limit("CAPTURES_PER_LAB", 4)
            if len([c for c in self.captures.running_ids() if self.captures.get(c).lab == key]) >= (
                per_lab
            ):
                raise rpc.AgentError(
                    "limit.captures_per_lab", f"this lab already has {per_lab} captures running"
                )
            spec = CaptureSpec(
                lab=key,
                node=node_of(key, namespace),
                ns=namespace,
                interface=str(args.get("interface", "")),
                filter=str(args.get("filter", "") or ""),
                max_bytes=bounded(args.get("max_bytes"), CaptureSpec.max_bytes, "MAX_BYTES"),
                max_seconds=bounded(
                    args.get("max_seconds"), CaptureSpec.max_seconds, "MAX_SECONDS"
                ),
            )

            def sink(cid: str, lines: list[str]) -> None:
                self.publish(lab_id, "capture.lines", {"capture": cid, "lines": lines})

            capture = self.captures.start(
                spec, sink=sink, lab=lab_key_of(lab_id), capture_id=args.get("id")
            )
            self._capture_labs[capture.id] = lab_id
            return capture.describe()
        if op == "capture.stop":
            cap = self.captures.get(str(args.get("id", "")))
            cap.stop()
            self._capture_labs.pop(cap.id, None)
            info = cap.describe()
            self.publish(
                lab_id,
                "capture.state",
                {"capture": cap.id, "running": False, "result": info["result"]},
            )
            return info
        if op == "capture.pcap":
            # One chunk per call: a download streams, never one message for the whole file.
            cap = self.captures.get(str(args.get("id", "")))
            offset = max(0, int(args.get("offset") or 0))
            size = min(PCAP_CHUNK, max(1, int(args.get("size") or PCAP_CHUNK)))
            data = b""
            if cap.pcap_path.exists():
                with cap.pcap_path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read(size)
            return {"id": cap.id, "offset": offset, "pcap": base64.b64encode(data).decode()}
        if op == "exec":
            namespace = self.namespace_of(lab_id, str(args.get("node", "")))
            key = lab_key_of(lab_id)
            return exec_in_node(key, node_of(key, namespace), namespace, args)
        if op == "capture.get":
            return self.captures.get(str(args.get("id", ""))).describe()
        if op == "journey":
            key = lab_key_of(lab_id)
            nodes = {node_of(key, ns): ns for ns in self.present(refresh=True).get(key, [])}
            if not nodes:
                raise rpc.AgentError("telemetry.not_running", "the lab is not running on this host")
            return run_journey(
                nodes,
                str(args.get("src", "")),
                str(args.get("dst", "")),
                int(args.get("count") or 3),
            )
        if op == "console.open":
            namespace = self.namespace_of(lab_id, str(args.get("node", "")))
            cid = str(args.get("id") or secrets.token_hex(8))
            console = self.consoles.open(
                cid,
                lab_key_of(lab_id),
                ConsoleSpec(
                    lab=lab_key_of(lab_id),
                    node=node_of(lab_key_of(lab_id), namespace),
                    ns=namespace,
                    cols=int(args.get("cols") or 80),
                    rows=int(args.get("rows") or 24),
                ),
                user=str(args.get("user") or ""),
            )
            self._serve_console(cid, console)
            return {"id": cid, "group": rpc.console_group(cid)}
        if op == "console.close":
            self.consoles.close(str(args.get("id", "")))
            return {}
        if op == "lab.gone":
            key = lab_key_of(lab_id)
            return {
                "captures": self.captures.stop_lab(key),
                "consoles": self.consoles.close_lab(key),
            }
        raise rpc.AgentError("agent.bad_request", f"unknown request {op!r}")

    def _serve_console(self, cid: str, console: Console) -> None:
        group = rpc.console_group(cid)
        in_key = rpc.console_input_key(cid)

        def send(message: dict[str, Any]) -> None:
            try:
                self.group_send(group, message)
            except Exception:  # the page may be gone; the shell still needs draining
                logger.warning("console %s: cannot send to %s", cid, group)

        def output() -> None:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            while True:
                try:
                    data = console.read(0.5)
                except ConsoleError:
                    break
                if data:
                    # Incremental: a multi-byte character split across reads stays whole.
                    send({"type": "console.output", "data": decoder.decode(data)})
            send({"type": "console.closed"})
            self.consoles.close(cid)

        def inputs() -> None:
            while console.alive:
                try:
                    item = self.client.blpop([in_key], timeout=1)
                except (redis.RedisError, ValueError, OSError):
                    # Redis away, or the client closed under us at shutdown.
                    time.sleep(0.5)
                    continue
                if item is None:
                    continue
                try:
                    msg = json.loads(item[1])
                    if "data" in msg:
                        console.write(str(msg["data"]).encode())
                    elif "resize" in msg:
                        cols, rows = msg["resize"]
                        console.resize(int(cols), int(rows))
                    elif msg.get("close"):
                        self.consoles.close(cid)
                except (ValueError, TypeError, ConsoleError) as exc:
                    logger.info("console %s input dropped: %s", cid, exc)
            with contextlib.suppress(redis.RedisError, ValueError, OSError):
                self.client.delete(in_key)

        for target in (output, inputs):
            threading.Thread(target=target, daemon=True, name=f"console-{cid}").start()

    def serve(self, stop: threading.Event) -> None:
        """Answer requests until `stop` is set (run in its own thread)."""
        key = rpc.rpc_key(self.host)
        while not stop.is_set():
            try:
                item = self.client.blpop([key], timeout=1)
            except redis.RedisError:
                logger.warning("redis unavailable; retrying")
                stop.wait(1.0)
                continue
            if item is None:
                continue
            try:
                request = json.loads(item[1])
                request_id = str(request["id"])
            except (ValueError, KeyError, TypeError):
                logger.warning("malformed agent request dropped")
                continue
            # Journeys and captures take a while; never block other requests on them.
            threading.Thread(
                target=self._answer, args=(request_id, request), daemon=True, name="agent-req"
            ).start()

    def _answer(self, request_id: str, request: dict[str, Any]) -> None:
        try:
            result = self.handle(str(request.get("op", "")), dict(request.get("args") or {}))
            reply: dict[str, Any] = {"ok": True, "result": result}
        except wire.TopolabError as exc:  # the agent's, a capture's, a journey's, a console's
            reply = {
                "ok": False,
                "error": {"code": exc.code, "message": exc.message, "field": exc.field},
            }
        except Exception as exc:
            logger.exception("agent request %s failed", request.get("op"))
            reply = {
                "ok": False,
                "error": {"code": "agent.error", "message": str(exc), "field": ""},
            }
        try:
            rpc.answer(self.client, request_id, reply)
        except redis.RedisError:
            logger.warning("cannot answer request %s", request_id)

    def housekeeping(self) -> None:
        """End consoles that idled out and captures of labs no longer here."""
        self.consoles.reap()
        ended = list(self.captures.reap())
        self.captures.prune()
        present = self.present()
        for cap in list(self.captures.captures.values()):
            if cap.running and cap.lab not in present:
                cap.stop("lab destroyed")
                ended.append(cap.id)
        for cid in ended:
            # Tell the page a capture ended on its own (limit reached, lab gone).
            lab_id = self._capture_labs.pop(cid, None)
            if lab_id is not None:
                info = self.captures.get(cid).describe()
                with contextlib.suppress(Exception):
                    self.publish(
                        lab_id,
                        "capture.state",
                        {"capture": cid, "running": False, "result": info["result"]},
                    )
        for cid in list(self.consoles.ids()):
            console = self.consoles.get(cid)
            if console is not None and not os.path.exists(f"/run/netns/{console.spec.namespace}"):
                self.consoles.close(cid)

    def close(self) -> None:
        """Stop everything the agent runs."""
        self.captures.stop_all()
        self.consoles.close_all()
        self.sampler.close()


def run_agent(
    host: str | None = None,
    stop: threading.Event | None = None,
    *,
    redis_url: str | None = None,
    capture_dir: Path | None = None,
    discover: DiscoverLabs | None = None,
    publish: Publish | None = None,
    group_send: GroupSend | None = None,
    period: float = 1.0,
) -> None:
    """Run the agent of lab host `host` until `stop` is set.

    Defaults come from the environment (TOPOLAB_HOST_NAME, TOPOLAB_REDIS_URL,
    TOPOLAB_CAPTURE_DIR), the engine's `labs_present()` and `EventSender`.
    """
    host = host or os.environ.get("TOPOLAB_HOST_NAME") or socket.gethostname().split(".")[0]
    redis_url = redis_url or default_redis_url()
    if capture_dir is None:
        var = Path(os.environ.get("TOPOLAB_VAR_DIR") or Path(__file__).resolve().parents[2] / "var")
        capture_dir = Path(os.environ.get("TOPOLAB_CAPTURE_DIR") or var / "captures")
    stop = stop or threading.Event()
    agent = Agent(
        host=host,
        client=redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5),
        capture_dir=capture_dir,
        discover=discover or _default_discover,
        publish=publish or _default_publish,
        group_send=group_send or _default_group_send,
        period=period,
    )
    server = threading.Thread(target=agent.serve, args=(stop,), daemon=True, name="agent-serve")
    server.start()
    logger.info("telemetry agent of host %s running", host)
    try:
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                agent.sample_once()
                agent.housekeeping()
            except redis.RedisError:
                logger.warning("redis unavailable; counters paused")
            except Exception:
                logger.exception("telemetry sampling failed")
            next_at += period
            stop.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - period)
    finally:
        agent.close()
        server.join(timeout=3)
