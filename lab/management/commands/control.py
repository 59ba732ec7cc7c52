"""``manage.py control``: run the control-plane worker (queue ``control``).

It applies the lab hosts' reports and runs the beat's periodic jobs, with the
database and Redis; it needs no privilege and runs as the web's user.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from lab import wire


class Command(BaseCommand):
    help = "Run the control-plane worker: apply lab hosts' reports, periodic jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        # One process: reports apply in the order they came, and so do their events.
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--name", default="control@%h")
        parser.add_argument(
            "--beat", action="store_true", help="run the periodic jobs in this process too"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from lab.celery import app

        app.worker_main(
            [
                "worker",
                "-Q",
                wire.CONTROL_QUEUE,
                "-n",
                str(options["name"]),
                "--concurrency",
                str(options["concurrency"]),
                "--loglevel",
                str(options["loglevel"]),
                "--without-gossip",
                "--without-mingle",
                *(["--beat"] if options["beat"] else []),
            ]
        )
