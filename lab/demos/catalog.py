"""The demo library: ready labs that show how Linux virtual devices move packets.

Pure data. Each demo is a topology document, an explanation in Topolab's own
words, the traffic its "run" button makes (with the outcome each probe must
have), and the journey to trace. The engine builds the topology, the worker
runs the probes, the telemetry journey shows the hops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Probe:
    """One piece of traffic the demo's run button makes."""

    src: str  # node that sends
    dst: str  # address it pings
    expect: Literal["reach", "refuse"] = "reach"
    why: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class JourneySpec:
    """The trace the demo shows: from a node to an address, and the hop kinds it must hold."""

    src: str
    dst: str
    must_show: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Demo:
    """A one-click lab with its explanation, traffic and journey."""

    slug: str
    title: str
    summary: str
    explanation: str
    topology: dict[str, Any]
    probes: tuple[Probe, ...]
    journey: JourneySpec | None = None
    show: tuple[str, ...] = field(default=())  # extra views: "fdb", "matrix"


def _if(name: str, *addresses: str, bridge: str | None = None, **extra: Any) -> dict[str, Any]:
    iface: dict[str, Any] = {"name": name}
    if addresses:
        iface["addresses"] = list(addresses)
    if bridge:
        iface["bridge"] = bridge
    iface.update(extra)
    return iface


def _veth(a: str, b: str) -> dict[str, Any]:
    return {"kind": "veth", "a": a, "b": b}


VETH_PAIR = Demo(
    slug="veth-pair",
    title="A veth pair",
    summary="Two namespaces joined by a veth pair: what leaves one end arrives at the other.",
    explanation=(
        "A veth pair is a virtual cable with a network interface at each end. The kernel "
        "hands every frame transmitted on one end straight to the receive path of the "
        "other end; nothing sits in between.\n\n"
        "Here `left` and `right` are two network namespaces, each with its own interfaces, "
        "routes and ARP table. Their `eth0` interfaces are the two ends of one veth pair.\n\n"
        "Press **Run**: `left` pings `right`. The journey shows the same ICMP echo request "
        "leaving `left:eth0` and, a few microseconds later, arriving on `right:eth0`, then "
        "the reply taking the way back."
    ),
    topology={
        "name": "veth-pair",
        "description": "Two namespaces joined by a veth pair.",
        "nodes": [
            {"name": "left", "interfaces": [_if("eth0", "10.0.0.1/24")]},
            {"name": "right", "interfaces": [_if("eth0", "10.0.0.2/24")]},
        ],
        "links": [_veth("left:eth0", "right:eth0")],
    },
    probes=(Probe("left", "10.0.0.2", label="left pings right"),),
    journey=JourneySpec("left", "10.0.0.2", must_show=("left:eth0", "right:eth0")),
)

BRIDGE = Demo(
    slug="container-bridge",
    title="Containers on a bridge",
    summary="Three namespaces plugged into a Linux bridge through veth pairs, "
    "the way container engines wire containers.",
    explanation=(
        "Container engines give each container a namespace and a veth pair: one end "
        "becomes the container's `eth0`, the other end is plugged into a Linux bridge on "
        "the host. The bridge is a software switch: it learns which MAC address sits "
        "behind which port and forwards frames only where they need to go.\n\n"
        "Press **Run**: `c1` pings `c2` and `c3`. The first ping starts with an ARP "
        "broadcast, which the bridge floods to every port; the replies teach the bridge "
        "where each container lives. The forwarding table (`bridge fdb`) shown after the "
        "run lists the learned MAC addresses and their ports."
    ),
    topology={
        "name": "container-bridge",
        "description": "Three containers on a bridge.",
        "nodes": [
            {
                "name": "bridge",
                "kind": "switch",
                "interfaces": [_if("veth1"), _if("veth2"), _if("veth3")],
            },
            {"name": "c1", "interfaces": [_if("eth0", "172.17.0.2/16")]},
            {"name": "c2", "interfaces": [_if("eth0", "172.17.0.3/16")]},
            {"name": "c3", "interfaces": [_if("eth0", "172.17.0.4/16")]},
        ],
        "links": [
            _veth("c1:eth0", "bridge:veth1"),
            _veth("c2:eth0", "bridge:veth2"),
            _veth("c3:eth0", "bridge:veth3"),
        ],
    },
    probes=(
        Probe("c1", "172.17.0.3", label="c1 pings c2"),
        Probe("c1", "172.17.0.4", label="c1 pings c3"),
    ),
    journey=JourneySpec("c1", "172.17.0.3", must_show=("c1:eth0", "bridge:veth1", "c2:eth0")),
    show=("fdb",),
)

ROUTING = Demo(
    slug="routing",
    title="Routing between two subnets",
    summary="Two subnets joined by a router namespace with forwarding on.",
    explanation=(
        "A router is a host that forwards packets that are not addressed to it. In Linux "
        "that is one switch: `net.ipv4.ip_forward=1`.\n\n"
        "`h1` lives on 10.1.0.0/24 and `h2` on 10.2.0.0/24; each sends everything off its "
        "own subnet to its default gateway, the router `r1`. Press **Run**: `h1` pings "
        "`h2`. The journey shows the packet entering `r1` on `eth0` and leaving on `eth1` "
        "with its TTL one lower and new source and destination MAC addresses: routing "
        "rewrites the Ethernet header at every hop, while the IP addresses stay the same."
    ),
    topology={
        "name": "routing",
        "description": "Two subnets joined by a router.",
        "nodes": [
            {
                "name": "h1",
                "interfaces": [_if("eth0", "10.1.0.2/24")],
                "gateway": "10.1.0.1",
            },
            {
                "name": "r1",
                "kind": "router",
                "interfaces": [_if("eth0", "10.1.0.1/24"), _if("eth1", "10.2.0.1/24")],
            },
            {
                "name": "h2",
                "interfaces": [_if("eth0", "10.2.0.2/24")],
                "gateway": "10.2.0.1",
            },
        ],
        "links": [_veth("h1:eth0", "r1:eth0"), _veth("r1:eth1", "h2:eth0")],
    },
    probes=(Probe("h1", "10.2.0.2", label="h1 pings h2 through r1"),),
    journey=JourneySpec(
        "h1", "10.2.0.2", must_show=("h1:eth0", "r1:eth0", "r1:eth1", "h2:eth0", "ttl")
    ),
)

VXLAN = Demo(
    slug="vxlan-overlay",
    title="A VXLAN overlay",
    summary="Two hosts on an underlay network carry a shared Layer 2 overlay in UDP.",
    explanation=(
        "VXLAN stretches one Ethernet segment across an IP network. Each host has a "
        "`vxlan` device (here VNI 100, UDP port 4789) plugged into a bridge together with "
        "its guests. A frame a guest sends reaches the bridge, which hands it to the vxlan "
        "device; the device wraps the whole Ethernet frame in a VXLAN header, a UDP "
        "datagram and an outer IP packet addressed to the other host, and sends it over "
        "the underlay. The far host's vxlan device unwraps it and its bridge delivers the "
        "original frame to the guest.\n\n"
        "Press **Run**: `g1` (10.10.0.1) pings `g2` (10.10.0.2); to the guests they share a "
        "subnet. The journey shows the frame on the guest veth, wrapped in UDP/VXLAN "
        "(VNI 100) on the underlay between 192.168.100.1 and 192.168.100.2, and unwrapped "
        "on the far side."
    ),
    topology={
        "name": "vxlan-overlay",
        "description": "Two hosts, a VXLAN overlay (VNI 100), one guest on each.",
        "nodes": [
            {
                "name": "hostA",
                "bridges": [{"name": "br0"}],
                "interfaces": [
                    _if("eth0", "192.168.100.1/24"),
                    _if("vxlan100", bridge="br0"),
                    _if("port1", bridge="br0"),
                ],
            },
            {
                "name": "hostB",
                "bridges": [{"name": "br0"}],
                "interfaces": [
                    _if("eth0", "192.168.100.2/24"),
                    _if("vxlan100", bridge="br0"),
                    _if("port1", bridge="br0"),
                ],
            },
            {"name": "g1", "interfaces": [_if("eth0", "10.10.0.1/24", mtu=1450)]},
            {"name": "g2", "interfaces": [_if("eth0", "10.10.0.2/24", mtu=1450)]},
        ],
        "links": [
            _veth("hostA:eth0", "hostB:eth0"),
            {
                "kind": "vxlan",
                "endpoint": "hostA:vxlan100",
                "vni": 100,
                "local": "192.168.100.1",
                "remote": "192.168.100.2",
                "dstport": 4789,
                "underlay": "eth0",
            },
            {
                "kind": "vxlan",
                "endpoint": "hostB:vxlan100",
                "vni": 100,
                "local": "192.168.100.2",
                "remote": "192.168.100.1",
                "dstport": 4789,
                "underlay": "eth0",
            },
            _veth("g1:eth0", "hostA:port1"),
            _veth("g2:eth0", "hostB:port1"),
        ],
    },
    probes=(Probe("g1", "10.10.0.2", label="g1 pings g2 across the overlay"),),
    journey=JourneySpec(
        "g1", "10.10.0.2", must_show=("g1:eth0", "hostA:eth0", "vxlan", "vni 100", "g2:eth0")
    ),
)

TUN_VPN = Demo(
    slug="tun-vpn",
    title="A user-space VPN over TUN",
    summary="A tunnel program reads IP packets from tun0, wraps them in UDP and "
    "sends them to its peer.",
    explanation=(
        "A TUN device is a network interface whose other side is a program instead of a "
        "wire. Packets the kernel routes into `tun0` are read by the program that holds "
        "the device open; packets the program writes into it enter the kernel as if they "
        "had arrived on an interface. That is how user-space VPNs work.\n\n"
        "`siteA` and `siteB` are joined by an underlay (198.18.0.0/24). On each, Topolab's "
        "tunnel program (`worker/apps/tunnel.py`) holds `tun0` (10.8.0.1 and 10.8.0.2). "
        "Press **Run**: `siteA` pings 10.8.0.2. The kernel routes the echo request into "
        "`tun0`; the tunnel program reads it, wraps it in a UDP datagram to 198.18.0.2 "
        "port 5555 and sends it over the underlay; the peer's program unwraps it and "
        "writes it into its own `tun0`, where siteB's kernel answers. The journey shows "
        "app, tun0, tunnel program, UDP on the underlay, peer program, tun0, app."
    ),
    topology={
        "name": "tun-vpn",
        "description": "A user-space UDP tunnel between two TUN devices.",
        "nodes": [
            {
                "name": "siteA",
                "interfaces": [_if("eth0", "198.18.0.1/24"), _if("tun0", "10.8.0.1/24")],
            },
            {
                "name": "siteB",
                "interfaces": [_if("eth0", "198.18.0.2/24"), _if("tun0", "10.8.0.2/24")],
            },
        ],
        "links": [
            _veth("siteA:eth0", "siteB:eth0"),
            {
                "kind": "tun",
                "endpoint": "siteA:tun0",
                "program": {
                    "app": "tunnel",
                    "args": ["--local", "198.18.0.1:5555", "--peer", "198.18.0.2:5555"],
                },
            },
            {
                "kind": "tun",
                "endpoint": "siteB:tun0",
                "program": {
                    "app": "tunnel",
                    "args": ["--local", "198.18.0.2:5555", "--peer", "198.18.0.1:5555"],
                },
            },
        ],
    },
    probes=(Probe("siteA", "10.8.0.2", label="siteA pings siteB through the tunnel"),),
    journey=JourneySpec(
        "siteA", "10.8.0.2", must_show=("siteA:tun0", "tunnel", "siteA:eth0", "udp", "siteB:tun0")
    ),
)

TAP_ENDPOINT = Demo(
    slug="tap-on-bridge",
    title="A tap device on a bridge",
    summary="The way a virtual machine's NIC is wired: a tap on a bridge, "
    "held by a user-space endpoint.",
    explanation=(
        "A TAP device is like TUN but one layer lower: the program on its other side "
        "reads and writes whole Ethernet frames. A hypervisor gives each virtual machine "
        "a tap device plugged into a bridge; the VM's emulated NIC is the program.\n\n"
        "Here `hv` holds a bridge with `tap0` and a port towards `client`. Topolab's tap "
        "endpoint (`worker/apps/tap_endpoint.py`) plays the VM: it answers ARP and ping "
        "for 192.168.50.10 with frames it builds itself. Press **Run**: `client` pings "
        "192.168.50.10; the journey shows the frames crossing the bridge into `tap0`, "
        "into user space, and the endpoint's replies coming back out."
    ),
    topology={
        "name": "tap-on-bridge",
        "description": "A tap on a bridge held by a user-space endpoint.",
        "nodes": [
            {
                "name": "hv",
                "bridges": [{"name": "br0"}],
                "interfaces": [_if("tap0", bridge="br0"), _if("eth1", bridge="br0")],
            },
            {"name": "client", "interfaces": [_if("eth0", "192.168.50.1/24")]},
        ],
        "links": [
            _veth("client:eth0", "hv:eth1"),
            {
                "kind": "tap",
                "endpoint": "hv:tap0",
                "program": {
                    "app": "tap-endpoint",
                    "args": ["--ip", "192.168.50.10/24", "--mac", "02:00:00:00:50:10"],
                },
            },
        ],
    },
    probes=(Probe("client", "192.168.50.10", label="client pings the tap endpoint"),),
    journey=JourneySpec("client", "192.168.50.10", must_show=("client:eth0", "hv:eth1", "hv:tap0")),
)


def _macvlan_group(mode: str, subnet: int, children: int) -> tuple[list[Any], list[Any]]:
    nodes: list[Any] = []
    links: list[Any] = []
    for i in range(1, children + 1):
        name = f"{mode[:4]}{i}"
        nodes.append({"name": name, "interfaces": [_if("eth0", f"10.{subnet}.0.{10 + i}/24")]})
        links.append(
            {
                "kind": "macvlan",
                "endpoint": f"{name}:eth0",
                "parent": f"lan:p{mode[:4]}",
                "mode": mode,
            }
        )
    return nodes, links


def _macvlan_topology() -> dict[str, Any]:
    groups = [("bridge", 11, 2), ("private", 12, 2), ("vepa", 13, 2), ("passthru", 14, 1)]
    nodes: list[Any] = [
        {"name": "lan", "interfaces": [_if(f"p{m[:4]}") for m, _, _ in groups]},
        {
            "name": "ext",
            "interfaces": [_if(f"e{m[:4]}", f"10.{s}.0.254/24") for m, s, _ in groups],
        },
    ]
    links: list[Any] = [_veth(f"lan:p{m[:4]}", f"ext:e{m[:4]}") for m, _, _ in groups]
    for mode, subnet, count in groups:
        more_nodes, more_links = _macvlan_group(mode, subnet, count)
        nodes += more_nodes
        links += more_links
    return {
        "name": "macvlan-modes",
        "description": "macvlan children in bridge, private, vepa and passthru mode.",
        "nodes": nodes,
        "links": links,
    }


MACVLAN = Demo(
    slug="macvlan-modes",
    title="macvlan modes",
    summary="macvlan children in bridge, private, vepa and passthru mode, and who can reach whom.",
    explanation=(
        "A macvlan device is a child of a parent interface with its own MAC address: many "
        "children share one wire. Its mode decides what happens to traffic between "
        "children of the same parent:\n\n"
        "* **bridge**: the kernel switches frames between bridge-mode children directly, "
        "without touching the wire. `brid1` reaches `brid2`.\n"
        "* **private**: children never talk to each other, not even through the outside "
        "switch. `priv1` cannot reach `priv2`, yet both reach `ext`.\n"
        "* **vepa**: every frame goes out to the external switch, which must send it back "
        "(hairpin) for two children to talk. `ext` here is a plain host, not a hairpin "
        "switch, so `vepa1` cannot reach `vepa2`; both reach `ext`.\n"
        "* **passthru**: one child takes over the parent alone. `pass1` reaches `ext`.\n\n"
        "Each mode gets its own parent in `lan` (passthru must be the only child of its "
        "parent, and modes mixed on one parent would blur the matrix). Press **Run** for "
        "the reachability matrix."
    ),
    topology=_macvlan_topology(),
    probes=(
        Probe(
            "brid1", "10.11.0.12", "reach", "bridge mode switches between siblings", "bridge↔bridge"
        ),
        Probe("brid1", "10.11.0.254", "reach", "every mode reaches the wire", "bridge→ext"),
        Probe("priv1", "10.12.0.12", "refuse", "private mode isolates siblings", "private↔private"),
        Probe("priv1", "10.12.0.254", "reach", "every mode reaches the wire", "private→ext"),
        Probe("vepa1", "10.13.0.12", "refuse", "vepa needs a hairpin switch", "vepa↔vepa"),
        Probe("vepa1", "10.13.0.254", "reach", "every mode reaches the wire", "vepa→ext"),
        Probe("pass1", "10.14.0.254", "reach", "passthru owns the parent", "passthru→ext"),
    ),
    journey=JourneySpec("brid1", "10.11.0.12", must_show=("brid1:eth0", "brid2:eth0")),
    show=("matrix",),
)

MACVTAP = Demo(
    slug="macvtap",
    title="macvtap: a macvlan with a character device",
    summary="A macvtap on a parent; a user-space program reads its character device.",
    explanation=(
        "macvtap combines the two previous ideas: it is a macvlan child of a parent "
        "interface, but instead of handing frames to the kernel's stack it hands them to "
        "a program through a character device (`/dev/tapN`), like a tap. Hypervisors use "
        "it to give a VM a presence directly on the host's wire without a bridge.\n\n"
        "Here the macvtap `mvtap0` sits on `lan:eth0`; Topolab's reader "
        "(`worker/apps/macvtap_reader.py`) opens its character device and answers ARP "
        "and ping for 10.20.0.10. Press **Run**: `ext` pings 10.20.0.10 and the replies "
        "come from user space."
    ),
    topology={
        "name": "macvtap",
        "description": "A macvtap whose character device is read by a program.",
        "nodes": [
            {"name": "lan", "interfaces": [_if("eth0"), _if("mvtap0")]},
            {"name": "ext", "interfaces": [_if("eth0", "10.20.0.1/24")]},
        ],
        "links": [
            _veth("lan:eth0", "ext:eth0"),
            {
                "kind": "macvtap",
                "endpoint": "lan:mvtap0",
                "parent": "lan:eth0",
                "mode": "bridge",
                "program": {
                    "app": "macvtap-reader",
                    "args": ["--ip", "10.20.0.10/24", "--answer"],
                },
            },
        ],
    },
    probes=(Probe("ext", "10.20.0.10", label="ext pings the program behind the macvtap"),),
    journey=JourneySpec("ext", "10.20.0.10", must_show=("ext:eth0", "lan:eth0")),
)

from lab.demos import catalog_kinds as _kinds  # noqa: E402 - it builds on the classes above
from lab.demos import catalog_routing as _routing  # noqa: E402 - as catalog_kinds

DEMOS: tuple[Demo, ...] = (
    VETH_PAIR,
    BRIDGE,
    ROUTING,
    VXLAN,
    TUN_VPN,
    TAP_ENDPOINT,
    MACVLAN,
    MACVTAP,
    *_kinds.KIND_DEMOS,
    *_routing.ROUTING_DEMOS,
)


def get_demo(slug: str) -> Demo | None:
    """Return the demo called ``slug``, or None."""
    return next((demo for demo in DEMOS if demo.slug == slug), None)
