"""The lab host's Celery application: Redis broker, JSON only, late acks.

Every lab host runs one worker consuming its own queue ``host.<name>``: the
control plane's orders. It needs only the broker (``TOPOLAB_BROKER_URL``, by
default ``TOPOLAB_REDIS_URL``): no database, no Django. Tasks are idempotent, so
an order delivered twice (late acks, a worker lost mid-task) converges.
"""

from __future__ import annotations

import os

from celery import Celery

from lab import wire
from worker.locks import redis_url

CONTROL_QUEUE = wire.CONTROL_QUEUE
QUEUE_PREFIX = wire.HOST_QUEUE_PREFIX
REDIS_URL = redis_url()
BROKER_URL = os.environ.get("TOPOLAB_BROKER_URL", REDIS_URL)
RESULT_BACKEND = os.environ.get("TOPOLAB_RESULT_BACKEND", REDIS_URL)
# A deploy of a few hundred nodes takes well under a minute; the hard limit only
# stops a task that hangs in the kernel. The soft limit leaves time to roll back.
TASK_SOFT_TIME_LIMIT = int(os.environ.get("TOPOLAB_TASK_SOFT_TIME_LIMIT", "600"))
TASK_TIME_LIMIT = TASK_SOFT_TIME_LIMIT + 120


host_queue = wire.host_queue

app = Celery(
    "topolab",
    broker=BROKER_URL,
    backend=RESULT_BACKEND,
    include=["worker.tasks", "worker.tasks_classroom", "worker.tasks_demos", "worker.tasks_nodes"],
)
app.conf.update(
    **wire.CELERY_COMMON,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    task_time_limit=TASK_TIME_LIMIT,
    task_track_started=True,
    # An order in progress when Redis goes away keeps running; its late ack may be
    # lost, and the redelivered message then converges to the same kernel state.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # Redis redelivers an unacked message after this long; it must exceed the longest
    # task or a slow deploy would run twice (harmless, being idempotent, but wasteful).
    broker_transport_options={"visibility_timeout": TASK_TIME_LIMIT + 60},
)
