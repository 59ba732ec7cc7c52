"""Create (or reset) the demo user that `make run` prints."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "topolab-demo"  # noqa: S105 - printed on purpose: a local demo account


class Command(BaseCommand):
    """Ensure the demo account exists (an instructor, not staff) and print its credentials."""

    help = "Create the demo user and print its credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME)
        user.set_password(DEMO_PASSWORD)
        # Not staff: the admin is for superusers; the demo user teaches through the API.
        user.is_staff = False
        user.is_superuser = False
        user.save()
        # The tour's classroom part: the demo user teaches (makes courses and exercises).
        from lab.classroom.permissions import INSTRUCTOR, ensure_roles

        user.groups.add(ensure_roles()[INSTRUCTOR])
        self.stdout.write(
            f"topolab: demo user '{DEMO_USERNAME}' with password '{DEMO_PASSWORD}' (instructor)"
        )
