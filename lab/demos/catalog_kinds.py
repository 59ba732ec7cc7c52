"""Demos of the device kinds some kernels lack: bond, VLAN, MACsec, CAN, ipvlan.

Pure data, like ``catalog.py`` (which registers ``KIND_DEMOS``). Each demo's ``show``
names the view ``worker/demos.py`` runs besides the probes: ``bond`` (fail a member
over while a ping runs), ``macsec`` (capture the wire and the MACsec device),
``can`` (send and receive CAN frames with Python's ``AF_CAN`` in the nodes) and
``macs`` (each child's MAC beside its parent's). ``required_modules`` lists the
kernel modules a demo needs, so a host without one can say so before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lab.demos.catalog import Demo, JourneySpec, Probe
from lab.topology.load import load_topology
from lab.topology.schema import KERNEL_MODULES

# The keys of the MACsec demo: fixed, public, a demo's and nobody's secret.
_KEY_A = "000102030405060708090a0b0c0d0e0f"
_KEY_B = "f0e0d0c0b0a090807060504030201000"


def _host(name: str, *ifaces: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "interfaces": [{"name": n, "addresses": [a] if a else []} for n, a in ifaces],
        **extra,
    }


BOND_FAILOVER = Demo(
    slug="bond-failover",
    title="Bond failover",
    summary="Two members under one active-backup bond: a ping keeps going while the "
    "active member goes down.",
    explanation=(
        "A bond joins several interfaces (its members) into one. In **active-backup** "
        "mode one member carries all the traffic and the others wait; the bond checks "
        "each member's carrier every `miimon` milliseconds (here 50) and, when the "
        "active one goes down, makes another active and announces the move with a "
        "gratuitous ARP, so the switch learns the new port.\n\n"
        "`srv` has `bond0` (10.70.0.1) over `eth0` (the primary) and `eth1`, both wired "
        "to the switch `sw`; `cli` hangs on the same switch. Press **Run**: `cli` pings "
        "`srv` while the demo takes the active member down in the middle. The ping "
        "keeps getting answers, and the view shows which member was active before and "
        "after. The member comes back up afterwards."
    ),
    topology={
        "name": "bond-failover",
        "description": "An active-backup bond whose members go to one switch.",
        "nodes": [
            _host("srv", ("eth0", ""), ("eth1", ""), ("bond0", "10.70.0.1/24")),
            {
                "name": "sw",
                "kind": "switch",
                "interfaces": [{"name": "p1"}, {"name": "p2"}, {"name": "p3"}],
            },
            _host("cli", ("eth0", "10.70.0.2/24")),
        ],
        "links": [
            {"kind": "veth", "a": "srv:eth0", "b": "sw:p1"},
            {"kind": "veth", "a": "srv:eth1", "b": "sw:p2"},
            {"kind": "veth", "a": "cli:eth0", "b": "sw:p3"},
            {
                "kind": "bond",
                "endpoint": "srv:bond0",
                "members": ["eth0", "eth1"],
                "mode": "active-backup",
                "miimon": 50,
                "primary": "eth0",
            },
        ],
    },
    probes=(Probe("cli", "10.70.0.1", label="cli pings the bond"),),
    journey=JourneySpec("cli", "10.70.0.1", must_show=("cli:eth0", "srv:bond0")),
    show=("bond",),
)

VLAN_TRUNK = Demo(
    slug="vlan-trunk",
    title="Two VLANs over one trunk",
    summary="802.1Q sub-interfaces on a trunk and a VLAN-aware switch: "
    "one cable, two segments that never meet.",
    explanation=(
        "A VLAN splits one Ethernet into several: each frame carries a 12-bit VLAN id "
        "in an 802.1Q tag, and a VLAN-aware switch delivers a frame only to ports of "
        "its VLAN. A **trunk** port carries several VLANs tagged; an **access** port "
        "carries one, untagged.\n\n"
        "The switch `sw` has a trunk `p1` (VLANs 10 and 20) towards `trk`, whose "
        "`eth0.10` and `eth0.20` are 802.1Q sub-interfaces of one `eth0`; `h1` is on "
        "VLAN 10 and `h2` on VLAN 20 through access ports. `h3` is on VLAN 20 too, but "
        "with an address in VLAN 10's subnet. Press **Run**: `h1` reaches `trk` over "
        "VLAN 10 and `h2` over VLAN 20, on the same cable; `h3` reaches neither `h1` nor "
        "`trk`'s VLAN 10 address, though they share a subnet: its ARP requests never "
        "leave VLAN 20."
    ),
    topology={
        "name": "vlan-trunk",
        "description": "Two VLANs over one trunk.",
        "nodes": [
            _host("trk", ("eth0", ""), ("eth0.10", "10.10.0.1/24"), ("eth0.20", "10.20.0.1/24")),
            {
                "name": "sw",
                "bridges": [{"name": "br0", "vlan_filtering": True}],
                "interfaces": [
                    {"name": "p1", "bridge": "br0", "vlans": [10, 20]},
                    {"name": "p2", "bridge": "br0", "pvid": 10},
                    {"name": "p3", "bridge": "br0", "pvid": 20},
                    {"name": "p4", "bridge": "br0", "pvid": 20},
                ],
            },
            _host("h1", ("eth0", "10.10.0.2/24")),
            _host("h2", ("eth0", "10.20.0.2/24")),
            _host("h3", ("eth0", "10.10.0.3/24")),
        ],
        "links": [
            {"kind": "veth", "a": "trk:eth0", "b": "sw:p1"},
            {"kind": "veth", "a": "h1:eth0", "b": "sw:p2"},
            {"kind": "veth", "a": "h2:eth0", "b": "sw:p3"},
            {"kind": "veth", "a": "h3:eth0", "b": "sw:p4"},
            {"kind": "vlan", "endpoint": "trk:eth0.10", "parent": "eth0", "vlan_id": 10},
            {"kind": "vlan", "endpoint": "trk:eth0.20", "parent": "eth0", "vlan_id": 20},
        ],
    },
    probes=(
        Probe("h1", "10.10.0.1", "reach", "VLAN 10 crosses the trunk tagged", "h1 → trk (VLAN 10)"),
        Probe("h2", "10.20.0.1", "reach", "VLAN 20 crosses the same trunk", "h2 → trk (VLAN 20)"),
        Probe(
            "h3",
            "10.10.0.2",
            "refuse",
            "h3 is on VLAN 20: h1's VLAN 10 is not its segment",
            "h3 → h1 (other VLAN)",
        ),
        Probe(
            "h3",
            "10.10.0.1",
            "refuse",
            "the trunk delivers h3's frames to eth0.20 only",
            "h3 → trk's VLAN 10",
        ),
    ),
    journey=JourneySpec("h1", "10.10.0.1", must_show=("h1:eth0", "trk:eth0.10")),
)

MACSEC = Demo(
    slug="macsec-wire",
    title="MACsec on the wire",
    summary="Two nodes encrypt their Ethernet with MACsec: the wire shows only "
    "ciphertext, the MACsec device plaintext.",
    explanation=(
        "MACsec (802.1AE) protects Ethernet hop by hop. A `macsec` device sits on a "
        "parent interface; what is sent through it leaves the parent as a MACsec "
        "frame (EtherType 0x88E5) whose payload is encrypted and authenticated with "
        "GCM-AES-128 under the sender's key (its transmit secure association). The "
        "receiver holds that key in a receive association for the sender's secure "
        "channel, checks and decrypts the frame, and hands the original packet to its "
        "own `macsec` device.\n\n"
        "`a` and `b` are joined by one veth; each has `ms0` on `eth0` with its own key "
        "and the other's. Press **Run**: `a` pings `b` over `ms0` while the demo "
        "captures both `b:eth0` (the wire) and `b:ms0`. On the wire every frame is "
        "MACsec and no ICMP is readable; on `ms0` the same pings are plain ICMP."
    ),
    topology={
        "name": "macsec-wire",
        "description": "MACsec between two nodes.",
        "nodes": [
            _host("a", ("eth0", ""), ("ms0", "10.73.0.1/24")),
            _host("b", ("eth0", ""), ("ms0", "10.73.0.2/24")),
        ],
        "links": [
            {"kind": "veth", "a": "a:eth0", "b": "b:eth0"},
            {
                "kind": "macsec",
                "endpoint": "a:ms0",
                "parent": "eth0",
                "encrypt": True,
                "tx": {"key": _KEY_A},
                "rx": [{"peer": "b:ms0", "key": {"key": _KEY_B}}],
            },
            {
                "kind": "macsec",
                "endpoint": "b:ms0",
                "parent": "eth0",
                "encrypt": True,
                "tx": {"key": _KEY_B},
                "rx": [{"peer": "a:ms0", "key": {"key": _KEY_A}}],
            },
        ],
    },
    probes=(Probe("a", "10.73.0.2", label="a pings b through MACsec"),),
    journey=JourneySpec("a", "10.73.0.2", must_show=("a:ms0", "b:ms0")),
    show=("macsec",),
)

CAN = Demo(
    slug="can-bus",
    title="CAN buses: vcan and vxcan",
    summary="A virtual CAN bus inside a node and a vxcan pair between two nodes, "
    "with frames sent and received through Python's AF_CAN sockets.",
    explanation=(
        "Linux speaks CAN, the bus of cars and machines, through SocketCAN: a CAN "
        "interface is a network device, and programs send and receive frames (an "
        "11-bit id and up to 8 data bytes) on `AF_CAN` raw sockets.\n\n"
        "A **vcan** device is a bus with nothing on it but the node's own programs: a "
        "frame one socket sends, every other socket on `can0` receives. A **vxcan** "
        "pair is a CAN cable between two namespaces, as veth is for Ethernet.\n\n"
        "`ecu` has `can0` (vcan) and `vxc0`, whose peer is `dash:vxc0`. Press **Run**: "
        "a Python program in `ecu` sends frame 0x123 on `can0` and receives it on a "
        "second socket; then `dash` listens on `vxc0` while `ecu` sends frame 0x42 into "
        "the pair. The view shows each frame as it was received."
    ),
    topology={
        "name": "can-bus",
        "description": "A vcan bus and a vxcan pair.",
        "nodes": [_host("ecu", ("can0", ""), ("vxc0", "")), _host("dash", ("vxc0", ""))],
        "links": [
            {"kind": "vcan", "endpoint": "ecu:can0"},
            {"kind": "vxcan", "a": "ecu:vxc0", "b": "dash:vxc0"},
        ],
    },
    probes=(),
    show=("can",),
)

IPVLAN_VS_MACVLAN = Demo(
    slug="ipvlan-vs-macvlan",
    title="ipvlan against macvlan",
    summary="Children of one parent: ipvlan gives them all the parent's MAC, macvlan one MAC each.",
    explanation=(
        "Both put many interfaces on one parent's wire. A **macvlan** child has a MAC "
        "address of its own: the wire sees one station per child, and the parent "
        "demultiplexes arriving frames by destination MAC. An **ipvlan** child shares "
        "its parent's MAC: the wire sees one station, and the parent demultiplexes by "
        "IP address. That matters where a switch port allows one MAC, or a cloud "
        "network knows only the MAC it gave the machine.\n\n"
        "`host` has two parents: `eth0` with the ipvlan children `ip1` and `ip2` (l2 "
        "mode), `eth1` with the macvlan children `mv1` and `mv2` (bridge mode), each "
        "child in a node of its own. Press **Run**: every child pings `ext` and its "
        "sibling; the view lists each child's MAC beside its parent's, and `ext`'s ARP "
        "table: two addresses at one MAC on the ipvlan side, two MACs on the macvlan "
        "side."
    ),
    topology={
        "name": "ipvlan-vs-macvlan",
        "description": "ipvlan and macvlan children side by side.",
        "nodes": [
            _host("host", ("eth0", ""), ("eth1", "")),
            _host("ext", ("eth0", "10.81.0.254/24"), ("eth1", "10.82.0.254/24")),
            _host("ip1", ("ipv0", "10.81.0.1/24")),
            _host("ip2", ("ipv0", "10.81.0.2/24")),
            _host("mv1", ("mv0", "10.82.0.1/24")),
            _host("mv2", ("mv0", "10.82.0.2/24")),
        ],
        "links": [
            {"kind": "veth", "a": "host:eth0", "b": "ext:eth0"},
            {"kind": "veth", "a": "host:eth1", "b": "ext:eth1"},
            {"kind": "ipvlan", "endpoint": "ip1:ipv0", "parent": "host:eth0", "mode": "l2"},
            {"kind": "ipvlan", "endpoint": "ip2:ipv0", "parent": "host:eth0", "mode": "l2"},
            {"kind": "macvlan", "endpoint": "mv1:mv0", "parent": "host:eth1", "mode": "bridge"},
            {"kind": "macvlan", "endpoint": "mv2:mv0", "parent": "host:eth1", "mode": "bridge"},
        ],
    },
    probes=(
        Probe("ip1", "10.81.0.254", label="ip1 → ext"),
        Probe("ip2", "10.81.0.254", label="ip2 → ext"),
        Probe("ip1", "10.81.0.2", label="ip1 → ip2 (ipvlan siblings)"),
        Probe("mv1", "10.82.0.254", label="mv1 → ext"),
        Probe("mv2", "10.82.0.254", label="mv2 → ext"),
        Probe("mv1", "10.82.0.2", label="mv1 → mv2 (macvlan bridge mode)"),
    ),
    show=("macs",),
)

KIND_DEMOS: tuple[Demo, ...] = (BOND_FAILOVER, VLAN_TRUNK, MACSEC, CAN, IPVLAN_VS_MACVLAN)


def required_kinds(demo: Demo) -> tuple[str, ...]:
    """Return what ``demo``'s topology asks of the kernel (link kinds, ``bridge-vlan``...)."""
    return tuple(sorted(load_topology(demo.topology).link_kinds()))


def required_modules(demo: Demo) -> tuple[str, ...]:
    """Return the kernel modules ``demo`` needs, by name (``bonding``, ``8021q``...)."""
    return tuple(sorted({KERNEL_MODULES.get(k, k) for k in required_kinds(demo)}))


def missing_modules(demo: Demo, host_kinds: Iterable[str]) -> tuple[str, ...]:
    """Return the modules ``demo`` needs that a host reporting ``host_kinds`` lacks."""
    have = set(host_kinds)
    return tuple(sorted({KERNEL_MODULES.get(k, k) for k in required_kinds(demo) if k not in have}))
