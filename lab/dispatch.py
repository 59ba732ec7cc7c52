"""Where a deployment goes and what each lab host is told: placement, VNIs, parts, orders.

Runs in the control plane when a deploy, apply or destroy is requested, inside
the transaction that creates the ``Deployment``: the lab is placed on the up lab
hosts (``lab/placement.py``, pure), its cut links get stitch VNIs, and the
deployment records one part per host. After the commit every host of the lab
gets a :class:`lab.wire.PartOrder` carrying everything it needs; orders are
rebuilt from the database whenever they must be sent again (a stalled
deployment, a host that restarted), so sending twice is harmless.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from lab import wire
from lab.models import Deployment, Lab, LabHost, TopologyRevision, VniAllocation
from lab.placement import (
    STITCH_VNI_MIN,
    CutLink,
    HostInfo,
    Placement,
    PlacementError,
    allocate_vnis,
    part_topology,
    place,
    vni_pairs,
)
from lab.topology.addressing import effective_topology
from lab.topology.schema import Endpoint, Topology

logger = logging.getLogger(__name__)

ACTIVE_LAB_STATES = ("deploying", "running", "destroying", "unknown")
VNI_RETRIES = 8
# An order older than this is dropped by the broker instead of run: the control
# plane sends it again when its deployment stalls or its host restarts, and an
# old redelivery must never rebuild what a newer deployment changed.
ORDER_EXPIRES = 600


class DispatchError(wire.TopolabError):
    """A deployment cannot be placed or dispatched (the code says why)."""

    code = "placement.failed"


# -- hosts -------------------------------------------------------------------------------


def _heartbeat_limit() -> Any:
    return timezone.now() - timedelta(seconds=settings.TOPOLAB_HOST_HEARTBEAT_TIMEOUT)


def nodes_placed(exclude_lab: int | None = None) -> dict[str, int]:
    """Return ``{host: nodes of active labs it holds}`` (placement's load), in one pass."""
    totals: dict[str, int] = {}
    labs = Lab.objects.filter(state__in=ACTIVE_LAB_STATES).exclude(pk=exclude_lab)
    for lab in labs.select_related("host").only("id", "host__name", "placement"):
        nodes = (lab.placement or {}).get("nodes")
        if isinstance(nodes, dict) and nodes:
            for host in nodes.values():
                totals[host] = totals.get(host, 0) + 1
        elif lab.host is not None:
            rev = lab.latest_revision()
            count = len((rev.document or {}).get("nodes", [])) if rev else 0
            totals[lab.host.name] = totals.get(lab.host.name, 0) + count
    return totals


def up_hosts(exclude_lab: int | None = None) -> list[HostInfo]:
    """Return the lab hosts that are up, as placement values (load = nodes placed)."""
    hosts = list(LabHost.objects.filter(last_heartbeat__gte=_heartbeat_limit()))
    loads = nodes_placed(exclude_lab) if hosts else {}
    return [
        HostInfo(
            name=h.name,
            underlay=h.underlay_address or "",
            capacity=h.capacity_nodes,
            load=loads.get(h.name, 0),
            kinds=frozenset(h.link_kinds or ()),
        )
        for h in hosts
    ]


def down_host_names() -> set[str]:
    """Return the names of lab hosts that missed their heartbeats."""
    rows = LabHost.objects.filter(
        Q(last_heartbeat__lt=_heartbeat_limit()) | Q(last_heartbeat__isnull=True)
    )
    return set(rows.values_list("name", flat=True))


def _fallback_host(topology: Topology) -> HostInfo:
    """This box's own lab host, before it has sent a heartbeat (``make run`` starting).

    Its kinds are not known yet: placement trusts it with the lab, and the host's
    executor refuses a kind its kernel lacks before touching anything.
    """
    return HostInfo(
        name=str(settings.TOPOLAB_HOST_NAME),
        underlay="",
        capacity=int(settings.TOPOLAB_MAX_NODES),
        kinds=frozenset(topology.link_kinds()) | {"bridge", "veth", "vxlan"},
    )


# -- placement at request time -------------------------------------------------------------


_built: OrderedDict[tuple[Any, ...], Topology] = OrderedDict()
_BUILT_MAX = 64


def revision_topology(revision: TopologyRevision) -> Topology:
    """``lab_topology`` of a stored revision, remembered (revisions never change): the
    request that places a deployment and the orders sent after its commit share it.

    Raises:
        DispatchError: the stored document no longer parses, or addressing failed.
    """
    # A row id alone could come back after a database reset: the row's identity is all of it.
    key = (revision.pk, revision.lab_id, revision.number, revision.created)
    topology = _built.get(key)
    if topology is None:
        topology = lab_topology(revision.document)
        _built[key] = topology
        while len(_built) > _BUILT_MAX:
            _built.popitem(last=False)
    return topology


def lab_topology(document: Mapping[str, Any]) -> Topology:
    """Return the topology the hosts build from a stored revision: auto-addressed once,
    for the whole lab, so every host's part agrees.

    Raises:
        DispatchError: the stored document no longer parses, or addressing failed.
    """
    try:
        topology = Topology.model_validate(document)
        if not topology.addressing.auto:
            return topology
        prepared = effective_topology(topology)
    except ValueError as exc:  # pydantic's ValidationError, PoolExhausted
        raise DispatchError(
            f"the lab's topology cannot be built: {exc}", "topology.invalid"
        ) from None
    return prepared.model_copy(
        update={"addressing": prepared.addressing.model_copy(update={"auto": False})}
    )


def placement_of(lab: Lab) -> Placement | None:
    """Return the lab's stored placement (None when it is whole on one host)."""
    data = lab.placement or {}
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        return None
    cut = tuple(
        CutLink(
            index=int(c["index"]),
            a=Endpoint.model_validate(c["a"]),
            b=Endpoint.model_validate(c["b"]),
            host_a=str(c["host_a"]),
            host_b=str(c["host_b"]),
        )
        for c in data.get("cut", [])
    )
    return Placement({str(k): str(v) for k, v in nodes.items()}, cut)


def _with_hints(topology: Topology, previous: Placement | None) -> Topology:
    """Pin the nodes of a running split lab where they are (an apply must not move them)."""
    if previous is None:
        return topology
    nodes = tuple(
        n.model_copy(update={"host": previous.nodes[n.name]})
        if n.host is None and n.name in previous.nodes
        else n
        for n in topology.nodes
    )
    return topology.model_copy(update={"nodes": nodes})


def _place(lab: Lab, topology: Topology) -> Placement:
    previous = placement_of(lab)
    hosts = up_hosts(exclude_lab=lab.pk) or [_fallback_host(topology)]
    hinted = _with_hints(topology, previous)
    try:
        if lab.host is not None and not any(n.host for n in hinted.nodes):
            # A lab keeps the host it had when it fits there whole.
            mine = [h for h in hosts if h.name == lab.host.name]
            if mine:
                try:
                    return place(hinted, mine)
                except PlacementError:
                    pass
        return place(hinted, hosts)
    except PlacementError as exc:
        raise DispatchError(exc.message, exc.code) from None


def _allocate_vnis(lab: Lab, placement: Placement) -> dict[int, int]:
    """Take a VNI for every cut link, free on both of its hosts; reuse the lab's own.

    Raises:
        DispatchError: ``placement.vni`` under too much contention.
    """
    wanted = vni_pairs(placement)
    if not wanted:
        VniAllocation.objects.filter(lab=lab).delete()
        return {}
    for _ in range(VNI_RETRIES):
        existing = {
            (row.link_index, row.host): row.vni for row in VniAllocation.objects.filter(lab=lab)
        }
        keep: dict[int, int] = {}
        for index, ha, hb in wanted:
            va, vb = existing.get((index, ha)), existing.get((index, hb))
            if va is not None and va == vb:
                keep[index] = va
        hosts = {h for _, ha, hb in wanted for h in (ha, hb)}
        used: dict[str, set[int]] = {h: set() for h in hosts}
        for row in VniAllocation.objects.filter(host__in=hosts).exclude(lab=lab):
            used[row.host].add(row.vni)
        for index, vni in keep.items():
            for _, ha, hb in (w for w in wanted if w[0] == index):
                used[ha].add(vni)
                used[hb].add(vni)
        # Start each lab at its own offset: a VNI freed a moment ago may still be held
        # by a namespace the kernel has not finished tearing down.
        lowest = STITCH_VNI_MIN + (lab.pk * 64) % (1 << 22)
        try:
            fresh = allocate_vnis([w for w in wanted if w[0] not in keep], used, lowest)
        except PlacementError as exc:
            raise DispatchError(exc.message, exc.code) from None
        try:
            with transaction.atomic():
                VniAllocation.objects.filter(lab=lab).exclude(link_index__in=list(keep)).delete()
                for index, ha, hb in wanted:
                    if index in keep:
                        continue
                    for host, peer in ((ha, hb), (hb, ha)):
                        VniAllocation.objects.create(
                            lab=lab, link_index=index, host=host, peer=peer, vni=fresh[index]
                        )
            return {**keep, **fresh}
        except IntegrityError:
            continue  # another deployment took one of these VNIs first: look again
    raise DispatchError("could not allocate stitch VNIs (too much contention)", "placement.vni")


def lab_hosts(lab: Lab) -> list[str]:
    """The hosts a lab has nodes on now (for a destroy), primary first: its placement,
    else its host, else where it was last deployed, else this box's own."""
    previous = placement_of(lab)
    if previous is not None:
        return list(previous.hosts)
    if lab.host is not None:
        return [lab.host.name]
    last = (
        Deployment.objects.filter(lab=lab)
        .exclude(host="")
        .order_by("-id")
        .values_list("host", flat=True)
        .first()
    )
    return [str(last or settings.TOPOLAB_HOST_NAME)]


def plan_parts(lab: Lab, revision: TopologyRevision | None, action: str) -> dict[str, Any]:
    """Place lab ``lab`` for ``action`` and record where it goes; return the deployment's parts.

    Call inside the transaction that creates the deployment (the lab row locked):
    a deploy or apply places the revision (VNIs allocated, ``Lab.placement`` and
    ``Lab.host`` stored); a destroy goes to the hosts the lab is on. The parts are
    ``{"primary": host, "hosts": {host: {"state": "ordered", "seq": 0}}}``.

    Raises:
        DispatchError: the lab cannot be placed (no host with room or with a kernel
            module the lab needs, a hinted host that is not up, VNIs exhausted).
    """
    if action == Deployment.Action.DESTROY or revision is None:
        hosts = lab_hosts(lab)
    else:
        topology = revision_topology(revision)
        placement = _place(lab, topology)
        _allocate_vnis(lab, placement)
        hosts = list(placement.hosts)
        primary = LabHost.objects.filter(name=placement.primary).first()
        if primary is None:
            primary = LabHost.objects.create(name=placement.primary)
        lab.placement = placement.to_json() if placement.is_split else {}
        lab.host = primary
    return {"primary": hosts[0], "hosts": {h: {"state": "ordered", "seq": 0} for h in hosts}}


# -- orders ------------------------------------------------------------------------------


def _underlays() -> dict[str, str]:
    return {h.name: h.underlay_address for h in LabHost.objects.all() if h.underlay_address}


def _vnis(lab: Lab) -> dict[int, int]:
    return {row.link_index: row.vni for row in VniAllocation.objects.filter(lab=lab)}


def _restore_topology(deployment: Deployment) -> tuple[dict[str, Any], int] | None:
    """The topology a whole lab ran before an apply (what a failed apply goes back to),
    with its revision number."""
    previous = (
        Deployment.objects.filter(
            lab_id=deployment.lab_id, state=Deployment.State.RUNNING, pk__lt=deployment.pk
        )
        .select_related("revision")
        .order_by("-pk")
        .first()
    )
    if previous is None or previous.revision is None:
        return None
    document = revision_topology(previous.revision).model_dump(mode="json")
    return document, previous.revision.number


def orders_for(
    deployment: Deployment, hosts: Sequence[str] | None = None, action: str | None = None
) -> list[wire.PartOrder]:
    """Build the orders of ``deployment`` for ``hosts`` (default: all of its parts).

    ``action`` overrides the deployment's (``rollback``, ``reconcile``).

    Raises:
        DispatchError: a part cannot be cut (a host lost its underlay address).
    """
    lab = deployment.lab
    parts = (deployment.parts or {}).get("hosts") or {deployment.host: {}}
    targets = list(hosts if hosts is not None else parts)
    action = action or deployment.action
    placement = placement_of(lab)
    base: dict[str, Any] = {
        "deployment": deployment.pk,
        "lab": lab.pk,
        "key": lab.key,
        "action": action,
        "revision": deployment.revision.number if deployment.revision else None,
    }
    if action in (wire.Action.DESTROY, wire.Action.ROLLBACK) or deployment.revision is None:
        return [
            wire.PartOrder(
                **base,
                host=h,
                nodes=None
                if placement is None
                else tuple(sorted(n for n, at in placement.nodes.items() if at == h)),
            )
            for h in targets
        ]
    topology = revision_topology(deployment.revision)
    restore = None
    if action == wire.Action.APPLY and placement is None:
        restore = _restore_topology(deployment)
    restore_fields: dict[str, Any] = {}
    if restore is not None:
        restore_fields = {"restore": restore[0], "restore_revision": restore[1]}
    orders: list[wire.PartOrder] = []
    underlays = _underlays() if placement is not None else {}
    vnis = _vnis(lab) if placement is not None else {}
    for host in targets:
        stitches: tuple[wire.Stitch, ...] = ()
        foreign: tuple[str, ...] = ()
        if placement is None:
            part = topology
        else:
            try:
                part, stitches = part_topology(topology, placement, host, underlays, vnis)
            except PlacementError as exc:
                raise DispatchError(exc.message, exc.code) from None
            foreign = tuple(sorted(n for n, at in placement.nodes.items() if at != host))
        orders.append(
            wire.PartOrder(
                **base,
                host=host,
                topology=part.model_dump(mode="json"),
                stitches=tuple(stitches),
                foreign=foreign,
                **restore_fields,
            )
        )
    return orders


def send_order(order: wire.PartOrder) -> None:
    """Send one order to its host's queue (by task name: the web never imports tasks).

    Raises:
        Exception: whatever the broker raises when the message cannot be sent.
    """
    from lab.celery import app

    app.send_task(
        wire.RUN_PART_TASK,
        args=[order.to_json()],
        queue=wire.host_queue(order.host),
        expires=ORDER_EXPIRES,
        ignore_result=True,  # the outcome comes back as reports
    )


def send_orders(
    deployment: Deployment, hosts: Sequence[str] | None = None, action: str | None = None
) -> int:
    """Send ``deployment``'s orders to ``hosts`` (default: all its parts); return how many.

    Raises:
        DispatchError: a part cannot be cut.
        Exception: whatever the broker raises.
    """
    orders = orders_for(deployment, hosts, action)
    for order in orders:
        send_order(order)
    return len(orders)
