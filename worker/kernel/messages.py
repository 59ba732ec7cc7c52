"""Netlink messages of the seed kinds, built and read with pyroute2's own message classes.

The hot path (veth, bridge, address, route, up; ``netlink.py``) stays hand-packed for
speed. The kinds the seed articles add (vlan, bond, team, ipvlan/ipvtap, macsec, vcan,
vxcan, dummy, VLAN-filtering bridge ports) carry many attributes, and team and macsec
are configured through generic netlink families: their messages come from pyroute2's
``ifinfmsg`` (and its kind plugins) and ``genlmsg``, where pyroute2 lacks a class
(macsec link data, vxcan, the team and macsec families) one is declared here in
pyroute2's own terms, and the encoded bytes go over the engine's own sockets. Encoding
one message this way costs ~100 us, which these rare kinds can afford.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from pyroute2.netlink import NETLINK_GENERIC as _NETLINK_GENERIC
from pyroute2.netlink import NLMSG_MIN_TYPE, ctrlmsg, genlmsg, nla
from pyroute2.netlink.rtnl import TC_H_ROOT
from pyroute2.netlink.rtnl.ifinfmsg import (
    BRIDGE_VLAN_INFO_PVID,
    BRIDGE_VLAN_INFO_UNTAGGED,
    ifinfmsg,
    ifinfveth,
)
from pyroute2.netlink.rtnl.ifinfmsg.plugins.ipvlan import ipvlan as ipvlan_data
from pyroute2.netlink.rtnl.tcmsg import common as tc_common
from pyroute2.netlink.rtnl.tcmsg import plugins as tc_plugins
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from worker.kernel import netlink as nl
from worker.kernel.base import MacsecSA, Shaping

NLMSG_HDRLEN = 16
NETLINK_GENERIC: int = _NETLINK_GENERIC  # the socket protocol of the team and macsec families
GENL_ID_CTRL = NLMSG_MIN_TYPE
CTRL_CMD_GETFAMILY = 3
AF_BRIDGE = socket.AF_BRIDGE if hasattr(socket, "AF_BRIDGE") else 7
RTM_SETLINK = 19
RTEXT_FILTER_BRVLAN = 1 << 1  # linux/rtnetlink.h: dump each port's VLANs

BOND_MODES = {
    "balance-rr": 0,
    "active-backup": 1,
    "balance-xor": 2,
    "broadcast": 3,
    "802.3ad": 4,
    "balance-tlb": 5,
    "balance-alb": 6,
}
BOND_MODE_NAMES = {v: k for k, v in BOND_MODES.items()}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
IPVLAN_MODE_NAMES = {v: k for k, v in IPVLAN_MODES.items()}
VLAN_PROTOCOLS = {"802.1Q": 0x8100, "802.1ad": 0x88A8}
VLAN_PROTOCOL_NAMES = {v: k for k, v in VLAN_PROTOCOLS.items()}
MACSEC_CIPHERS = {"gcm-aes-128": 0x0080C20001000001, "gcm-aes-256": 0x0080C20001000002}
# The kernel reports GCM-AES-128 under its older id (MACSEC_DEFAULT_CIPHER_ID).
MACSEC_CIPHER_NAMES = {v: k for k, v in MACSEC_CIPHERS.items()} | {
    0x0080020001000001: "gcm-aes-128"
}
MACSEC_KEYID_LEN = 16

# linux/if_macsec.h commands
MACSEC_CMD_GET_TXSC = 0
MACSEC_CMD_ADD_RXSC = 1
MACSEC_CMD_ADD_TXSA = 4
MACSEC_CMD_ADD_RXSA = 7
MACSEC_CMD_DEL_RXSA = 8
MACSEC_CMD_UPD_RXSA = 9
# linux/if_team.h commands and the netlink attribute types team options use
TEAM_CMD_OPTIONS_SET = 1
TEAM_CMD_OPTIONS_GET = 2
NLA_U32 = 3
NLA_STRING = 5


def key_id_for(key: str, key_id: str | None) -> str:
    """Return the 16-byte key id (hex) of an SA: the given one, or a digest of the key.

    A key id derived from the key changes with the key, so discovery (which can read
    key ids but never keys) sees a key edit.
    """
    if key_id is None:
        return hashlib.sha256(bytes.fromhex(key)).hexdigest()[: 2 * MACSEC_KEYID_LEN]
    return key_id.lower().ljust(2 * MACSEC_KEYID_LEN, "0")


def sci(mac: str, port: int) -> bytes:
    """Return a secure channel identifier: the device's MAC and its port (big-endian)."""
    return bytes(int(p, 16) for p in mac.split(":")) + struct.pack("!H", port)


class macsec_data(nla):
    """IFLA_INFO_DATA of kind macsec (linux/if_link.h IFLA_MACSEC_*)."""

    prefix = "IFLA_"
    nla_map = (
        ("IFLA_MACSEC_UNSPEC", "none"),
        ("IFLA_MACSEC_SCI", "cdata"),
        ("IFLA_MACSEC_PORT", "be16"),
        ("IFLA_MACSEC_ICV_LEN", "uint8"),
        ("IFLA_MACSEC_CIPHER_SUITE", "uint64"),
        ("IFLA_MACSEC_WINDOW", "uint32"),
        ("IFLA_MACSEC_ENCODING_SA", "uint8"),
        ("IFLA_MACSEC_ENCRYPT", "uint8"),
        ("IFLA_MACSEC_PROTECT", "uint8"),
        ("IFLA_MACSEC_INC_SCI", "uint8"),
        ("IFLA_MACSEC_ES", "uint8"),
        ("IFLA_MACSEC_SCB", "uint8"),
        ("IFLA_MACSEC_REPLAY_PROTECT", "uint8"),
        ("IFLA_MACSEC_VALIDATION", "uint8"),
        ("IFLA_MACSEC_PAD", "none"),
        ("IFLA_MACSEC_OFFLOAD", "uint8"),
    )


class vxcan_data(nla):
    """IFLA_INFO_DATA of kind vxcan: the peer, like a veth's."""

    nla_map = (("VXCAN_INFO_UNSPEC", "none"), ("VXCAN_INFO_PEER", "info_peer"))

    @staticmethod
    def info_peer(self: Any, *argv: Any, **kwarg: Any) -> Any:
        return ifinfveth


ifinfmsg.ifinfo.register_link_kind(
    module={"macsec": macsec_data, "vxcan": vxcan_data, "ipvtap": ipvlan_data}
)


class _sa(nla):
    nla_map = (
        ("MACSEC_SA_ATTR_UNSPEC", "none"),
        ("MACSEC_SA_ATTR_AN", "uint8"),
        ("MACSEC_SA_ATTR_ACTIVE", "uint8"),
        ("MACSEC_SA_ATTR_PN", "uint32"),
        ("MACSEC_SA_ATTR_KEY", "cdata"),
        ("MACSEC_SA_ATTR_KEYID", "cdata"),
        ("MACSEC_SA_ATTR_STATS", "hex"),
        ("MACSEC_SA_ATTR_PAD", "none"),
        ("MACSEC_SA_ATTR_SSCI", "uint32"),
        ("MACSEC_SA_ATTR_SALT", "cdata"),
    )


class _sa_list(nla):
    # A dump numbers the SAs of a channel 1, 2, ... (one per association in use).
    nla_map = (("MACSEC_SA_UNSPEC", "none"), *((f"MACSEC_SA_{i}", "sa") for i in range(1, 5)))
    sa = _sa


class _rxsc(nla):
    nla_map = (
        ("MACSEC_RXSC_ATTR_UNSPEC", "none"),
        ("MACSEC_RXSC_ATTR_SCI", "cdata"),
        ("MACSEC_RXSC_ATTR_ACTIVE", "uint8"),
        ("MACSEC_RXSC_ATTR_SA_LIST", "sa_list"),
        ("MACSEC_RXSC_ATTR_STATS", "hex"),
        ("MACSEC_RXSC_ATTR_PAD", "none"),
    )
    sa_list = _sa_list


class _rxsc_list(nla):
    # One per channel, numbered 1, 2, ... (64 is more peers than a lab wire has).
    nla_map = (
        ("MACSEC_RXSC_UNSPEC", "none"),
        *((f"MACSEC_RXSC_{i}", "rxsc") for i in range(1, 65)),
    )
    rxsc = _rxsc


class macsec_genl(genlmsg):
    """The ``macsec`` generic netlink family (linux/if_macsec.h)."""

    prefix = "MACSEC_ATTR_"
    nla_map = (
        ("MACSEC_ATTR_UNSPEC", "none"),
        ("MACSEC_ATTR_IFINDEX", "uint32"),
        ("MACSEC_ATTR_RXSC_CONFIG", "rxsc"),
        ("MACSEC_ATTR_SA_CONFIG", "sa"),
        ("MACSEC_ATTR_SECY", "hex"),
        ("MACSEC_ATTR_TXSA_LIST", "sa_list"),
        ("MACSEC_ATTR_RXSC_LIST", "rxsc_list"),
        ("MACSEC_ATTR_TXSC_STATS", "hex"),
        ("MACSEC_ATTR_SECY_STATS", "hex"),
        ("MACSEC_ATTR_OFFLOAD", "hex"),
    )
    rxsc = _rxsc
    sa = _sa
    sa_list = _sa_list
    rxsc_list = _rxsc_list


class _team_option(nla):
    nla_map = (
        ("TEAM_ATTR_OPTION_UNSPEC", "none"),
        ("TEAM_ATTR_OPTION_NAME", "asciiz"),
        ("TEAM_ATTR_OPTION_CHANGED", "flag"),
        ("TEAM_ATTR_OPTION_TYPE", "uint8"),
        ("TEAM_ATTR_OPTION_DATA", "cdata"),
        ("TEAM_ATTR_OPTION_REMOVED", "flag"),
        ("TEAM_ATTR_OPTION_PORT_IFINDEX", "uint32"),
        ("TEAM_ATTR_OPTION_ARRAY_INDEX", "uint32"),
    )


class _team_options(nla):
    nla_map = (("TEAM_ATTR_ITEM_OPTION_UNSPEC", "none"), ("TEAM_ATTR_ITEM_OPTION", "option"))
    option = _team_option


class team_genl(genlmsg):
    """The ``team`` generic netlink family (linux/if_team.h)."""

    prefix = "TEAM_ATTR_"
    nla_map = (
        ("TEAM_ATTR_UNSPEC", "none"),
        ("TEAM_ATTR_TEAM_IFINDEX", "uint32"),
        ("TEAM_ATTR_LIST_OPTION", "options"),
        ("TEAM_ATTR_LIST_PORT", "hex"),
    )
    options = _team_options


def _body(msg: Any) -> bytes:
    """Encode ``msg`` and return it without its netlink header (the socket adds its own)."""
    msg["header"]["type"] = 0
    msg.encode()
    return bytes(msg.data[NLMSG_HDRLEN : msg["header"]["length"]])


def _decode(cls: Any, payload: bytes) -> Any:
    """Decode a message payload (the header stripped by the socket) with ``cls``."""
    header = struct.pack("=IHHII", NLMSG_HDRLEN + len(payload), 0, 0, 0, 0)
    msg = cls(header + payload)
    msg.decode()
    return msg


# -- rtnetlink --------------------------------------------------------------------------


def newlink(
    name: str,
    kind: str,
    data: Sequence[tuple[str, Any]] = (),
    *,
    link: int | None = None,
    mtu: int | None = None,
    mac: str | None = None,
    netns_fd: int | None = None,
) -> bytes:
    """Return an RTM_NEWLINK body making device ``name`` of ``kind`` with IFLA_INFO_DATA."""
    attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", name)]
    if link is not None:
        attrs.append(("IFLA_LINK", link))
    if mtu is not None:
        attrs.append(("IFLA_MTU", mtu))
    if mac is not None:
        attrs.append(("IFLA_ADDRESS", mac))
    info: list[tuple[str, Any]] = [("IFLA_INFO_KIND", kind)]
    if data:
        info.append(("IFLA_INFO_DATA", {"attrs": list(data)}))
    attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    if netns_fd is not None:
        attrs.append(("IFLA_NET_NS_FD", netns_fd))
    msg = ifinfmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["attrs"] = attrs
    return _body(msg)


def vxcan_peer(peer: str, netns_fd: int | None) -> list[tuple[str, Any]]:
    """Return the IFLA_INFO_DATA of a vxcan whose peer end is ``peer`` (in ``netns_fd``)."""
    attrs: list[tuple[str, Any]] = [("IFLA_IFNAME", peer)]
    if netns_fd is not None:
        attrs.append(("IFLA_NET_NS_FD", netns_fd))
    return [("VXCAN_INFO_PEER", {"attrs": attrs})]


def bond_data(mode: str, miimon: int, primary: int | None) -> list[tuple[str, Any]]:
    """Return a bond's IFLA_INFO_DATA (``primary`` is the member's ifindex)."""
    data: list[tuple[str, Any]] = [
        ("IFLA_BOND_MODE", BOND_MODES[mode]),
        ("IFLA_BOND_MIIMON", miimon),
    ]
    if primary is not None:
        data.append(("IFLA_BOND_PRIMARY", primary))
    return data


def vlan_data(vlan_id: int, protocol: str) -> list[tuple[str, Any]]:
    """Return a vlan's IFLA_INFO_DATA."""
    return [("IFLA_VLAN_ID", vlan_id), ("IFLA_VLAN_PROTOCOL", VLAN_PROTOCOLS[protocol])]


def ipvlan_mode(mode: str) -> list[tuple[str, Any]]:
    """Return an ipvlan's (or ipvtap's) IFLA_INFO_DATA."""
    return [("IFLA_IPVLAN_MODE", IPVLAN_MODES[mode])]


def macsec_link_data(port: int, cipher: str, encrypt: bool, tx_an: int) -> list[tuple[str, Any]]:
    """Return a macsec device's IFLA_INFO_DATA (the SAs come over generic netlink)."""
    return [
        ("IFLA_MACSEC_PORT", port),
        ("IFLA_MACSEC_CIPHER_SUITE", MACSEC_CIPHERS[cipher]),
        ("IFLA_MACSEC_ENCRYPT", 1 if encrypt else 0),
        ("IFLA_MACSEC_ENCODING_SA", tx_an),
    ]


def port_vlans(index: int, vids: Iterable[tuple[int, int]]) -> bytes:
    """Return an RTM_SETLINK/RTM_DELLINK body (AF_BRIDGE) for ``(vid, flags)`` of a port."""
    msg = ifinfmsg()
    msg["family"] = AF_BRIDGE
    msg["index"] = index
    msg["attrs"] = [
        (
            "IFLA_AF_SPEC",
            {"attrs": [("IFLA_BRIDGE_VLAN_INFO", {"vid": v, "flags": f}) for v, f in vids]},
        )
    ]
    return _body(msg)


def vlan_flags(pvid: bool) -> int:
    """Return the flags of a port VLAN: the PVID goes untagged, the others tagged."""
    return BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED if pvid else 0


def bridge_vlan_dump() -> bytes:
    """Return the RTM_GETLINK dump body that lists every bridge port's VLANs."""
    msg = ifinfmsg()
    msg["family"] = AF_BRIDGE
    msg["attrs"] = [("IFLA_EXT_MASK", RTEXT_FILTER_BRVLAN)]
    return _body(msg)


def read_port_vlans(payload: bytes) -> tuple[int, list[int], int | None]:
    """Return ``(ifindex, tagged VLANs, PVID)`` of one AF_BRIDGE RTM_NEWLINK payload."""
    msg = _decode(ifinfmsg, payload)
    tagged: list[int] = []
    pvid: int | None = None
    spec = msg.get_attr("IFLA_AF_SPEC")
    for info in spec.get_attrs("IFLA_BRIDGE_VLAN_INFO") if spec is not None else ():
        if info["flags"] & BRIDGE_VLAN_INFO_PVID:
            pvid = int(info["vid"])
        else:
            tagged.append(int(info["vid"]))
    return int(msg["index"]), sorted(tagged), pvid


def info_items(kind: str, data: bytes) -> list[tuple[str, str]]:
    """Return the discovery items of a seed kind's IFLA_INFO_DATA payload.

    ``data`` is the attribute's payload; unknown kinds give nothing.
    """
    classes = ifinfmsg.ifinfo.data_map
    if kind not in ("vlan", "bond", "ipvlan", "ipvtap", "macsec"):
        return []
    attr = classes[kind](struct.pack("=HH", 4 + len(data), 2) + data)
    attr.decode()
    items: list[tuple[str, str]] = []
    if kind == "vlan":
        items.append(("vlan_id", str(attr.get_attr("IFLA_VLAN_ID"))))
        proto = attr.get_attr("IFLA_VLAN_PROTOCOL")
        items.append(("protocol", VLAN_PROTOCOL_NAMES.get(proto, str(proto))))
    elif kind == "bond":
        items.append(("mode", BOND_MODE_NAMES.get(attr.get_attr("IFLA_BOND_MODE"), "?")))
        items.append(("miimon", str(attr.get_attr("IFLA_BOND_MIIMON"))))
        primary = attr.get_attr("IFLA_BOND_PRIMARY")
        if primary:
            items.append(("primary_ifindex", str(primary)))
    elif kind in ("ipvlan", "ipvtap"):
        items.append(("mode", IPVLAN_MODE_NAMES.get(attr.get_attr("IFLA_IPVLAN_MODE"), "?")))
    else:
        # The port is not dumped on its own: it is the last two bytes of the SCI.
        channel = attr.get_attr("IFLA_MACSEC_SCI") or b""
        if len(channel) == 8:
            items.append(("port", str(int.from_bytes(channel[6:], "big"))))
        suite = attr.get_attr("IFLA_MACSEC_CIPHER_SUITE")
        items.append(("cipher", MACSEC_CIPHER_NAMES.get(suite, str(suite))))
        items.append(("encrypt", str(attr.get_attr("IFLA_MACSEC_ENCRYPT"))))
        items.append(("tx_an", str(attr.get_attr("IFLA_MACSEC_ENCODING_SA"))))
    return items


# -- traffic control (link conditioning) -------------------------------------------------

RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_GETQDISC = 38
ROOT_HANDLE = 0x10000  # 1:
TCMSG_LEN = 20  # struct tcmsg
TCA_KIND = 1
TBF_BURST = 65536  # bytes, as `tc ... tbf burst 64kb` did before
TBF_LATENCY = "50ms"


def _qdisc(index: int, kind: str | None, options: Any = None) -> bytes:
    msg = tcmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["index"] = index
    msg["handle"] = ROOT_HANDLE if kind else 0
    msg["parent"] = TC_H_ROOT
    attrs: list[Any] = []
    if kind is not None:
        attrs.append(("TCA_KIND", kind))
    if options is not None:
        attrs.append(("TCA_OPTIONS", options))
    msg["attrs"] = attrs
    return _body(msg)


def root_qdisc(index: int) -> bytes:
    """Return the RTM_DELQDISC body that removes a device's root qdisc."""
    return _qdisc(index, None)


def shaping_qdisc(index: int, shaping: Shaping) -> bytes:
    """Return the RTM_NEWQDISC body of the root qdisc doing ``shaping`` (netem or tbf).

    pyroute2's tc plugins turn iproute2's units (microseconds, percent, "10mbit") into
    the kernel's (scheduler ticks, u32 fractions, bytes per second).
    """
    rate = f"{shaping.rate_mbit}mbit" if shaping.rate_mbit else None
    if not shaping.netem:
        options = tc_plugins["tbf"].get_parameters(
            {"rate": rate, "burst": TBF_BURST, "latency": TBF_LATENCY}
        )
        return _qdisc(index, "tbf", options)
    params: dict[str, Any] = {
        "delay": int(shaping.delay_ms * 1000),
        "jitter": int(shaping.jitter_ms * 1000),
        "loss": shaping.loss_pct,
        "duplicate": shaping.duplicate_pct,
        "prob_reorder": shaping.reorder_pct,
        "prob_corrupt": shaping.corrupt_pct,
    }
    if rate is not None:
        params["rate"] = rate
    return _qdisc(index, "netem", tc_plugins["netem"].get_parameters(params))


def read_qdisc(payload: bytes) -> tuple[int, Shaping] | None:
    """Return ``(ifindex, shaping)`` of a root netem or tbf qdisc; None for any other."""
    # Every device has a qdisc (noqueue on a veth): read the kind before decoding all.
    if nl.attr_str(nl.find_attr(payload, TCMSG_LEN, TCA_KIND)) not in ("netem", "tbf"):
        return None
    msg = _decode(tcmsg, payload)
    kind = msg.get_attr("TCA_KIND")
    if msg["parent"] != TC_H_ROOT or kind not in ("netem", "tbf"):
        return None
    options = msg.get_attr("TCA_OPTIONS")
    if kind == "tbf":
        parms = options.get_attr("TCA_TBF_PARMS")
        return int(msg["index"]), Shaping(rate_mbit=round(parms["rate"] * 8 / 1e6))

    def pct(value: int) -> float:
        return value * 100 / (2**32 - 1)

    def ms(ticks: int) -> float:
        return float(ticks / tc_common.tick_in_usec / 1000)

    reorder = options.get_attr("TCA_NETEM_REORDER")
    corrupt = options.get_attr("TCA_NETEM_CORRUPT")
    rate = options.get_attr("TCA_NETEM_RATE")
    return int(msg["index"]), Shaping(
        rate_mbit=round(rate["rate"] * 8 / 1e6) if rate is not None and rate["rate"] else None,
        delay_ms=ms(options["delay"]),
        jitter_ms=ms(options["jitter"]),
        loss_pct=pct(options["loss"]),
        duplicate_pct=pct(options["duplicate"]),
        reorder_pct=pct(reorder["prob_reorder"]) if reorder is not None else 0.0,
        corrupt_pct=pct(corrupt["prob_corrupt"]) if corrupt is not None else 0.0,
    )


def qdisc_dump() -> bytes:
    """Return the RTM_GETQDISC dump body (every qdisc of the namespace)."""
    msg = tcmsg()
    msg["family"] = socket.AF_UNSPEC
    return _body(msg)


# -- generic netlink -----------------------------------------------------------------------


def get_family(name: str) -> bytes:
    """Return the body of CTRL_CMD_GETFAMILY for family ``name`` (sent to GENL_ID_CTRL)."""
    msg = ctrlmsg()
    msg["cmd"] = CTRL_CMD_GETFAMILY
    msg["version"] = 1
    msg["attrs"] = [("CTRL_ATTR_FAMILY_NAME", name)]
    return _body(msg)


def family_id(payload: bytes) -> int:
    """Return the family id in a CTRL_CMD_GETFAMILY answer."""
    return int(_decode(ctrlmsg, payload).get_attr("CTRL_ATTR_FAMILY_ID"))


def _sa_attrs(sa: MacsecSA, with_key: bool = True) -> list[tuple[str, Any]]:
    attrs: list[tuple[str, Any]] = [("MACSEC_SA_ATTR_AN", sa.an)]
    if with_key:
        attrs += [
            ("MACSEC_SA_ATTR_ACTIVE", 1),
            ("MACSEC_SA_ATTR_PN", sa.pn),
            ("MACSEC_SA_ATTR_KEY", bytes.fromhex(sa.key)),
            ("MACSEC_SA_ATTR_KEYID", bytes.fromhex(sa.key_id)),
        ]
    return attrs


def macsec_txsa(ifindex: int, sa: MacsecSA) -> bytes:
    """Return MACSEC_CMD_ADD_TXSA: the SA the device sends with."""
    msg = macsec_genl()
    msg["cmd"] = MACSEC_CMD_ADD_TXSA
    msg["version"] = 1
    msg["attrs"] = [
        ("MACSEC_ATTR_IFINDEX", ifindex),
        ("MACSEC_ATTR_SA_CONFIG", {"attrs": _sa_attrs(sa)}),
    ]
    return _body(msg)


def macsec_rxsc(ifindex: int, channel: bytes) -> bytes:
    """Return MACSEC_CMD_ADD_RXSC: accept the secure channel ``channel`` (a peer's SCI)."""
    msg = macsec_genl()
    msg["cmd"] = MACSEC_CMD_ADD_RXSC
    msg["version"] = 1
    msg["attrs"] = [
        ("MACSEC_ATTR_IFINDEX", ifindex),
        (
            "MACSEC_ATTR_RXSC_CONFIG",
            {"attrs": [("MACSEC_RXSC_ATTR_SCI", channel), ("MACSEC_RXSC_ATTR_ACTIVE", 1)]},
        ),
    ]
    return _body(msg)


def macsec_rxsa(ifindex: int, channel: bytes, sa: MacsecSA, action: str = "add") -> bytes:
    """Return the command ``action`` (add, deactivate, delete) on an SA of ``channel``.

    The kernel deletes only an inactive SA: replacing a key is deactivate, delete, add.
    """
    if action == "deactivate":
        cmd, attrs = (
            MACSEC_CMD_UPD_RXSA,
            [("MACSEC_SA_ATTR_AN", sa.an), ("MACSEC_SA_ATTR_ACTIVE", 0)],
        )
    elif action == "delete":
        cmd, attrs = MACSEC_CMD_DEL_RXSA, _sa_attrs(sa, with_key=False)
    else:
        cmd, attrs = MACSEC_CMD_ADD_RXSA, _sa_attrs(sa)
    msg = macsec_genl()
    msg["cmd"] = cmd
    msg["version"] = 1
    msg["attrs"] = [
        ("MACSEC_ATTR_IFINDEX", ifindex),
        ("MACSEC_ATTR_RXSC_CONFIG", {"attrs": [("MACSEC_RXSC_ATTR_SCI", channel)]}),
        ("MACSEC_ATTR_SA_CONFIG", {"attrs": attrs}),
    ]
    return _body(msg)


def macsec_dump() -> bytes:
    """Return MACSEC_CMD_GET_TXSC, dumped: every macsec device of the namespace."""
    msg = macsec_genl()
    msg["cmd"] = MACSEC_CMD_GET_TXSC
    msg["version"] = 1
    return _body(msg)


def read_macsec(payload: bytes) -> tuple[int, list[tuple[str, str]]]:
    """Return ``(ifindex, items)`` of one macsec dump message: tx SA and rx channels.

    Items: ``("tx", "<an>:<key id>")`` and ``("rx", "<sci hex>:<an>:<key id>")``; keys
    are never given out by the kernel, key ids are.
    """
    msg = _decode(macsec_genl, payload)
    items: list[tuple[str, str]] = []
    txsa = msg.get_attr("MACSEC_ATTR_TXSA_LIST")
    for _, sa in txsa["attrs"] if txsa is not None else ():
        keyid = sa.get_attr("MACSEC_SA_ATTR_KEYID") or b""
        items.append(("tx", f"{sa.get_attr('MACSEC_SA_ATTR_AN')}:{keyid.hex()}"))
    rxscs = msg.get_attr("MACSEC_ATTR_RXSC_LIST")
    for _, rxsc in rxscs["attrs"] if rxscs is not None else ():
        channel = (rxsc.get_attr("MACSEC_RXSC_ATTR_SCI") or b"").hex()
        sas = rxsc.get_attr("MACSEC_RXSC_ATTR_SA_LIST")
        for _, sa in sas["attrs"] if sas is not None else ():
            keyid = sa.get_attr("MACSEC_SA_ATTR_KEYID") or b""
            items.append(("rx", f"{channel}:{sa.get_attr('MACSEC_SA_ATTR_AN')}:{keyid.hex()}"))
    return int(msg.get_attr("MACSEC_ATTR_IFINDEX")), sorted(items)


def team_option(ifindex: int, name: str, value: str | int) -> bytes:
    """Return TEAM_CMD_OPTIONS_SET of one option: a string (``mode``) or u32 (``activeport``)."""
    if isinstance(value, str):
        kind, data = NLA_STRING, value.encode() + b"\0"
    else:
        kind, data = NLA_U32, struct.pack("=I", value)
    msg = team_genl()
    msg["cmd"] = TEAM_CMD_OPTIONS_SET
    msg["version"] = 1
    option = {
        "attrs": [
            ("TEAM_ATTR_OPTION_NAME", name),
            ("TEAM_ATTR_OPTION_TYPE", kind),
            ("TEAM_ATTR_OPTION_DATA", data),
        ]
    }
    msg["attrs"] = [
        ("TEAM_ATTR_TEAM_IFINDEX", ifindex),
        ("TEAM_ATTR_LIST_OPTION", {"attrs": [("TEAM_ATTR_ITEM_OPTION", option)]}),
    ]
    return _body(msg)


def team_options_get(ifindex: int) -> bytes:
    """Return TEAM_CMD_OPTIONS_GET of a team device."""
    msg = team_genl()
    msg["cmd"] = TEAM_CMD_OPTIONS_GET
    msg["version"] = 1
    msg["attrs"] = [("TEAM_ATTR_TEAM_IFINDEX", ifindex)]
    return _body(msg)


def read_team_options(payload: bytes) -> dict[str, str | int]:
    """Return the string and u32 options (``mode``, ``activeport`` ...) of one answer."""
    msg = _decode(team_genl, payload)
    out: dict[str, str | int] = {}
    options = msg.get_attr("TEAM_ATTR_LIST_OPTION")
    for _, option in options["attrs"] if options is not None else ():
        if option.get_attr("TEAM_ATTR_OPTION_PORT_IFINDEX") is not None:
            continue  # per-port options
        name = option.get_attr("TEAM_ATTR_OPTION_NAME")
        kind = option.get_attr("TEAM_ATTR_OPTION_TYPE")
        data = option.get_attr("TEAM_ATTR_OPTION_DATA") or b""
        if kind == NLA_STRING:
            out[name] = data.split(b"\0", 1)[0].decode(errors="replace")
        elif kind == NLA_U32 and len(data) >= 4:
            out[name] = int(struct.unpack_from("=I", data)[0])
    return out
