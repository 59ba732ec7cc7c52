"""Print a one-time sign-in link for a user who forgot their password.

    python manage.py topolab_login_link USERNAME [--base-url http://127.0.0.1:8000]

The link signs in once, within 24 hours; for an hour after, the page lets the user set
a new password without the old one. Only the token's hash is stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lab.accounts import do_issue_recovery_link


class Command(BaseCommand):
    """Issue a one-time sign-in link for an existing, active account."""

    help = "Print a one-time sign-in link for USERNAME (a forgotten password)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the site is served"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the link.

        Raises:
            CommandError: no such account, or it is inactive.
        """
        username = options["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if not user.is_active:
            raise CommandError(f"the user {username!r} is inactive: activate it first")
        link = do_issue_recovery_link(user)
        self.stdout.write(f"{options['base_url'].rstrip('/')}{link}")
