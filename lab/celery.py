"""The control plane's Celery application: it sends orders and consumes queue ``control``.

The web sends orders to lab hosts' queues through it; the control-plane worker
(``manage.py control``, unprivileged, with the database) consumes ``control``:
the lab hosts' reports and the beat's periodic jobs. Its unacked messages live
under keys of their own with a short visibility timeout: a consumer killed in
the middle of a report has it redelivered within seconds (reports are
idempotent), while the lab hosts' long orders keep their own long timeout.
"""

from __future__ import annotations

import os

from celery import Celery

from lab import wire

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")

# Seconds after which a report a dead consumer held is delivered again.
CONTROL_VISIBILITY = float(os.environ.get("TOPOLAB_CONTROL_VISIBILITY", "30"))
HOST_CHECK_INTERVAL = float(os.environ.get("TOPOLAB_HOST_CHECK_INTERVAL", "10"))
SWEEP_INTERVAL = float(os.environ.get("TOPOLAB_SWEEP_INTERVAL", "300"))

app = Celery("topolab-control", include=["lab.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    **wire.CELERY_COMMON,
    broker_transport_options={
        "visibility_timeout": CONTROL_VISIBILITY,
        "unacked_key": "topolab_control_unacked",
        "unacked_index_key": "topolab_control_unacked_index",
        "unacked_mutex_key": "topolab_control_unacked_mutex",
    },
    beat_schedule_filename=os.path.join(
        os.environ.get("TOPOLAB_VAR_DIR", "var"), "celerybeat-schedule"
    ),
    beat_schedule={
        "check-hosts": {"task": wire.CHECK_HOSTS_TASK, "schedule": HOST_CHECK_INTERVAL},
        "sweep-orphans": {"task": wire.SWEEP_ALL_TASK, "schedule": SWEEP_INTERVAL},
        "reservations-tick": {"task": wire.RESERVATIONS_TICK_TASK, "schedule": 30},
    },
)
