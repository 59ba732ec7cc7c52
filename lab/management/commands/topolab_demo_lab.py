"""Give the demo user a ready lab and deploy it (what `make run` starts the product with).

    python manage.py topolab_demo_lab [--slug routing] [--wait 90]

Idempotent: the demo user keeps one lab per demo; a lab already running (or on its way)
is left alone. The deploy goes through the orchestration like a click on Deploy, so it
waits (up to ``--wait`` seconds) for this box's lab host to send its first heartbeat.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lab.management.commands.topolab_demo_user import DEMO_USERNAME


class Command(BaseCommand):
    """Open a demo from the library for the demo user and deploy it."""

    help = "Create the demo user's demo lab (once) and deploy it on this box's lab host."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", default="routing", help="demo of the library to open")
        parser.add_argument(
            "--wait", type=float, default=90.0, help="seconds to wait for the lab host"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.contrib.auth import get_user_model

        from lab import services
        from lab.demos import services as demos
        from lab.demos.models import DemoLab
        from lab.models import Lab, LabHost

        user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            raise CommandError("no demo user: run `manage.py topolab_demo_user` first")
        slug = options["slug"]
        if demos.get_demo(slug) is None:
            raise CommandError(f"no demo called {slug!r} in the library")
        record = DemoLab.objects.filter(lab__owner=user, slug=slug).select_related("lab").first()
        lab = record.lab if record is not None else demos.do_open_demo(user, slug)
        url = f"http://127.0.0.1:8000/labs/{lab.pk}"
        if lab.state in (Lab.State.RUNNING, Lab.State.DEPLOYING):
            self.stdout.write(f"topolab: demo lab '{lab.name}' is {lab.state}: {url}")
            return
        host = settings.TOPOLAB_HOST_NAME
        deadline = time.monotonic() + float(options["wait"])
        while True:
            record_host = LabHost.objects.filter(name=host).first()
            if record_host is not None and record_host.is_up:
                break
            if time.monotonic() >= deadline:
                self.stdout.write(
                    f"topolab: lab host '{host}' is not up; deploy the demo lab from {url}"
                )
                return
            time.sleep(0.5)
        try:
            services.do_request_deploy(lab, user)
        except services.Conflict as exc:
            self.stdout.write(f"topolab: demo lab not deployed: {exc.message}")
            return
        self.stdout.write(f"topolab: demo lab '{lab.name}' deploying: {url}")
