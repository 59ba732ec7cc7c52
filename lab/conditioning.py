"""Link conditioning of one interface on a lab: read it, set it, apply it live.

An interface's conditioning is its netem impairments (delay, jitter, loss, duplicate,
reorder, corrupt), its egress rate, its administrative state and its MTU, all fields
of the topology document (``lab/topology/schema.py`` ``Interface``). Setting it saves
a new revision through ``services.do_put_topology`` and, when the lab runs, asks its
lab host for an apply, which changes the interface in place (same ifindex).

netem needs the kernel module ``sch_netem``; a lab host reports whether it has it in
``LabHost.link_kinds`` (as ``netem``, see ``KERNEL_MODULES``), and a request for
impairments on a host without it is refused here, at request time, naming the module.
A rate alone needs no netem (tbf) and is accepted there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from lab import services
from lab.models import Deployment, Lab, LabHost
from lab.services import Conflict, InvalidInput, NotFound, TopologyInvalid, User
from lab.topology import Issue, Topology
from lab.topology.schema import KERNEL_MODULES, Interface

# The fields of an interface this module reads and sets, in the order the API shows them.
FIELDS = ("netem", "rate_mbit", "up", "mtu")
NETEM_MODULE = KERNEL_MODULES["netem"]


@dataclass(frozen=True)
class Settings:
    """What a request sets on one interface (``netem`` None: no impairments)."""

    netem: dict[str, float] | None
    rate_mbit: int | None
    up: bool
    mtu: int | None

    def as_fields(self) -> dict[str, Any]:
        """Return the interface fields, as the document writes them."""
        return {"netem": self.netem, "rate_mbit": self.rate_mbit, "up": self.up, "mtu": self.mtu}


def interface_values(iface: Interface) -> dict[str, Any]:
    """Return the conditioning of a document interface as JSON values."""
    return {
        "netem": iface.netem.model_dump() if iface.netem is not None else None,
        "rate_mbit": iface.rate_mbit,
        "up": iface.up,
        "mtu": iface.mtu,
    }


def _find(topology: Topology, node: str, interface: str) -> Interface | None:
    found = topology.node(node)
    return found.interface(interface) if found is not None else None


def values_in(document: Any, node: str, interface: str) -> dict[str, Any] | None:
    """Return the conditioning of ``node:interface`` in a saved document, or None when the
    document (a revision: valid by construction) has no such interface."""
    try:
        topology = services.check_topology(document)
    except TopologyInvalid:
        return None
    iface = _find(topology, node, interface)
    return interface_values(iface) if iface is not None else None


def host_of(lab: Lab, node: str) -> LabHost | None:
    """Return the lab host that runs (or would run) ``node`` of ``lab``, if it is known.

    A split lab names each node's host in its placement; a whole lab has ``lab.host``;
    a lab never placed goes where ``services.pick_host`` sends a deploy. None when that
    host has sent no heartbeat yet (then nothing is known of its kernel).
    """
    placement = lab.placement if isinstance(lab.placement, dict) else {}
    nodes = placement.get("nodes") if isinstance(placement.get("nodes"), dict) else {}
    name = nodes.get(node) if isinstance(nodes, dict) else None
    if not isinstance(name, str):
        if lab.host_id is not None and lab.host is not None:
            return lab.host
        name = str(settings.TOPOLAB_HOST_NAME)
    return LabHost.objects.filter(name=name).first()


def netem_available(host: LabHost | None) -> bool | None:
    """Whether ``host``'s kernel can make netem qdiscs; None when the host is unknown."""
    if host is None:
        return None
    return "netem" in (host.link_kinds or [])


def check_netem_available(lab: Lab, topology: Topology, *, path: str | None = None) -> None:
    """Refuse impairments on an interface whose lab host lacks ``sch_netem``.

    Every interface of ``topology`` with ``netem`` is checked against the host of its
    node; a host with no heartbeat yet is not refused (placement checks it at deploy).
    ``path`` replaces the issues' document paths (the conditioning API names its own
    ``netem`` field); without it each issue names ``nodes[i].interfaces[j].netem``.

    Raises:
        InvalidInput: 400 ``host.module_missing``, naming ``sch_netem`` and the host.
    """
    issues: list[Issue] = []
    hosts: set[str] = set()
    for i, node in enumerate(topology.nodes):
        wanting = [(j, f) for j, f in enumerate(node.interfaces) if f.netem is not None]
        if not wanting:
            continue
        host = host_of(lab, node.name)
        if host is None or netem_available(host):
            continue
        hosts.add(host.name)
        for j, iface in wanting:
            issues.append(
                Issue(
                    path or f"nodes[{i}].interfaces[{j}].netem",
                    "host.module_missing",
                    f"lab host {host.name} lacks {NETEM_MODULE}: interface {iface.name} of "
                    f"node {node.name} cannot be given delay, jitter, loss, duplication, "
                    "reordering or corruption there",
                    "remove the impairments (a rate limit works without netem), or run "
                    f"the lab on a host whose kernel has {NETEM_MODULE}",
                )
            )
    if issues:
        raise InvalidInput(
            f"lab host {', '.join(sorted(hosts))} lacks {NETEM_MODULE}: netem impairments "
            "(delay, jitter, loss, duplicate, reorder, corrupt) cannot run there; "
            "a rate limit alone works",
            code="host.module_missing",
            issues=issues,
        )


def _patched(document: Any, node: str, interface: str, wanted: Settings) -> dict[str, Any] | None:
    """Return a copy of ``document`` with the interface's fields set, or None without it."""
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
        return None
    patched = copy.deepcopy(document)
    for entry in patched["nodes"]:
        if not isinstance(entry, dict) or entry.get("name") != node:
            continue
        for iface in entry.get("interfaces") or []:
            if isinstance(iface, dict) and iface.get("name") == interface:
                iface.update(wanted.as_fields())
                return patched
    return None


def _field_issue(issue: Issue, prefix: str) -> Issue:
    """Name an issue of the interface by the request's field (``netem.delay_ms``)."""
    if issue.path.startswith(prefix + "."):
        return Issue(issue.path[len(prefix) + 1 :], issue.code, issue.message, issue.hint)
    return issue


def check_interface(lab: Lab, node: str, interface: str) -> Topology:
    """Return the lab's latest topology, checking it has ``node:interface``.

    Raises:
        Conflict: ``lab.no_topology``, the lab has no valid revision.
        NotFound: ``interface.not_found``, no such node or interface in it.
    """
    revision = lab.latest_revision()
    if revision is None:
        raise Conflict("the lab has no valid topology yet: save one first", code="lab.no_topology")
    topology = services.check_topology(revision.document)
    if _find(topology, node, interface) is None:
        raise NotFound(
            f"node {node!r} of lab {lab.pk} has no interface {interface!r}",
            code="interface.not_found",
        )
    return topology


def read_conditioning(
    lab: Lab, node: str, interface: str, running_revision: int | None
) -> dict[str, Any]:
    """Return the interface's conditioning in the latest and in the running revision.

    ``running_revision`` is the number of the revision the lab host runs (None when
    nothing runs); ``running`` is None too when that revision lacks the interface.

    Raises:
        Conflict: ``lab.no_topology``.
        NotFound: ``interface.not_found``.
    """
    topology = check_interface(lab, node, interface)
    latest = lab.latest_revision()
    iface = _find(topology, node, interface)
    assert latest is not None and iface is not None  # check_interface made sure
    running: dict[str, Any] | None = None
    if running_revision is not None:
        ran = lab.revisions.filter(number=running_revision).first()
        values = values_in(ran.document, node, interface) if ran is not None else None
        if values is not None:
            running = {"revision": running_revision, **values}
    host = host_of(lab, node)
    return {
        "node": node,
        "interface": interface,
        "lab_state": lab.state,
        "host": host.name if host is not None else None,
        "netem_available": netem_available(host),
        "latest": {"revision": latest.number, **interface_values(iface)},
        "running": running,
    }


def do_set_conditioning(
    lab: Lab, user: User, node: str, interface: str, wanted: Settings
) -> tuple[int, Deployment | None]:
    """Set the interface's conditioning as a new revision; apply it when the lab runs.

    The lab's draft (unsaved edits that do not validate), if any, gets the same change
    and stays the draft, so saving here loses nothing the user drew.

    Returns the number of the saved revision and the apply deployment, or None when the
    lab does not run (the next deploy builds it so).

    Raises:
        Conflict: ``lab.no_topology``; ``deployment.busy`` while a deployment of the lab
            runs (its outcome would not include this change).
        NotFound: ``interface.not_found``.
        InvalidInput: ``conditioning.invalid`` with issues named by field (jitter without
            a delay...); ``host.module_missing`` for netem on a host without sch_netem.
        QuotaExceeded: ``quota.nodes_per_lab`` (as for any saved revision).
    """
    check_interface(lab, node, interface)
    services.check_not_busy(lab)
    latest = lab.latest_revision()
    assert latest is not None  # check_interface made sure
    document = _patched(latest.document, node, interface, wanted)
    assert document is not None  # the interface is in the revision
    topology = _topology_or_field_issues(document, node, interface)
    if wanted.netem is not None:
        check_netem_available(lab, topology, path="netem")
    draft = _patched(lab.draft, node, interface, wanted) if isinstance(lab.draft, dict) else None
    revision = services.do_put_topology(lab, user, document)
    if draft is not None:
        # do_put_topology cleared the draft: keep the user's unsaved edits, with this change.
        Lab.objects.filter(pk=lab.pk).update(draft=draft)
        lab.draft = draft
    deployment = None
    if lab.state == Lab.State.RUNNING:
        deployment = services.do_request_apply(lab, user)
    return revision.number, deployment


def _topology_or_field_issues(document: dict[str, Any], node: str, interface: str) -> Topology:
    try:
        return services.check_topology(document)
    except TopologyInvalid as exc:
        prefix = _interface_path(document, node, interface)
        issues = [_field_issue(issue, prefix) for issue in exc.issues]
        first = issues[0] if issues else None
        raise InvalidInput(
            f"{first.path}: {first.message}" if first else "the conditioning is invalid",
            code="conditioning.invalid",
            issues=issues,
        ) from None


def _interface_path(document: dict[str, Any], node: str, interface: str) -> str:
    for i, entry in enumerate(document.get("nodes") or []):
        if isinstance(entry, dict) and entry.get("name") == node:
            for j, iface in enumerate(entry.get("interfaces") or []):
                if isinstance(iface, dict) and iface.get("name") == interface:
                    return f"nodes[{i}].interfaces[{j}]"
    return ""
