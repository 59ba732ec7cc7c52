"""Requests from the web side to a lab host's telemetry agent, over plain Redis lists.

The web process is unprivileged and the agent is root on the lab host, so captures,
journeys and consoles are asked for, not done, by the web side: `call()` pushes
`{"id", "op", "args"}` onto `topolab:agent:<host>:rpc` and waits on a reply list
`topolab:rpc:reply:<id>` (expiring) for `{"ok": true, "result"}` or
`{"ok": false, "error": {code, message, field}}`. Console input goes through
`topolab:console:<id>:in`. This module imports only redis: `lab` may use it.
Watching (which labs get counters) is a TTL key per lab, refreshed by consumers.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis

from lab.wire import TopolabError

WATCH_PREFIX = "topolab:watch:"
WATCH_TTL_SECONDS = 15
REPLY_TTL_SECONDS = 60


class AgentError(TopolabError):
    """The agent refused or failed a request, or did not answer. `code` is stable."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message, code)
        self.field = field


def rpc_key(host: str) -> str:
    """The request list of a lab host's agent."""
    return f"topolab:agent:{host}:rpc"


def reply_key(request_id: str) -> str:
    """The reply list of one request."""
    return f"topolab:rpc:reply:{request_id}"


def console_input_key(console_id: str) -> str:
    """The list a console's keystrokes and resizes go through."""
    return f"topolab:console:{console_id}:in"


def console_group(console_id: str) -> str:
    """The channel group a console's output goes to (ASCII, short)."""
    return f"console.{console_id}"


def watch_key(lab_id: int) -> str:
    """The key saying someone is watching lab `lab_id` (counters are sampled)."""
    return f"{WATCH_PREFIX}{lab_id}"


def mark_watched(client: redis.Redis[bytes], lab_id: int, ttl: int = WATCH_TTL_SECONDS) -> None:
    """Say lab `lab_id` is being watched for the next `ttl` seconds."""
    client.set(watch_key(lab_id), "1", ex=ttl)


def watched_labs(client: redis.Redis[bytes]) -> set[int]:
    """Ids of labs someone watches now."""
    out: set[int] = set()
    for key in client.scan_iter(match=f"{WATCH_PREFIX}*", count=500):
        text = key.decode() if isinstance(key, bytes) else str(key)
        tail = text[len(WATCH_PREFIX) :]
        if tail.isdigit():
            out.add(int(tail))
    return out


def call(
    client: redis.Redis[bytes], host: str, op: str, args: dict[str, Any], timeout: float = 30.0
) -> dict[str, Any]:
    """Ask the agent of `host` to do `op`; return its result.

    Raises:
        AgentError: the agent's own error (its code), or `agent.unavailable` when no
            answer came within `timeout` seconds.
    """
    request_id = secrets.token_hex(12)
    client.rpush(rpc_key(host), json.dumps({"id": request_id, "op": op, "args": args}))
    try:
        answer = client.blpop([reply_key(request_id)], timeout=max(1, round(timeout)))
    except redis.TimeoutError:  # the client's socket timeout ran out before `timeout`
        answer = None
    if answer is None:
        raise AgentError(
            "agent.unavailable", f"the telemetry agent of host {host!r} did not answer"
        )
    reply = json.loads(answer[1])
    if not reply.get("ok"):
        err = reply.get("error") or {}
        raise AgentError(
            str(err.get("code", "agent.error")),
            str(err.get("message", "the agent failed")),
            str(err.get("field", "")),
        )
    result: dict[str, Any] = reply.get("result") or {}
    return result


def answer(client: redis.Redis[bytes], request_id: str, reply: dict[str, Any]) -> None:
    """Post a reply for `request_id` (kept a minute in case the caller is slow)."""
    key = reply_key(request_id)
    client.rpush(key, json.dumps(reply))
    client.expire(key, REPLY_TTL_SECONDS)
