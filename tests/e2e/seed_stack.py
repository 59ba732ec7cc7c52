"""Seed the e2e stack's database: ``python -m tests.e2e.seed_stack USER PASSWORD LAB_BASE``.

Creates (or resets) the user (an instructor) and makes new lab ids start above ``LAB_BASE``, so the
lab keys (``l<id>``) and namespace names of this session clash with nobody else's.
"""

from __future__ import annotations

import sys

import django


def main(username: str, password: str, base: int) -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from lab.models import Lab

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save()
    # The e2e user teaches too: the classroom test makes a course and an exercise.
    from lab.classroom.permissions import INSTRUCTOR, ensure_roles

    user.groups.add(ensure_roles()[INSTRUCTOR])
    table = Lab._meta.db_table
    with connection.cursor() as cur:
        # SQLite AUTOINCREMENT continues from sqlite_sequence.seq.
        cur.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
        cur.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, base])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
