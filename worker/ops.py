"""Plan operations: frozen values, each one line to describe and one "ensure" to apply.

Every op is idempotent by errno, never by message: EEXIST on an object that
carries our owner tag is success, ENODEV/ENOENT (and the kernel's other
"not there" answers) on a delete is success, addresses and routes use
replace. ``undo()`` returns the op that removes what the op made (None for
changes we do not restore), which is what the executor's rollback runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from lab.topology import naming
from lab.wire import TopolabError
from worker.kernel.base import Kernel, MacsecSA, Shaping
from worker.kernel.errors import KernelError

logger = logging.getLogger(__name__)

_GONE = frozenset({errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL})


class EngineError(TopolabError):
    """Base of the engine's errors; ``code`` is stable for the API."""

    code = "engine.error"


class UnsupportedKindError(EngineError):
    """The topology uses a link kind this host's kernel lacks."""

    code = "engine.unsupported_kind"

    def __init__(self, kind: str, module: str) -> None:
        super().__init__(
            f"link kind {kind!r} needs kernel module {module}, which this host's kernel lacks"
        )
        self.kind = kind
        self.module = module


@dataclass(frozen=True)
class Op:
    """Base of every op."""

    kind: ClassVar[str] = "op"

    def describe(self) -> str:
        """Return one line for people."""
        raise NotImplementedError

    def apply(self, k: Kernel) -> None:
        """Make it so.

        Raises:
            KernelError: the kernel refused, for a reason other than "already so".
        """
        raise NotImplementedError

    def undo(self) -> Op | None:
        """Return the op that removes what this op made, or None."""
        return None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (``op`` names the class)."""
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return {"op": self.kind, **data}


def _ours(k: Kernel, ns: str, names: tuple[str, ...], alias: str) -> bool:
    for name in names:
        try:
            if k.link_alias(ns, name) != alias:
                return False
        except KernelError:
            return False
    return True


def _create(k: Kernel, make: Any, ns: str, name: str, alias: str, *extra: tuple[str, str]) -> None:
    try:
        make()
    except KernelError as exc:
        if exc.errno != errno.EEXIST:
            raise
        if not _ours(k, ns, (name,), alias) or not all(
            _ours(k, ns2, (n2,), alias) for ns2, n2 in extra
        ):
            raise KernelError(
                errno.EEXIST, f"{ns}:{name} exists and is not Topolab's ({alias})"
            ) from None


def _tolerate_gone(fn: Any) -> None:
    try:
        fn()
    except KernelError as exc:
        if exc.errno not in _GONE:
            raise


def end_processes(k: Kernel, ns: str, grace: float = 1.0) -> list[int]:
    """SIGTERM every process in namespace ``ns``, SIGKILL what is left after ``grace``.

    Returns the PIDs signalled (by PID only, never by name).
    """
    return end_pids(k.ns_pids(ns), grace)


def signal_pids(pids: list[int], sig: int) -> list[int]:
    """Send ``sig`` to each PID (gone ones are skipped); return the PIDs."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids


def end_pids(pids: list[int], grace: float = 1.0) -> list[int]:
    """SIGTERM ``pids``, then SIGKILL those still alive after ``grace`` seconds."""
    return kill_survivors(signal_pids(pids, signal.SIGTERM), grace)


def kill_survivors(pids: list[int], grace: float = 1.0) -> list[int]:
    """SIGKILL those of ``pids`` (already sent SIGTERM) still alive after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    left = pids
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if _alive(p)]
    signal_pids(left, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class MakeNamespace(Op):
    """Create a node's namespace with ``lo`` up and tagged ``topolab:<lab>:<node>``."""

    kind: ClassVar[str] = "make_namespace"
    ns: str
    lab: str
    node: str

    def describe(self) -> str:
        """Return one line."""
        return f"make namespace {self.ns} for node {self.node}"

    def apply(self, k: Kernel) -> None:
        """Create the namespace (EEXIST with our tag on lo is success)."""
        _create(
            k,
            lambda: k.ns_create(self.ns, naming.owner_alias(self.lab, self.node), self.lab),
            self.ns,
            "lo",
            naming.owner_alias(self.lab, self.node),
        )

    def undo(self) -> Op | None:
        """Delete the namespace, if it is still the one this op made (tagged as ours)."""
        return DeleteNamespace(self.ns, owner=naming.owner_alias(self.lab, self.node))


@dataclass(frozen=True)
class DeleteNamespace(Op):
    """End the namespace's processes and delete it (and every device in it)."""

    kind: ClassVar[str] = "delete_namespace"
    ns: str
    # Set when undoing a make: delete only if ``lo`` still carries this owner tag, so a
    # rollback never takes a namespace somebody else made under the name meanwhile.
    owner: str | None = None

    def describe(self) -> str:
        """Return one line."""
        return f"delete namespace {self.ns} (its processes and devices go with it)"

    def apply(self, k: Kernel) -> None:
        """Delete (ENOENT is success; with ``owner``, a namespace not so tagged is left)."""
        if self.owner is not None:
            try:
                tag: str | None = k.link_alias(self.ns, "lo")
            except KernelError as exc:
                if exc.errno in _GONE:
                    return  # already gone: nothing to undo
                # EINVAL: the name's file is no namespace yet (a crash between taking
                # the name and mounting it): our placeholder, removed below.
                tag = self.owner if exc.errno == errno.EINVAL else None
            if tag != self.owner:
                logger.warning("not deleting %s: it is not %s's", self.ns, self.owner)
                return
        end_processes(k, self.ns)
        _tolerate_gone(lambda: k.ns_delete(self.ns))


@dataclass(frozen=True)
class SetSysctl(Op):
    """Write a sysctl inside a namespace."""

    kind: ClassVar[str] = "set_sysctl"
    ns: str
    key: str
    value: str

    def describe(self) -> str:
        """Return one line."""
        return f"set {self.key}={self.value} in {self.ns}"

    def apply(self, k: Kernel) -> None:
        """Write it."""
        k.sysctl_set(self.ns, self.key, self.value)


@dataclass(frozen=True)
class MakeVeth(Op):
    """Create a veth pair with each end directly in its namespace."""

    kind: ClassVar[str] = "make_veth"
    ns: str
    name: str
    peer_ns: str
    peer: str
    lab: str
    mtu: int | None = None
    mac: str | None = None
    peer_mac: str | None = None

    def describe(self) -> str:
        """Return one line."""
        return f"make veth {self.ns}:{self.name} <-> {self.peer_ns}:{self.peer}"

    def apply(self, k: Kernel) -> None:
        """Create the pair (EEXIST with both ends ours is success)."""
        alias = naming.owner_alias(self.lab)
        _create(
            k,
            lambda: k.veth_add(
                self.ns,
                self.name,
                self.peer_ns,
                self.peer,
                alias,
                self.mtu,
                self.mac,
                self.peer_mac,
            ),
            self.ns,
            self.name,
            alias,
            (self.peer_ns, self.peer),
        )

    def undo(self) -> Op | None:
        """Delete one end (the kernel removes the pair)."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class MakeBridge(Op):
    """Create a Linux bridge in a namespace."""

    kind: ClassVar[str] = "make_bridge"
    ns: str
    name: str
    lab: str
    stp: bool = False
    mtu: int | None = None
    vlan_filtering: bool = False

    def describe(self) -> str:
        """Return one line."""
        return (
            f"make bridge {self.ns}:{self.name}"
            + (" with STP" if self.stp else "")
            + (" filtering VLANs" if self.vlan_filtering else "")
        )

    def apply(self, k: Kernel) -> None:
        """Create the bridge (EEXIST when ours is success)."""
        alias = naming.owner_alias(self.lab)
        _create(
            k,
            lambda: k.bridge_add(
                self.ns, self.name, alias, self.stp, self.mtu, vlan_filtering=self.vlan_filtering
            ),
            self.ns,
            self.name,
            alias,
        )

    def undo(self) -> Op | None:
        """Delete the bridge."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class MakeVxlan(Op):
    """Create a VXLAN device in a node namespace."""

    kind: ClassVar[str] = "make_vxlan"
    ns: str
    name: str
    lab: str
    vni: int
    port: int = 4789
    local: str | None = None
    remote: str | None = None
    group: str | None = None
    dev: str | None = None
    ttl: int | None = None
    learning: bool = True
    mtu: int | None = None
    mac: str | None = None
    # A cross-host stitch (orchestration): made from the worker's underlay namespace.
    underlay: bool = False

    def describe(self) -> str:
        """Return one line."""
        peer = f" remote {self.remote}" if self.remote else ""
        if not peer and self.group:
            peer = f" group {self.group}"
        return (
            f"make vxlan {self.ns}:{self.name} vni {self.vni} dstport {self.port}{peer}"
            + (f" dev {self.dev}" if self.dev else "")
            + (
                f" (stitch: made in the underlay namespace, mtu {self.mtu})"
                if self.underlay
                else ""
            )
        )

    def apply(self, k: Kernel) -> None:
        """Create the device (EEXIST when ours is success)."""
        alias = naming.owner_alias(self.lab)
        _create(
            k,
            lambda: k.vxlan_add(
                self.ns,
                self.name,
                alias,
                self.vni,
                self.port,
                self.local,
                self.remote,
                self.group,
                self.dev,
                self.ttl,
                self.learning,
                self.mtu,
                self.mac,
                self.underlay,
            ),
            self.ns,
            self.name,
            alias,
        )

    def undo(self) -> Op | None:
        """Delete the device."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class MakeMacvlan(Op):
    """Create a macvlan (or macvtap) child on a parent inside the lab."""

    kind: ClassVar[str] = "make_macvlan"
    ns: str
    name: str
    lab: str
    parent_ns: str
    parent: str
    mode: str = "bridge"
    tap: bool = False
    source_macs: tuple[str, ...] = ()
    mtu: int | None = None
    mac: str | None = None

    def describe(self) -> str:
        """Return one line."""
        what = "macvtap" if self.tap else "macvlan"
        return (
            f"make {what} {self.ns}:{self.name} mode {self.mode} on {self.parent_ns}:{self.parent}"
        )

    def apply(self, k: Kernel) -> None:
        """Create the child (EEXIST when ours is success)."""
        alias = naming.owner_alias(self.lab)
        _create(
            k,
            lambda: k.macvlan_add(
                self.ns,
                self.name,
                alias,
                self.parent_ns,
                self.parent,
                self.mode,
                self.tap,
                self.source_macs,
                self.mtu,
                self.mac,
            ),
            self.ns,
            self.name,
            alias,
        )

    def undo(self) -> Op | None:
        """Delete the child."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class MakeTuntap(Op):
    """Create a persistent tun or tap device owned by a uid."""

    kind: ClassVar[str] = "make_tuntap"
    ns: str
    name: str
    lab: str
    mode: str = "tap"
    uid: int = 65534

    def describe(self) -> str:
        """Return one line."""
        return f"make {self.mode} {self.ns}:{self.name} owned by uid {self.uid}"

    def apply(self, k: Kernel) -> None:
        """Create the device (EEXIST when ours is success)."""
        alias = naming.owner_alias(self.lab)
        _create(
            k,
            lambda: k.tuntap_add(self.ns, self.name, alias, self.mode, self.uid),
            self.ns,
            self.name,
            alias,
        )

    def undo(self) -> Op | None:
        """Delete the device."""
        return DeleteLink(self.ns, self.name)


def _make(k: Kernel, ns: str, name: str, lab: str, make: Any) -> None:
    """Create device ``ns:name`` with ``make(alias)`` (EEXIST when ours is success)."""
    alias = naming.owner_alias(lab)
    _create(k, lambda: make(alias), ns, name, alias)


@dataclass(frozen=True)
class MakeDummy(Op):
    """Create a dummy device."""

    kind: ClassVar[str] = "make_dummy"
    ns: str
    name: str
    lab: str
    mtu: int | None = None

    def describe(self) -> str:
        """Return one line."""
        return f"make dummy {self.ns}:{self.name}"

    def apply(self, k: Kernel) -> None:
        """Create it (EEXIST when ours is success)."""
        _make(
            k, self.ns, self.name, self.lab, lambda a: k.dummy_add(self.ns, self.name, a, self.mtu)
        )

    def undo(self) -> Op | None:
        """Delete it."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True, kw_only=True)
class MakeVlan(Op):
    """Create an 802.1Q (or 802.1ad) sub-interface of an interface of the same node."""

    kind: ClassVar[str] = "make_vlan"
    ns: str
    name: str
    lab: str
    parent: str
    vlan_id: int
    protocol: str = "802.1Q"
    mtu: int | None = None

    def describe(self) -> str:
        """Return one line."""
        return f"make vlan {self.ns}:{self.name} id {self.vlan_id} on {self.parent}"

    def apply(self, k: Kernel) -> None:
        """Create it (EEXIST when ours is success)."""
        _make(
            k, self.ns, self.name, self.lab,
            lambda a: k.vlan_add(
                self.ns, self.name, a, self.parent, self.vlan_id, self.protocol, self.mtu
            ),
        )  # fmt: skip

    def undo(self) -> Op | None:
        """Delete it."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True, kw_only=True)
class MakeBond(Op):
    """Create a bond; its members are enslaved by ``SetMaster`` ops after it."""

    kind: ClassVar[str] = "make_bond"
    ns: str
    name: str
    lab: str
    mode: str
    miimon: int = 100
    primary: str | None = None
    mtu: int | None = None

    def describe(self) -> str:
        """Return one line."""
        primary = f", primary {self.primary}" if self.primary else ""
        return f"make bond {self.ns}:{self.name} mode {self.mode} miimon {self.miimon}{primary}"

    def apply(self, k: Kernel) -> None:
        """Create it (EEXIST when ours is success)."""
        _make(
            k, self.ns, self.name, self.lab,
            lambda a: k.bond_add(
                self.ns, self.name, a, self.mode, self.miimon, self.primary, self.mtu
            ),
        )  # fmt: skip

    def undo(self) -> Op | None:
        """Delete it (its members are released)."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class MakeTeam(Op):
    """Create a team device in a kernel team mode; members are enslaved after it."""

    kind: ClassVar[str] = "make_team"
    ns: str
    name: str
    lab: str
    runner: str

    def describe(self) -> str:
        """Return one line."""
        return f"make team {self.ns}:{self.name} runner {self.runner}"

    def apply(self, k: Kernel) -> None:
        """Create it and set its mode (EEXIST when ours is success)."""
        _make(
            k,
            self.ns,
            self.name,
            self.lab,
            lambda a: k.team_add(self.ns, self.name, a, self.runner),
        )

    def undo(self) -> Op | None:
        """Delete it (its ports are released)."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class SetTeamPorts(Op):
    """Do what teamd would: ports take the team's MAC; an activebackup team gets its port.

    Without teamd the kernel leaves each port its own MAC (frames to the team's are
    dropped) and an activebackup team sends on no port until one is named.
    """

    kind: ClassVar[str] = "set_team_ports"
    ns: str
    name: str
    ports: tuple[str, ...]
    active: str | None = None

    def describe(self) -> str:
        """Return one line."""
        active = f", {self.active} active" if self.active else ""
        return f"give ports {', '.join(self.ports)} the MAC of team {self.ns}:{self.name}{active}"

    def apply(self, k: Kernel) -> None:
        """Set them."""
        k.team_ports_set(self.ns, self.name, self.ports, self.active)


@dataclass(frozen=True, kw_only=True)
class MakeIpvlan(Op):
    """Create an ipvlan (or ipvtap) child on a parent inside the lab."""

    kind: ClassVar[str] = "make_ipvlan"
    ns: str
    name: str
    lab: str
    parent_ns: str
    parent: str
    mode: str = "l2"
    tap: bool = False
    mtu: int | None = None

    def describe(self) -> str:
        """Return one line."""
        what = "ipvtap" if self.tap else "ipvlan"
        return (
            f"make {what} {self.ns}:{self.name} mode {self.mode} on {self.parent_ns}:{self.parent}"
        )

    def apply(self, k: Kernel) -> None:
        """Create it (EEXIST when ours is success)."""
        _make(
            k, self.ns, self.name, self.lab,
            lambda a: k.ipvlan_add(
                self.ns, self.name, a, self.parent_ns, self.parent, self.mode, self.tap, self.mtu
            ),
        )  # fmt: skip

    def undo(self) -> Op | None:
        """Delete it."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True, kw_only=True)
class MakeMacsec(Op):
    """Create a MACsec device on a parent of the same node, with its transmit SA.

    The key travels in the op (the plan is stored like the document that holds it);
    ``describe()`` never shows it.
    """

    kind: ClassVar[str] = "make_macsec"
    ns: str
    name: str
    lab: str
    parent: str
    port: int = 1
    cipher: str = "gcm-aes-128"
    encrypt: bool = True
    tx_an: int | None = None
    tx_pn: int = 1
    tx_key: str | None = None
    tx_key_id: str | None = None
    mtu: int | None = None

    def describe(self) -> str:
        """Return one line (without the key)."""
        tx = f", tx SA {self.tx_an} key id {self.tx_key_id}" if self.tx_key else ""
        enc = "encrypted" if self.encrypt else "authenticated only"
        where = f"{self.ns}:{self.name} on {self.parent} port {self.port}"
        return f"make macsec {where} {self.cipher} {enc}{tx}"

    def apply(self, k: Kernel) -> None:
        """Create it (EEXIST when ours is success)."""
        tx = None
        if self.tx_key is not None and self.tx_an is not None and self.tx_key_id is not None:
            tx = MacsecSA(self.tx_an, self.tx_pn, self.tx_key, self.tx_key_id)
        _make(
            k, self.ns, self.name, self.lab,
            lambda a: k.macsec_add(
                self.ns, self.name, a, self.parent, self.port, self.cipher, self.encrypt, tx,
                self.mtu,
            ),
        )  # fmt: skip

    def undo(self) -> Op | None:
        """Delete it."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True, kw_only=True)
class SetMacsecRx(Op):
    """Let a MACsec device accept a peer's frames: the peer's channel (its MAC and port) and key.

    The peer's MAC is read when the op runs: the planner cannot know the MAC of a
    device it has yet to make.
    """

    kind: ClassVar[str] = "set_macsec_rx"
    ns: str
    name: str
    peer_ns: str
    peer: str
    peer_port: int
    an: int
    pn: int
    key: str
    key_id: str

    def describe(self) -> str:
        """Return one line (without the key)."""
        return (
            f"accept {self.peer_ns}:{self.peer} port {self.peer_port} on macsec "
            f"{self.ns}:{self.name} (SA {self.an}, key id {self.key_id})"
        )

    def apply(self, k: Kernel) -> None:
        """Add (or replace) the channel's SA."""
        mac = k.link_mac(self.peer_ns, self.peer)
        sa = MacsecSA(self.an, self.pn, self.key, self.key_id)
        k.macsec_rx_set(self.ns, self.name, mac, self.peer_port, sa)


@dataclass(frozen=True)
class MakeVcan(Op):
    """Create a virtual CAN device."""

    kind: ClassVar[str] = "make_vcan"
    ns: str
    name: str
    lab: str

    def describe(self) -> str:
        """Return one line."""
        return f"make vcan {self.ns}:{self.name}"

    def apply(self, k: Kernel) -> None:
        """Create it (EEXIST when ours is success)."""
        _make(k, self.ns, self.name, self.lab, lambda a: k.vcan_add(self.ns, self.name, a))

    def undo(self) -> Op | None:
        """Delete it."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True, kw_only=True)
class MakeVxcan(Op):
    """Create a vxcan pair (a CAN tunnel) with each end directly in its namespace."""

    kind: ClassVar[str] = "make_vxcan"
    ns: str
    name: str
    peer_ns: str
    peer: str
    lab: str

    def describe(self) -> str:
        """Return one line."""
        return f"make vxcan {self.ns}:{self.name} <-> {self.peer_ns}:{self.peer}"

    def apply(self, k: Kernel) -> None:
        """Create the pair (EEXIST with both ends ours is success)."""
        alias = naming.owner_alias(self.lab)
        _create(
            k,
            lambda: k.vxcan_add(self.ns, self.name, self.peer_ns, self.peer, alias),
            self.ns,
            self.name,
            alias,
            (self.peer_ns, self.peer),
        )

    def undo(self) -> Op | None:
        """Delete one end (the kernel removes the pair)."""
        return DeleteLink(self.ns, self.name)


@dataclass(frozen=True)
class SetPortVlans(Op):
    """Make a port of a VLAN-filtering bridge carry exactly its VLANs (tagged) and PVID."""

    kind: ClassVar[str] = "set_port_vlans"
    ns: str
    name: str
    vlans: tuple[int, ...] = ()
    pvid: int | None = None

    def describe(self) -> str:
        """Return one line."""
        tagged = ",".join(str(v) for v in self.vlans) or "none"
        return f"set {self.ns}:{self.name} VLANs tagged {tagged}, untagged {self.pvid or 'none'}"

    def apply(self, k: Kernel) -> None:
        """Set them (the kernel layer adds and removes only the difference)."""
        k.port_vlans_set(self.ns, self.name, self.vlans, self.pvid)


@dataclass(frozen=True)
class DeleteLink(Op):
    """Delete an interface (a veth takes its peer with it)."""

    kind: ClassVar[str] = "delete_link"
    ns: str
    name: str

    def describe(self) -> str:
        """Return one line."""
        return f"delete interface {self.ns}:{self.name}"

    def apply(self, k: Kernel) -> None:
        """Delete (ENODEV/ENOENT is success)."""
        _tolerate_gone(lambda: k.link_delete(self.ns, self.name))


@dataclass(frozen=True)
class SetMaster(Op):
    """Enslave an interface to a bridge (or release it when ``master`` is None)."""

    kind: ClassVar[str] = "set_master"
    ns: str
    name: str
    master: str | None

    def describe(self) -> str:
        """Return one line."""
        if self.master is None:
            return f"release {self.ns}:{self.name} from its master"
        return f"enslave {self.ns}:{self.name} to {self.master}"

    def apply(self, k: Kernel) -> None:
        """Set the master (bridge, bond or team).

        A team refuses a port that is up (EBUSY): the port is then taken down for the
        change and brought up again.
        """
        if self.master is None:
            k.link_set(self.ns, self.name, nomaster=True)
            return
        try:
            k.link_set(self.ns, self.name, master=self.master)
        except KernelError as exc:
            if exc.errno != errno.EBUSY:
                raise
            k.link_set(self.ns, self.name, up=False)
            k.link_set(self.ns, self.name, master=self.master)
            k.link_set(self.ns, self.name, up=True)


@dataclass(frozen=True)
class SetMtu(Op):
    """Set an interface's MTU."""

    kind: ClassVar[str] = "set_mtu"
    ns: str
    name: str
    mtu: int

    def describe(self) -> str:
        """Return one line."""
        return f"set mtu {self.mtu} on {self.ns}:{self.name}"

    def apply(self, k: Kernel) -> None:
        """Set it."""
        k.link_set(self.ns, self.name, mtu=self.mtu)


@dataclass(frozen=True)
class SetMac(Op):
    """Set an interface's MAC address."""

    kind: ClassVar[str] = "set_mac"
    ns: str
    name: str
    mac: str

    def describe(self) -> str:
        """Return one line."""
        return f"set mac {self.mac} on {self.ns}:{self.name}"

    def apply(self, k: Kernel) -> None:
        """Set it."""
        k.link_set(self.ns, self.name, mac=self.mac)


@dataclass(frozen=True)
class SetUp(Op):
    """Bring an interface up (or, with ``up`` false, administratively down)."""

    kind: ClassVar[str] = "set_up"
    ns: str
    name: str
    up: bool = True

    def describe(self) -> str:
        """Return one line."""
        return f"set {self.ns}:{self.name} {'up' if self.up else 'down'}"

    def apply(self, k: Kernel) -> None:
        """Set the state."""
        k.link_set(self.ns, self.name, up=self.up)


@dataclass(frozen=True, kw_only=True)
class SetShaping(Op):
    """Condition what an interface sends: a rate, netem impairments, or nothing (in place)."""

    kind: ClassVar[str] = "set_shaping"
    ns: str
    name: str
    rate_mbit: int | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    duplicate_pct: float = 0.0
    reorder_pct: float = 0.0
    corrupt_pct: float = 0.0

    @property
    def shaping(self) -> Shaping:
        """The kernel layer's value of it."""
        return Shaping(
            self.rate_mbit, self.delay_ms, self.jitter_ms, self.loss_pct,
            self.duplicate_pct, self.reorder_pct, self.corrupt_pct,
        )  # fmt: skip

    def describe(self) -> str:
        """Return one line."""
        text = self.shaping.text()
        return (
            f"condition {self.ns}:{self.name}: {text}"
            if text
            else (f"remove the conditioning of {self.ns}:{self.name}")
        )

    def apply(self, k: Kernel) -> None:
        """Replace the root qdisc (the interface keeps its ifindex)."""
        k.shaping_set(self.ns, self.name, self.shaping)


@dataclass(frozen=True)
class ReplaceAddress(Op):
    """Add (or replace) an address on an interface."""

    kind: ClassVar[str] = "replace_address"
    ns: str
    dev: str
    address: str

    def describe(self) -> str:
        """Return one line."""
        return f"replace address {self.address} on {self.ns}:{self.dev}"

    def apply(self, k: Kernel) -> None:
        """Replace it."""
        k.addr_replace(self.ns, self.dev, self.address)


@dataclass(frozen=True)
class DeleteAddress(Op):
    """Remove an address from an interface."""

    kind: ClassVar[str] = "delete_address"
    ns: str
    dev: str
    address: str

    def describe(self) -> str:
        """Return one line."""
        return f"delete address {self.address} from {self.ns}:{self.dev}"

    def apply(self, k: Kernel) -> None:
        """Delete (absent is success)."""
        _tolerate_gone(lambda: k.addr_delete(self.ns, self.dev, self.address))


@dataclass(frozen=True)
class ReplaceRoute(Op):
    """Add (or replace) a static route."""

    kind: ClassVar[str] = "replace_route"
    ns: str
    dst: str
    via: str | None = None
    dev: str | None = None
    metric: int | None = None

    def describe(self) -> str:
        """Return one line."""
        return (
            f"replace route {_route_text(self.dst, self.via, self.dev, self.metric)} in {self.ns}"
        )

    def apply(self, k: Kernel) -> None:
        """Replace it."""
        k.route_replace(self.ns, self.dst, self.via, self.dev, self.metric)


@dataclass(frozen=True)
class DeleteRoute(Op):
    """Remove a static route."""

    kind: ClassVar[str] = "delete_route"
    ns: str
    dst: str
    via: str | None = None
    dev: str | None = None
    metric: int | None = None

    def describe(self) -> str:
        """Return one line."""
        return f"delete route {_route_text(self.dst, self.via, self.dev, self.metric)} in {self.ns}"

    def apply(self, k: Kernel) -> None:
        """Delete (absent is success)."""
        _tolerate_gone(lambda: k.route_delete(self.ns, self.dst, self.via, self.dev, self.metric))


def _route_text(dst: str, via: str | None, dev: str | None, metric: int | None) -> str:
    text = dst
    if via:
        text += f" via {via}"
    if dev:
        text += f" dev {dev}"
    if metric is not None:
        text += f" metric {metric}"
    return text


OP_TYPES: dict[str, type[Op]] = {
    cls.kind: cls
    for cls in (
        MakeNamespace,
        DeleteNamespace,
        SetSysctl,
        MakeVeth,
        MakeBridge,
        MakeVxlan,
        MakeMacvlan,
        MakeTuntap,
        MakeDummy,
        MakeVlan,
        MakeBond,
        MakeTeam,
        SetTeamPorts,
        MakeIpvlan,
        MakeMacsec,
        SetMacsecRx,
        MakeVcan,
        MakeVxcan,
        SetPortVlans,
        DeleteLink,
        SetMaster,
        SetMtu,
        SetMac,
        SetUp,
        SetShaping,
        ReplaceAddress,
        DeleteAddress,
        ReplaceRoute,
        DeleteRoute,
    )
}


def op_from_json(data: dict[str, Any]) -> Op:
    """Rebuild an op from ``Op.to_json()``.

    Raises:
        EngineError: unknown op name or fields.
    """
    fields = dict(data)
    cls = OP_TYPES.get(str(fields.pop("op", "")))
    if cls is None:
        raise EngineError(f"unknown op {data.get('op')!r}")
    for key, value in fields.items():
        if isinstance(value, list):
            fields[key] = tuple(value)
    try:
        return cls(**fields)
    except TypeError as exc:
        raise EngineError(f"bad op {data!r}: {exc}") from None
