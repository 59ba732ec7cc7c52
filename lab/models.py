"""The control plane's records: labs, their topology revisions, deployments and lab hosts.

Only ``lab/services.py`` writes these (views and consumers call services). The
kernel is the truth about what exists; ``Lab.state`` is the control plane's last
known view of it, and a ``Deployment`` is the record of one request to change it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from lab import wire


class LabHost(models.Model):
    """A machine that builds labs: a Celery worker on queue ``host.<name>`` plus its agent."""

    name = models.CharField(max_length=64, unique=True)
    underlay_address = models.GenericIPAddressField(null=True, blank=True)
    capacity_nodes = models.PositiveIntegerField(default=500)
    link_kinds = models.JSONField(default=list, blank=True)
    load = models.FloatField(default=0.0)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    # The sequence number of the last heartbeat applied (a replayed one is dropped).
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_up(self) -> bool:
        """Whether the host sent a heartbeat within ``TOPOLAB_HOST_HEARTBEAT_TIMEOUT`` seconds."""
        if self.last_heartbeat is None:
            return False
        age = timezone.now() - self.last_heartbeat
        return age <= timedelta(seconds=settings.TOPOLAB_HOST_HEARTBEAT_TIMEOUT)


class Lab(models.Model):
    """A user's lab: a name, its topology revisions, a draft, and where it runs."""

    class State(models.TextChoices):
        STOPPED = "stopped"
        DEPLOYING = "deploying"
        RUNNING = "running"
        DESTROYING = "destroying"
        FAILED = "failed"
        UNKNOWN = "unknown"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labs"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # The last document the user saved that did not validate; cleared by a valid save.
    draft = models.JSONField(null=True, blank=True)
    host = models.ForeignKey(
        LabHost, null=True, blank=True, on_delete=models.SET_NULL, related_name="labs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.STOPPED)
    # Orchestration: where each node runs when the lab is split across hosts
    # ({"nodes": {node: host}, "cut": [...]}, see lab/placement.py); empty when whole.
    placement = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-updated", "-id"]
        indexes = [models.Index(fields=["owner", "-updated"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    @property
    def key(self) -> str:
        """The kernel-side lab key (``l12`` for primary key 12): namespaces and owner tags."""
        if self.pk is None:
            raise ValueError("an unsaved lab has no key")
        return wire.lab_key(self.pk)

    def latest_revision(self) -> TopologyRevision | None:
        """Return the newest topology revision, or None when the lab has none yet."""
        return self.revisions.order_by("-number").first()


class TopologyRevision(models.Model):
    """One validated topology document of a lab; numbers count up from 1 per lab."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["lab", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "number"], name="lab_revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.lab_id} r{self.number}"


class IllegalTransition(ValueError):
    """A deployment was asked to move to a state its state machine does not allow."""

    code = "deployment.illegal_transition"

    def __init__(self, deployment_id: int | None, current: str, target: str, why: str) -> None:
        self.deployment_id = deployment_id
        self.current = current
        self.target = target
        super().__init__(f"deployment {deployment_id}: cannot go from {current} to {target}: {why}")


class Deployment(models.Model):
    """One request to deploy, apply or destroy a lab, and its record as the worker runs it.

    States::

        pending -> planning -> applying -> running          (deploy, apply)
        pending -> planning -> destroying -> destroyed      (destroy)
        pending -> destroying -> destroyed                  (destroy without a plan step)
        any non-final state -> failed

    ``running``, ``destroyed`` and ``failed`` are final: a deployment never leaves them.
    """

    class Action(models.TextChoices):
        DEPLOY = "deploy"
        APPLY = "apply"
        DESTROY = "destroy"

    class State(models.TextChoices):
        PENDING = "pending"
        PLANNING = "planning"
        APPLYING = "applying"
        RUNNING = "running"
        DESTROYING = "destroying"
        DESTROYED = "destroyed"
        FAILED = "failed"

    FINAL_STATES = frozenset({State.RUNNING, State.DESTROYED, State.FAILED})
    TRANSITIONS: dict[str, frozenset[str]] = {
        State.PENDING: frozenset({State.PLANNING, State.DESTROYING, State.FAILED}),
        State.PLANNING: frozenset({State.APPLYING, State.DESTROYING, State.FAILED}),
        State.APPLYING: frozenset({State.RUNNING, State.FAILED}),
        State.DESTROYING: frozenset({State.DESTROYED, State.FAILED}),
        State.RUNNING: frozenset(),
        State.DESTROYED: frozenset(),
        State.FAILED: frozenset(),
    }
    # States only one family of actions may reach.
    ACTION_STATES: dict[str, frozenset[str]] = {
        Action.DEPLOY: frozenset({State.APPLYING, State.RUNNING}),
        Action.APPLY: frozenset({State.APPLYING, State.RUNNING}),
        Action.DESTROY: frozenset({State.DESTROYING, State.DESTROYED}),
    }

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="deployments")
    revision = models.ForeignKey(
        TopologyRevision,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deployments",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    failed_op = models.TextField(blank=True, default="")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_step = models.CharField(max_length=300, blank=True, default="")
    plan = models.JSONField(default=list, blank=True)
    log = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    host = models.CharField(max_length=64, blank=True, default="")
    # One part per lab host: {"primary": host, "hosts": {host: {"state", "seq", "at",
    # "log", "plan"}}}; ``seq`` is the last report applied from that host (lab/control.py).
    parts = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["lab", "state"])]

    def __str__(self) -> str:
        return f"deployment {self.pk} {self.action} of lab {self.lab_id}: {self.state}"

    @property
    def is_final(self) -> bool:
        """Whether the deployment reached a state it never leaves."""
        return self.state in self.FINAL_STATES

    def check_transition(self, to: str) -> None:
        """Refuse a move the state machine does not allow.

        Raises:
            IllegalTransition: naming the current and the target state and why.
        """
        if to not in self.State.values:
            raise IllegalTransition(self.pk, self.state, to, "no such state")
        allowed = self.TRANSITIONS[self.state]
        if to not in allowed:
            choices = ", ".join(sorted(allowed)) or "none, it is final"
            raise IllegalTransition(self.pk, self.state, to, f"allowed: {choices}")
        for action, states in self.ACTION_STATES.items():
            if to in states and self.action not in self._family(action):
                raise IllegalTransition(
                    self.pk, self.state, to, f"a {self.action} deployment never reaches {to}"
                )

    def _family(self, action: str) -> frozenset[str]:
        if action == self.Action.DESTROY:
            return frozenset({self.Action.DESTROY})
        return frozenset({self.Action.DEPLOY, self.Action.APPLY})

    def transition(self, to: str, **fields: Any) -> None:
        """Move to state ``to`` and save, together with any extra ``fields`` given.

        Stamps ``started`` when the deployment leaves ``pending`` and ``finished``
        when it reaches a final state. The update is conditional on the state read
        from the database, so two processes racing on one deployment cannot both win.

        Raises:
            IllegalTransition: the move is not allowed, or another process changed the
                state since this object was loaded.
        """
        self.check_transition(to)
        now = timezone.now()
        changes: dict[str, Any] = {"state": to, **fields}
        if self.state == self.State.PENDING and self.started is None:
            changes["started"] = now
        if to in self.FINAL_STATES:
            changes["finished"] = now
        if self.pk is not None:
            updated = type(self).objects.filter(pk=self.pk, state=self.state).update(**changes)
            if updated != 1:
                current = (
                    type(self).objects.filter(pk=self.pk).values_list("state", flat=True).first()
                )
                raise IllegalTransition(
                    self.pk,
                    self.state,
                    to,
                    f"the stored state changed underneath (now {current or 'deleted'})",
                )
        for name, value in changes.items():
            setattr(self, name, value)
        if self.pk is None:
            self.save()


class VniAllocation(models.Model):
    """A VXLAN stitch VNI in use on a lab host (orchestration, lab/placement.py).

    A cut link takes one VNI and holds it on both of its hosts: the kernel refuses two
    vxlan devices with one VNI and port in an underlay namespace, so (host, vni) is
    unique and the constraint settles races between concurrent deployments.
    """

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="vnis")
    link_index = models.PositiveIntegerField()
    host = models.CharField(max_length=64)
    peer = models.CharField(max_length=64)
    vni = models.PositiveIntegerField()

    class Meta:
        ordering = ["host", "vni"]
        constraints = [
            models.UniqueConstraint(fields=["host", "vni"], name="vni_unique_per_host"),
            models.UniqueConstraint(
                fields=["lab", "link_index", "host"], name="vni_one_per_link_end"
            ),
        ]

    def __str__(self) -> str:
        return f"vni {self.vni} on {self.host} (lab {self.lab_id} link {self.link_index})"


from lab.classroom.models import *  # noqa: E402,F403
from lab.demos.models import *  # noqa: E402,F403
