"""Django admin covers the classroom for superusers only; roles appear after migrate."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.sql import emit_post_migrate_signal
from django.test import Client

pytestmark = pytest.mark.django_db


def test_roles_are_made_after_migrate() -> None:
    Group.objects.filter(name__in=["admin", "instructor", "student"]).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert set(Group.objects.values_list("name", flat=True)) >= {"admin", "instructor", "student"}


@pytest.mark.parametrize(
    "model", ["course", "exercise", "exerciseattempt", "reservation", "quota", "logintoken"]
)
def test_admin_lists_and_adds(people: dict[str, Any], model: str) -> None:
    root = get_user_model().objects.create_superuser("root", "root@example.org", "x")
    client = Client()
    client.force_login(root)
    assert client.get(f"/admin/lab/{model}/").status_code == 200
    assert client.get(f"/admin/lab/{model}/add/").status_code == 200
    course = people["course"]
    assert client.get(f"/admin/lab/course/{course.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "model", ["course", "exercise", "exerciseattempt", "reservation", "quota", "logintoken"]
)
def test_admin_is_for_superusers_only(people: dict[str, Any], model: str) -> None:
    teacher = people["teacher"]
    staff = get_user_model().objects.create_user("staffer", is_staff=True)
    for user in (teacher, staff):
        client = Client()
        client.force_login(user)
        for url in (f"/admin/lab/{model}/", f"/admin/lab/{model}/add/"):
            response = client.get(url)
            assert response.status_code == 302, (user, url)
            assert response["Location"].startswith("/admin/login/")
    assert not teacher.is_staff
