"""Websocket events from a lab host: stamped and sent to a lab's channel group.

The agent publishes counters, capture lines, journey hops and console closes
straight to the channel layer (Redis) the web's consumers listen on, with the
event types and group names of ``lab/wire.py`` and the lab's sequence number
(``INCR topolab:seq:<lab>``, shared with the control plane's events). It needs
only the Redis URL: the layer is built from it, not from Django settings.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from asgiref.sync import async_to_sync

from lab import wire

# As the web's CHANNEL_LAYERS config: the same Redis, capacity and expiry.
LAYER_CAPACITY = 1500
LAYER_EXPIRY = 30


class EventSender:
    """Sends events of labs to their groups over the channel layer on ``redis_url``."""

    def __init__(self, redis_url: str, client: redis.Redis[bytes] | None = None) -> None:
        self.redis_url = redis_url
        self.client = client or redis.Redis.from_url(
            redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        self._layer: Any = None
        self._lock = threading.Lock()

    def layer(self) -> Any:
        """The channel layer (made on first use)."""
        with self._lock:
            if self._layer is None:
                from channels_redis.core import RedisChannelLayer

                self._layer = RedisChannelLayer(
                    hosts=[self.redis_url], capacity=LAYER_CAPACITY, expiry=LAYER_EXPIRY
                )
            return self._layer

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send a raw channel-layer message to ``group``."""
        async_to_sync(self.layer().group_send)(group, message)

    def send(self, lab_id: int, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Stamp an event with the lab's next sequence number, send it; return it.

        Raises:
            ValueError: unknown event type, or a payload that tries to set type/seq/lab.
            redis.RedisError: Redis is unreachable.
        """
        if event_type not in wire.EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        clash = {"type", "seq", "lab"} & payload.keys()
        if clash:
            raise ValueError(f"payload may not set {sorted(clash)}")
        seq = int(self.client.incr(wire.seq_key(lab_id)))
        event = {"type": event_type, "seq": seq, "lab": lab_id, **payload}
        self.group_send(wire.lab_group(lab_id), {"type": wire.CHANNEL_MESSAGE_TYPE, "event": event})
        return event
