"""Business rules of the control plane, in the Zulip style.

``check_*`` functions authorize and validate and raise a ``ServiceError``;
``do_*`` functions write, enqueue work and publish events once the transaction
commits. Views and consumers parse, call these, and render; nothing else writes
the models.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable
from typing import Any, TypeAlias

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from lab import dispatch, events
from lab.models import Deployment, IllegalTransition, Lab, TopologyRevision
from lab.topology import Issue, Limits, Topology, TopologyError, load_topology
from lab.wire import TopolabError

logger = logging.getLogger(__name__)

# Whoever made the request; anonymous users are refused by ``_user_id``.
User: TypeAlias = AbstractBaseUser | AnonymousUser

LAB_NAME_MAX = 100
LAB_DESCRIPTION_MAX = 10_000

# Control characters have no place in a name; a description may hold line breaks and tabs.
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# -- errors -----------------------------------------------------------------------------


class ServiceError(TopolabError):
    """A refusal the API turns into ``{"code", "message", "issues"}`` with ``status``."""

    status = 400
    code = "request.invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        issues: Iterable[Issue] = (),
    ) -> None:
        super().__init__(message, code)
        if status is not None:
            self.status = status
        self.issues = list(issues)

    def as_dict(self) -> dict[str, Any]:
        """Return the API's error body."""
        return {
            "code": self.code,
            "message": self.message,
            "issues": [issue.as_dict() for issue in self.issues],
        }


class InvalidInput(ServiceError):
    """Bad input (400); ``issues`` name the fields."""


class TopologyInvalid(InvalidInput):
    """A topology document that does not validate (400) with every issue.

    ``warnings``: what a failing import found it could not carry, besides the errors;
    the body then has a ``warnings`` list too, so a failing import still says all it knows.
    """

    code = "topology.invalid"

    def __init__(self, message: str, *, warnings: Iterable[Issue] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.warnings = list(warnings)

    def as_dict(self) -> dict[str, Any]:
        """The API's error body, with the import's warnings when there are any."""
        body = super().as_dict()
        if self.warnings:
            body["warnings"] = [w.as_dict() for w in self.warnings]
        return body


class NotAuthenticated(ServiceError):
    """Not signed in (401)."""

    status = 401
    code = "auth.required"


class NotFound(ServiceError):
    """No such object, or not the caller's: the two are never told apart (404)."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The object's state forbids the request (409)."""

    status = 409
    code = "state.conflict"


# -- access -----------------------------------------------------------------------------


def _user_id(user: User) -> int:
    if not user.is_authenticated:
        raise NotAuthenticated("sign in first")
    return int(user.pk)


def check_lab_access(
    user: User, lab_id: int, *, action: str = "read", for_update: bool = False
) -> Lab:
    """Return lab ``lab_id`` when ``user`` may do ``action`` to it.

    The owner may do anything; an instructor may act on the labs of the courses
    they teach (``lab.classroom.permissions.can_access_lab`` is the one rule).

    With ``for_update`` the row is locked (``SELECT ... FOR UPDATE``): call it inside
    ``transaction.atomic()``; it serializes every state change of one lab.

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such lab, or the user may not touch it (indistinguishable).
    """
    from lab.classroom.permissions import can_access_lab

    _user_id(user)
    query = Lab.objects.filter(pk=lab_id)
    # PostgreSQL refuses FOR UPDATE across the nullable host join: lock without it.
    query = query.select_for_update() if for_update else query.select_related("host")
    lab = query.first()
    if lab is None or not can_access_lab(user, lab, action):
        raise NotFound(f"no lab {lab_id}", code="lab.not_found")
    return lab


def check_deployment_access(user: User, deployment_id: int) -> Deployment:
    """Return deployment ``deployment_id`` of one of the user's labs.

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such deployment, or its lab is somebody else's.
    """
    from lab.classroom.permissions import can_access_lab

    _user_id(user)
    deployment = (
        Deployment.objects.filter(pk=deployment_id).select_related("lab", "revision").first()
    )
    if deployment is None or not can_access_lab(user, deployment.lab, "read"):
        raise NotFound(f"no deployment {deployment_id}", code="deployment.not_found")
    return deployment


# -- labs -------------------------------------------------------------------------------


def check_lab_name(name: Any, path: str = "name") -> str:
    """Return the lab name stripped of surrounding white space.

    Raises:
        InvalidInput: not a string, empty, too long or holding control characters.
    """
    if not isinstance(name, str):
        raise InvalidInput(
            "the lab name must be text",
            issues=[Issue(path, "name.type", "the lab name must be a string")],
        )
    name = name.strip()
    problems: list[Issue] = []
    if not name:
        problems.append(Issue(path, "name.empty", "the lab name is empty"))
    if len(name) > LAB_NAME_MAX:
        problems.append(
            Issue(path, "name.too_long", f"the lab name is longer than {LAB_NAME_MAX} characters")
        )
    if _NAME_BAD.search(name):
        problems.append(Issue(path, "name.invalid_chars", "the lab name has control characters"))
    if problems:
        raise InvalidInput(problems[0].message, issues=problems)
    return name


def check_lab_description(description: Any, path: str = "description") -> str:
    """Return a valid lab description.

    Raises:
        InvalidInput: not a string, too long, or holding control characters.
    """
    if not isinstance(description, str):
        raise InvalidInput(
            "the description must be text",
            issues=[Issue(path, "description.type", "the description must be a string")],
        )
    if len(description) > LAB_DESCRIPTION_MAX:
        raise InvalidInput(
            "the description is too long",
            issues=[
                Issue(
                    path,
                    "description.too_long",
                    f"the description is longer than {LAB_DESCRIPTION_MAX} characters",
                )
            ],
        )
    if _TEXT_BAD.search(description):
        raise InvalidInput(
            "the description has control characters",
            issues=[
                Issue(path, "description.invalid_chars", "the description has control characters")
            ],
        )
    return description


def check_topology(document: Any, path_prefix: str = "") -> Topology:
    """Validate a topology document against the schema and the configured limits.

    ``path_prefix`` is put in front of every issue path (``topology.`` when the
    document is a field of a bigger request).

    Raises:
        TopologyInvalid: with every issue found.
    """
    try:
        return load_topology(document, Limits(max_nodes=settings.TOPOLAB_MAX_NODES))
    except TopologyError as exc:
        issues = exc.issues or [Issue("$", "topology.invalid", str(exc))]
        if path_prefix:
            issues = [_prefixed(issue, path_prefix) for issue in issues]
        raise TopologyInvalid(str(exc), issues=issues) from None


def _prefixed(issue: Issue, prefix: str) -> Issue:
    base = prefix.rstrip(".")
    if issue.path in ("", "$"):
        path = base
    elif issue.path.startswith("["):
        path = f"{base}{issue.path}"
    else:
        path = f"{base}.{issue.path}"
    return Issue(path, issue.code, issue.message, issue.hint)


def canonical_document(topology: Topology) -> dict[str, Any]:
    """Return the JSON form a revision stores: every field, normalized by the schema."""
    return topology.model_dump(mode="json")


def draft_issues(lab: Lab) -> list[Issue]:
    """Return the issues of the lab's draft (empty when it has none): what does not
    validate, or the owner's quota the draft goes past (``quota.nodes_per_lab``)."""
    from lab import quotas

    if lab.draft is None:
        return []
    try:
        topology = check_topology(lab.draft)
        quotas.check_quota(lab.owner_id, quotas.Want(nodes=len(topology.nodes)))
    except (TopologyInvalid, quotas.QuotaExceeded) as exc:
        return exc.issues
    return []


def _next_revision_number(lab: Lab) -> int:
    top = lab.revisions.aggregate(top=Max("number"))["top"]
    return int(top or 0) + 1


def do_create_lab(user: User, name: str, description: str = "", topology: Any = None) -> Lab:
    """Create a lab for ``user``, with revision 1 when a topology is given.

    Nothing is created when anything is invalid or a quota refuses it.

    Raises:
        NotAuthenticated: the user is anonymous.
        InvalidInput: a bad name or description, naming the field.
        TopologyInvalid: the topology does not validate (paths start with ``topology``).
        QuotaExceeded: ``quota.labs_owned`` or ``quota.nodes_per_lab`` (``lab.quotas``).
    """
    from lab import quotas

    owner_id = _user_id(user)
    name = check_lab_name(name)
    description = check_lab_description(description)
    checked = check_topology(topology, "topology") if topology is not None else None
    nodes = len(checked.nodes) if checked is not None else None
    with transaction.atomic():
        quotas.check_quota(
            owner_id, quotas.Want(new_lab=True, nodes=nodes, nodes_path="topology.nodes")
        )
        lab = Lab.objects.create(owner_id=owner_id, name=name, description=description)
        if checked is not None:
            TopologyRevision.objects.create(
                lab=lab, number=1, document=canonical_document(checked), author_id=owner_id
            )
    return lab


def do_update_lab(lab: Lab, *, name: Any = None, description: Any = None) -> Lab:
    """Change a lab's name and/or description (None leaves a field as it is).

    Raises:
        InvalidInput: a bad name or description, naming the field.
    """
    fields = ["updated"]
    if name is not None:
        lab.name = check_lab_name(name)
        fields.append("name")
    if description is not None:
        lab.description = check_lab_description(description)
        fields.append("description")
    lab.save(update_fields=fields)
    return lab


_BUSY_LAB_STATES = frozenset({Lab.State.RUNNING, Lab.State.DEPLOYING, Lab.State.DESTROYING})


def check_lab_deletable(lab: Lab) -> None:
    """Refuse to delete a lab that may still have kernel objects or work in flight.

    Raises:
        Conflict: the lab is deployed, or a deployment of it has not finished.
    """
    if _active_deployment(lab) is not None:
        raise Conflict("a deployment of this lab is still in progress", code="deployment.busy")
    if lab.state in _BUSY_LAB_STATES:
        raise Conflict(
            f"the lab is {lab.state}: destroy it before deleting it", code="lab.not_stopped"
        )


def do_delete_lab(lab: Lab) -> None:
    """Delete a stopped lab with its revisions and deployments.

    Raises:
        Conflict: the lab is deployed or busy (see ``check_lab_deletable``).
    """
    with transaction.atomic():
        locked = Lab.objects.select_for_update().get(pk=lab.pk)
        check_lab_deletable(locked)
        locked.delete()


def do_duplicate_lab(lab: Lab, user: User) -> Lab:
    """Copy a lab for ``user``: name, description, its latest revision (as r1) and draft.

    Raises:
        NotAuthenticated: the user is anonymous.
        QuotaExceeded: ``quota.labs_owned`` or ``quota.nodes_per_lab`` of ``user``.
    """
    from lab import quotas

    owner_id = _user_id(user)
    suffix = " (copy)"
    name = lab.name[: LAB_NAME_MAX - len(suffix)] + suffix
    latest = lab.latest_revision()
    nodes = quotas.node_count(latest.document) if latest is not None else None
    with transaction.atomic():
        quotas.check_quota(owner_id, quotas.Want(new_lab=True, nodes=nodes))
        copy = Lab.objects.create(
            owner_id=owner_id, name=name, description=lab.description, draft=lab.draft
        )
        if latest is not None:
            TopologyRevision.objects.create(
                lab=copy, number=1, document=latest.document, author_id=owner_id
            )
    return copy


def do_put_topology(lab: Lab, user: User, document: Any) -> TopologyRevision:
    """Save a topology document for the lab.

    A valid document becomes a new revision (unless it equals the latest one, which
    is returned as is) and clears the draft. An invalid one, or one larger than the
    owner's ``nodes_per_lab`` quota, is kept as the lab's draft, so nothing the user
    drew is lost, and then refused.

    Raises:
        NotAuthenticated: the user is anonymous.
        TopologyInvalid: the document does not validate; the draft has been saved.
        QuotaExceeded: ``quota.nodes_per_lab`` of the lab's owner; the draft has been saved.
    """
    from lab import quotas

    author_id = _user_id(user)
    try:
        topology = check_topology(document)
        quotas.check_quota(lab.owner_id, quotas.Want(nodes=len(topology.nodes)), actor=user)
    except (TopologyInvalid, quotas.QuotaExceeded):
        if isinstance(document, dict):
            # Keep what the user drew; only an object can be a document worth keeping.
            now = timezone.now()
            Lab.objects.filter(pk=lab.pk).update(draft=document, updated=now)
            lab.draft, lab.updated = document, now
        raise
    canonical = canonical_document(topology)
    with transaction.atomic():
        locked = Lab.objects.select_for_update().get(pk=lab.pk)
        latest = locked.latest_revision()
        locked.draft = None
        locked.save(update_fields=["draft", "updated"])
        lab.draft = None
        if latest is not None and latest.document == canonical:
            return latest
        return TopologyRevision.objects.create(
            lab=locked,
            number=_next_revision_number(locked),
            document=canonical,
            author_id=author_id,
        )


# -- deployments ------------------------------------------------------------------------


def _active_deployment(lab: Lab) -> Deployment | None:
    return (
        Deployment.objects.filter(lab=lab)
        .exclude(state__in=Deployment.FINAL_STATES)
        .order_by("-id")
        .first()
    )


def latest_deployment(lab: Lab) -> Deployment | None:
    """Return the lab's newest deployment, or None."""
    return Deployment.objects.filter(lab=lab).order_by("-id").first()


def check_not_busy(lab: Lab) -> None:
    """Refuse a new deployment while another one of the lab has not finished.

    Raises:
        Conflict: ``deployment.busy``, naming the deployment in progress.
    """
    active = _active_deployment(lab)
    if active is not None:
        raise Conflict(
            f"deployment {active.pk} ({active.action}) is still {active.state}",
            code="deployment.busy",
        )


def pick_host(lab: Lab, action: str) -> str:
    """Return the name of the lab host that should run ``action`` for ``lab``.

    A lab that has a host keeps it; a destroy goes where the lab was last deployed;
    otherwise this box's own host (``TOPOLAB_HOST_NAME``).
    """
    if lab.host is not None or action == Deployment.Action.DESTROY:
        return dispatch.lab_hosts(lab)[0]
    return str(settings.TOPOLAB_HOST_NAME)


def deployment_summary(deployment: Deployment) -> dict[str, Any]:
    """Return the JSON shape of a deployment (the API's and the events')."""
    return {
        "id": deployment.pk,
        "lab": deployment.lab_id,
        "action": deployment.action,
        "state": deployment.state,
        "revision": deployment.revision.number if deployment.revision_id else None,
        "host": deployment.host,
        "progress": {
            "done": deployment.progress_done,
            "total": deployment.progress_total,
            "step": deployment.progress_step,
        },
        "error_code": deployment.error_code,
        "error_message": deployment.error_message,
        "failed_op": deployment.failed_op,
        "plan": list(deployment.plan or []),
        "log": list(deployment.log or []),
        "created": deployment.created.isoformat() if deployment.created else None,
        "started": deployment.started.isoformat() if deployment.started else None,
        "finished": deployment.finished.isoformat() if deployment.finished else None,
    }


def _request_deployment(lab: Lab, user: User, action: str) -> Deployment:
    from lab import conditioning, quotas

    requester_id = _user_id(user)
    with transaction.atomic():
        # The lab row lock serializes concurrent requests for one lab: the second
        # one sees the first one's pending deployment and is refused.
        locked = Lab.objects.select_for_update().get(pk=lab.pk)
        check_not_busy(locked)
        revision = locked.latest_revision()
        if action != Deployment.Action.DESTROY and revision is None:
            raise Conflict(
                "the lab has no valid topology yet: save one first", code="lab.no_topology"
            )
        if action == Deployment.Action.APPLY and locked.state != Lab.State.RUNNING:
            raise Conflict(
                f"the lab is {locked.state}, not running: deploy it instead",
                code="lab.not_running",
            )
        if revision is not None and action != Deployment.Action.DESTROY:
            # An apply keeps the lab running (it is counted already): only its size.
            runs = locked.pk if action == Deployment.Action.DEPLOY else None
            want = quotas.Want(nodes=quotas.node_count(revision.document), runs=runs)
            quotas.check_quota(locked.owner_id, want, actor=user)
            # Impairments need sch_netem on the lab's host: a 400 naming it, not a failed apply.
            conditioning.check_netem_available(locked, check_topology(revision.document))
        # Placement, VNIs and the split into parts happen here, in this transaction:
        # the orders the hosts get after the commit carry all they need.
        try:
            parts = dispatch.plan_parts(locked, revision, action)
        except dispatch.DispatchError as exc:
            raise InvalidInput(exc.message, code=exc.code) from None
        deployment = Deployment.objects.create(
            lab=locked,
            revision=revision,
            action=action,
            host=parts["primary"],
            parts=parts,
            requested_by_id=requester_id,
        )
        locked.state = (
            Lab.State.DESTROYING if action == Deployment.Action.DESTROY else Lab.State.DEPLOYING
        )
        locked.save(update_fields=["state", "host", "placement", "updated"])
        lab.state, lab.host = locked.state, locked.host
        deployment_id = deployment.pk
        transaction.on_commit(lambda: _enqueue_after_commit(deployment_id))
        events.publish(
            locked.pk, events.DEPLOY_STATE, {"deployment": deployment_summary(deployment)}
        )
        events.publish(locked.pk, events.LAB_STATE, {"state": locked.state})
    return deployment


def do_request_deploy(lab: Lab, user: User) -> Deployment:
    """Ask the lab's host to build the lab's latest revision.

    Raises:
        NotAuthenticated: the user is anonymous.
        Conflict: ``deployment.busy`` (another deployment in progress) or
            ``lab.no_topology`` (no valid revision yet).
        QuotaExceeded: ``quota.concurrent_labs`` or ``quota.nodes_per_lab`` of the owner.
    """
    return _request_deployment(lab, user, Deployment.Action.DEPLOY)


def do_request_apply(lab: Lab, user: User) -> Deployment:
    """Ask the host to reconcile the running lab with its latest revision.

    Raises:
        NotAuthenticated: the user is anonymous.
        Conflict: ``deployment.busy``, ``lab.no_topology`` or ``lab.not_running``.
        QuotaExceeded: ``quota.nodes_per_lab`` of the owner.
    """
    return _request_deployment(lab, user, Deployment.Action.APPLY)


def do_request_destroy(lab: Lab, user: User) -> Deployment:
    """Ask the host to remove everything the lab owns in the kernel.

    Raises:
        NotAuthenticated: the user is anonymous.
        Conflict: ``deployment.busy``.
    """
    return _request_deployment(lab, user, Deployment.Action.DESTROY)


def enqueue_deployment(deployment_id: int) -> None:
    """Send the deployment's orders to its hosts' queues (the web never imports tasks).

    The seam tests replace: everything before it is the web's, everything after the
    lab hosts' (``worker.tasks.run_part``) and the control consumer's.

    Raises:
        Deployment.DoesNotExist: no such deployment.
        Exception: whatever the broker raises when a message cannot be sent.
    """
    deployment = Deployment.objects.select_related("lab", "revision").get(pk=deployment_id)
    dispatch.send_orders(deployment)


def _enqueue_after_commit(deployment_id: int) -> None:
    try:
        enqueue_deployment(deployment_id)
    except Exception as exc:
        logger.exception("could not enqueue deployment %s", deployment_id)
        # IllegalTransition: a worker got it after all and moved it on.
        with contextlib.suppress(IllegalTransition):
            do_transition_deployment(
                deployment_id,
                Deployment.State.FAILED,
                error_code="enqueue.failed",
                error_message=f"could not hand the deployment to its lab host: {exc}",
            )


_LAB_STATE_AFTER: dict[tuple[str, str], str] = {
    (Deployment.Action.DEPLOY, Deployment.State.RUNNING): Lab.State.RUNNING,
    (Deployment.Action.APPLY, Deployment.State.RUNNING): Lab.State.RUNNING,
    (Deployment.Action.DESTROY, Deployment.State.DESTROYED): Lab.State.STOPPED,
    (Deployment.Action.DEPLOY, Deployment.State.FAILED): Lab.State.FAILED,
    (Deployment.Action.APPLY, Deployment.State.FAILED): Lab.State.FAILED,
    # A destroy that failed half way leaves the kernel in a state nobody knows.
    (Deployment.Action.DESTROY, Deployment.State.FAILED): Lab.State.UNKNOWN,
}


def do_set_lab_state(lab_id: int, state: str) -> None:
    """Set a lab's state outside a deployment's transition (and tell its watchers)."""
    if Lab.objects.filter(pk=lab_id).exclude(state=state).update(state=state):
        events.publish(lab_id, events.LAB_STATE, {"state": state})


def do_transition_deployment(deployment_id: int, to: str, **fields: Any) -> Deployment:
    """Move a deployment to state ``to`` (with extra ``fields``), update its lab, publish.

    For the worker's tasks: the lab's state follows the deployment's final state
    (running, stopped after a destroy, failed, unknown after a failed destroy).

    Raises:
        Deployment.DoesNotExist: no such deployment.
        IllegalTransition: the state machine refuses the move.
    """
    with transaction.atomic():
        deployment = Deployment.objects.select_related("lab", "revision").get(pk=deployment_id)
        deployment.transition(to, **fields)
        lab = deployment.lab
        new_lab_state = _LAB_STATE_AFTER.get((deployment.action, to))
        if new_lab_state is not None:
            Lab.objects.filter(pk=lab.pk).update(state=new_lab_state)
            lab.state = new_lab_state
            events.publish(lab.pk, events.LAB_STATE, {"state": new_lab_state})
        events.publish(lab.pk, events.DEPLOY_STATE, {"deployment": deployment_summary(deployment)})
    return deployment


def do_report_progress(deployment_id: int, done: int, total: int, step: str) -> None:
    """Record a deployment's progress and publish ``deploy.progress``.

    Raises:
        Deployment.DoesNotExist: no such deployment.
    """
    deployment = Deployment.objects.only("id", "lab_id").get(pk=deployment_id)
    step = step[:300]
    Deployment.objects.filter(pk=deployment_id).update(
        progress_done=done, progress_total=total, progress_step=step
    )
    events.publish(
        deployment.lab_id,
        events.DEPLOY_PROGRESS,
        {"deployment": deployment_id, "done": done, "total": total, "step": step},
    )
