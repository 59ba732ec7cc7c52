"""Websockets: a lab's live events, and node consoles.

`LabConsumer` at `/ws/labs/<id>/`: signed-in owner only (anyone else gets
`{"type": "error", "code": "lab.not_found"}` and a close, as the API's 404). It joins
the lab's group first, then sends `{"type": "snapshot", "seq": N, ...}` with the
sequence number read after joining, then every event above N. `{"type": "resync"}`
gets a fresh snapshot. While connected it keeps `topolab:watch:<id>` alive, so the
lab host's agent samples counters for this lab only while someone looks.

`ConsoleConsumer` at `/ws/labs/<id>/nodes/<node>/console`: text frames carry raw
terminal input and output; a text frame that is the JSON object
`{"type": "resize", "cols": C, "rows": R}` resizes the terminal instead. The shell
runs on the lab host (root agent, see worker/telemetry/agent.py); this consumer only
authorizes and relays through Redis and the channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from typing import Any

import redis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.urls import re_path

from lab import events, services
from worker.telemetry import rpc

WATCH_REFRESH_SECONDS = 5.0
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 4503
_NODE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def _lab_snapshot(user: Any, lab_id: int) -> dict[str, Any]:
    """Authorize and read the lab's current state (sync; run in a thread).

    Raises:
        services.ServiceError: not signed in, or not the user's lab.
    """
    lab = services.check_lab_access(user, lab_id)
    deployment = services.latest_deployment(lab)
    return {
        "name": lab.name,
        "state": lab.state,
        "host": lab.host.name if lab.host else None,
        "deployment": services.deployment_summary(deployment) if deployment else None,
    }


def _lab_host(user: Any, lab_id: int) -> str:
    lab = services.check_lab_access(user, lab_id, action="console")
    return services.pick_host(lab, "deploy")


class LabConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Snapshot + sequence + deltas for one lab."""

    lab_id: int = 0
    group: str = ""
    snapshot_seq: int = 0
    _watcher: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Accept, authorize, join the group, send the snapshot, start watching."""
        await self.accept()
        self.lab_id = int(self.scope["url_route"]["kwargs"]["lab_id"])
        try:
            await database_sync_to_async(services.check_lab_access)(self.scope["user"], self.lab_id)
        except services.ServiceError as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": exc.message})
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = events.lab_group(self.lab_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_snapshot()
        self._watcher = asyncio.ensure_future(self._keep_watching())

    async def send_snapshot(self) -> None:
        """Send the current state with the sequence number read after joining."""
        self.snapshot_seq = await sync_to_async(events.current_seq)(self.lab_id)
        state = await database_sync_to_async(_lab_snapshot)(self.scope["user"], self.lab_id)
        await self.send_json(
            {"type": "snapshot", "seq": self.snapshot_seq, "lab": self.lab_id, **state}
        )

    async def _keep_watching(self) -> None:
        client = _redis()
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    await sync_to_async(rpc.mark_watched)(client, self.lab_id)
                await asyncio.sleep(WATCH_REFRESH_SECONDS)
        finally:
            client.close()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Handle `{"type": "resync"}`; anything else is a structured error."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resync":
            await self.send_snapshot()
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {
                    "type": "error",
                    "code": "message.unknown_type",
                    "message": f"unknown message type {kind!r}",
                }
            )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Decode JSON; a frame that is not JSON gets a structured error, not a crash."""
        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self.send_json(
                {"type": "error", "code": "message.not_json", "message": "send JSON objects"}
            )
            return
        await self.receive_json(content)

    async def lab_event(self, message: dict[str, Any]) -> None:
        """Forward an event from the lab's group unless the snapshot already holds it."""
        event = message.get("event") or {}
        if int(event.get("seq", 0)) > self.snapshot_seq:
            await self.send_json(event)

    async def disconnect(self, code: int) -> None:
        """Leave the group and stop refreshing the watch key."""
        if self._watcher is not None:
            self._watcher.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)


class ConsoleConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A terminal on one node, relayed to the lab host's agent."""

    console_id: str = ""
    group: str = ""
    _client: redis.Redis | None = None

    async def _error(self, code: str, message: str, close_code: int) -> None:
        await self.send(text_data=json.dumps({"type": "error", "code": code, "message": message}))
        await self.close(code=close_code)

    async def connect(self) -> None:
        """Accept, authorize, join the console's group, ask the agent for a shell."""
        await self.accept()
        kwargs = self.scope["url_route"]["kwargs"]
        lab_id, node = int(kwargs["lab_id"]), str(kwargs["node"])
        try:
            host = await database_sync_to_async(_lab_host)(self.scope["user"], lab_id)
        except services.ServiceError as exc:
            await self._error(exc.code, exc.message, CLOSE_NOT_FOUND)
            return
        if not _NODE_RE.match(node):
            await self._error("console.no_node", f"{node!r} is not a node name", CLOSE_NOT_FOUND)
            return
        self.console_id = secrets.token_hex(8)
        self.group = rpc.console_group(self.console_id)
        # Join before the shell starts so its first prompt is not lost.
        await self.channel_layer.group_add(self.group, self.channel_name)
        self._client = _redis()
        try:
            await sync_to_async(rpc.call)(
                self._client,
                host,
                "console.open",
                {"lab": lab_id, "node": node, "id": self.console_id, "user": self._user_key()},
                15.0,
            )
        except rpc.AgentError as exc:
            close = CLOSE_NOT_FOUND if exc.code.endswith("no_node") else CLOSE_UNAVAILABLE
            self.console_id = ""
            await self._error(exc.code, exc.message, close)

    def _user_key(self) -> str:
        """Who opens the console, for the agent's per-user console cap."""
        return str(getattr(self.scope.get("user"), "pk", "") or "")

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Keystrokes, or a resize object, to the agent."""
        if not self.console_id or self._client is None:
            return
        text = (
            text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        )
        message: dict[str, Any] = {"data": text}
        if text.startswith("{"):
            with contextlib.suppress(ValueError):
                obj = json.loads(text)
                if isinstance(obj, dict) and obj.get("type") == "resize":
                    message = {"resize": [int(obj.get("cols", 0)), int(obj.get("rows", 0))]}
        await sync_to_async(self._client.rpush)(
            rpc.console_input_key(self.console_id), json.dumps(message)
        )

    async def console_output(self, message: dict[str, Any]) -> None:
        """Shell output from the agent: a text frame."""
        await self.send(text_data=message["data"])

    async def console_closed(self, message: dict[str, Any]) -> None:
        """The shell ended (exit, idle timeout, lab destroyed)."""
        await self.send(text_data=json.dumps({"type": "closed"}))
        await self.close()

    async def disconnect(self, code: int) -> None:
        """Tell the agent to end the shell; leave the group."""
        if self.console_id and self._client is not None:
            with contextlib.suppress(redis.RedisError):
                await sync_to_async(self._client.rpush)(
                    rpc.console_input_key(self.console_id), json.dumps({"close": True})
                )
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self._client is not None:
            self._client.close()


websocket_urlpatterns = [
    re_path(r"^ws/labs/(?P<lab_id>[0-9]{1,12})/$", LabConsumer.as_asgi()),
    re_path(
        r"^ws/labs/(?P<lab_id>[0-9]{1,12})/nodes/(?P<node>[^/]{1,64})/console/?$",
        ConsoleConsumer.as_asgi(),
    ),
]
