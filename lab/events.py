"""The one place that knows channel group names and event types.

Every event a lab's websocket sees goes through ``publish``: it is sent to the
lab's channel group after the surrounding transaction commits, stamped with a
per-lab sequence number kept in Redis (``INCR topolab:seq:<lab>``), so a consumer
in any process can send ``snapshot`` at sequence N and then only deltas above N.
A client that sees a gap asks for a new snapshot.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from lab import wire

logger = logging.getLogger(__name__)

# Event types, group names and the sequence key are the wire's (the agent on a lab
# host publishes with the same ones).
DEPLOY_PROGRESS: Final = wire.DEPLOY_PROGRESS
DEPLOY_STATE: Final = wire.DEPLOY_STATE
LAB_STATE: Final = wire.LAB_STATE
COUNTERS: Final = wire.COUNTERS
CAPTURE_LINES: Final = wire.CAPTURE_LINES
CAPTURE_STATE: Final = wire.CAPTURE_STATE
JOURNEY_HOP: Final = wire.JOURNEY_HOP
JOURNEY_DONE: Final = wire.JOURNEY_DONE
CONSOLE_CLOSED: Final = wire.CONSOLE_CLOSED
RESERVATION_WARNING: Final = wire.RESERVATION_WARNING
EVENT_TYPES: Final = wire.EVENT_TYPES
CHANNEL_MESSAGE_TYPE: Final = wire.CHANNEL_MESSAGE_TYPE
SEQ_KEY_PREFIX: Final = wire.SEQ_KEY_PREFIX
lab_group = wire.lab_group
seq_key = wire.seq_key

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _clients[url] = client
    return client


def current_seq(lab_id: int) -> int:
    """Return the lab's last sequence number (0 before its first event).

    A consumer reads this *after* joining the group and sends it with its snapshot;
    events carrying a number at or below it are already in the snapshot.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    value = _redis().get(seq_key(lab_id))
    return int(value) if value is not None else 0  # type: ignore[arg-type]


def next_seq(lab_id: int) -> int:
    """Take the lab's next sequence number (atomic across processes).

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    return int(_redis().incr(seq_key(lab_id)))  # type: ignore[arg-type]


def make_event(lab_id: int, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Build the websocket event: ``{"type", "seq", "lab", **payload}`` with a fresh seq.

    Raises:
        ValueError: unknown event type, or a payload that tries to set type/seq/lab.
        redis.RedisError: Redis is unreachable.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; known: {sorted(EVENT_TYPES)}")
    clash = {"type", "seq", "lab"} & payload.keys()
    if clash:
        raise ValueError(f"payload may not set {sorted(clash)}: publish() sets them")
    return {"type": event_type, "seq": next_seq(lab_id), "lab": lab_id, **payload}


def send_now(lab_id: int, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send an event to the lab's group right away (no transaction involved); return it.

    Raises:
        ValueError: unknown event type or a bad payload.
        redis.RedisError: Redis is unreachable.
    """
    event = make_event(lab_id, event_type, payload)
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured (settings.CHANNEL_LAYERS)")
    async_to_sync(layer.group_send)(
        lab_group(lab_id), {"type": CHANNEL_MESSAGE_TYPE, "event": event}
    )
    return event


def publish(lab_id: int, event_type: str, payload: dict[str, Any]) -> None:
    """Send an event to the lab's websocket group once the current transaction commits.

    Outside a transaction it is sent at once. A failure to send is logged, never
    raised: the change the event describes is already committed, and a client that
    misses it resynchronizes from a snapshot.

    Raises:
        ValueError: unknown event type (checked now, not at commit, so the caller sees it).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; known: {sorted(EVENT_TYPES)}")
    lab_group(lab_id)  # refuse a bad id now rather than after commit

    def _send() -> None:
        try:
            send_now(lab_id, event_type, payload)
        except Exception:
            logger.exception("could not publish %s for lab %s", event_type, lab_id)

    transaction.on_commit(_send)
