"""The Celery application: Redis broker, JSON only, late acks, one queue per lab host.

Every lab host runs one worker consuming ``host.<name>`` (its labs) and
``control`` (jobs any host may run: the host check, the sweep fan-out).
Tasks take ids and are idempotent, so a message delivered twice (late acks,
a worker lost mid-task) converges instead of doing the work twice.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")

CONTROL_QUEUE = "control"
QUEUE_PREFIX = "host."
# A deploy of a few hundred nodes takes well under a minute; the hard limit only
# stops a task that hangs in the kernel. The soft limit leaves time to roll back.
TASK_SOFT_TIME_LIMIT = int(os.environ.get("TOPOLAB_TASK_SOFT_TIME_LIMIT", "600"))
TASK_TIME_LIMIT = TASK_SOFT_TIME_LIMIT + 120
# Seconds between the beat's periodic jobs.
HOST_CHECK_INTERVAL = float(os.environ.get("TOPOLAB_HOST_CHECK_INTERVAL", "10"))
SWEEP_INTERVAL = float(os.environ.get("TOPOLAB_SWEEP_INTERVAL", "300"))


def host_queue(name: str) -> str:
    """Return the queue of lab host ``name`` (``host.<name>``)."""
    return f"{QUEUE_PREFIX}{name}"


app = Celery("topolab", include=["worker.tasks", "worker.tasks_classroom", "worker.tasks_demos"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    task_time_limit=TASK_TIME_LIMIT,
    task_default_queue=CONTROL_QUEUE,
    task_track_started=True,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    # A deploy in progress when Redis goes away keeps running (it holds the lab lock
    # and records its outcome in the database); its late ack may be lost, and the
    # redelivered message then finds the deployment final and does nothing.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # Redis redelivers an unacked message after this long; it must exceed the longest
    # task or a slow deploy would run twice (harmless, being idempotent, but wasteful).
    broker_transport_options={"visibility_timeout": TASK_TIME_LIMIT + 60},
    worker_hijack_root_logger=False,
    beat_schedule_filename=os.path.join(
        os.environ.get("TOPOLAB_VAR_DIR", "var"), "celerybeat-schedule"
    ),
    worker_send_task_events=False,
    task_routes={
        "worker.tasks.check_hosts": {"queue": CONTROL_QUEUE},
        "worker.tasks.sweep_all": {"queue": CONTROL_QUEUE},
    },
    beat_schedule={
        "check-hosts": {"task": "worker.tasks.check_hosts", "schedule": HOST_CHECK_INTERVAL},
        "sweep-orphans": {"task": "worker.tasks.sweep_all", "schedule": SWEEP_INTERVAL},
        "reservations-tick": {"task": "worker.tasks_classroom.reservations_tick", "schedule": 30},
    },
)
