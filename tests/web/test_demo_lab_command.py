"""`make run` starts the product with a demo lab: ``manage.py topolab_demo_lab``."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

pytestmark = pytest.mark.web


def run(*args: str, **options: object) -> str:
    out = io.StringIO()
    call_command("topolab_demo_lab", *args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_opens_the_demo_once_and_deploys_it_when_the_host_is_up(settings: object) -> None:
    from lab.demos.models import DemoLab
    from lab.models import Deployment, Lab, LabHost

    out = io.StringIO()
    call_command("topolab_demo_user", stdout=out)
    assert "'demo' with password 'topolab-demo'" in out.getvalue()
    from django.contrib.auth import get_user_model

    from lab.classroom.permissions import INSTRUCTOR, has_role

    assert has_role(get_user_model().objects.get(username="demo"), INSTRUCTOR)
    # No lab host yet: the lab is made, and the message says where to deploy it.
    said = run(wait=0)
    assert "is not up" in said
    lab = Lab.objects.get(owner__username="demo")
    assert DemoLab.objects.get(lab=lab).slug == "routing"
    assert lab.state == Lab.State.STOPPED
    assert not Deployment.objects.filter(lab=lab).exists()
    assert f"/labs/{lab.pk}" in said

    # The host comes up: the same lab (not a second one) is deployed on it.
    LabHost.objects.create(
        name=settings.TOPOLAB_HOST_NAME,
        last_heartbeat=timezone.now(),
        link_kinds=["bridge", "veth", "vxlan"],  # as its heartbeat reports them
    )
    said = run(wait=5)
    assert "deploying" in said
    assert Lab.objects.filter(owner__username="demo").count() == 1
    deployment = Deployment.objects.get(lab=lab)
    assert deployment.action == Deployment.Action.DEPLOY
    assert deployment.host == settings.TOPOLAB_HOST_NAME

    # Again: nothing new, the lab is on its way.
    said = run(wait=0)
    assert "is deploying" in said
    assert Deployment.objects.filter(lab=lab).count() == 1


@pytest.mark.django_db
def test_refuses_an_unknown_demo_and_a_missing_user() -> None:
    with pytest.raises(CommandError, match="no demo user"):
        run(wait=0)
    call_command("topolab_demo_user", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no demo called 'nope'"):
        run("--slug", "nope", wait=0)
