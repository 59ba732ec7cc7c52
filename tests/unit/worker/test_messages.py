"""The seed kinds' netlink messages (pyroute2 classes): what is sent decodes to what was meant.

Each test encodes with ``worker.kernel.messages`` and reads the bytes back with
pyroute2's decoder (or the module's own readers), the way the kernel's answers come in.
"""

from __future__ import annotations

import struct

from pyroute2.netlink import ctrlmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from worker.kernel import messages as m
from worker.kernel import netlink as nl
from worker.kernel.base import MacsecSA, Shaping


def _decoded(body: bytes, cls: type = ifinfmsg) -> object:
    msg = cls(struct.pack("=IHHII", 16 + len(body), 16, 0, 0, 0) + body)
    msg.decode()
    return msg


def _info_data(body: bytes) -> bytes:
    """Return the IFLA_INFO_DATA payload of an RTM_NEWLINK body."""
    at = nl.parse_attrs(body, 16)
    info = nl.parse_attrs(at[nl.IFLA_LINKINFO])
    return info[nl.IFLA_INFO_DATA]


def test_a_bond_is_asked_for_with_its_mode_miimon_and_primary() -> None:
    body = m.newlink("bond0", "bond", m.bond_data("802.3ad", 50, 7), mtu=1400)
    msg = _decoded(body)
    assert msg.get_attr("IFLA_IFNAME") == "bond0" and msg.get_attr("IFLA_MTU") == 1400
    data = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_BOND_MODE") == 4
    assert data.get_attr("IFLA_BOND_MIIMON") == 50 and data.get_attr("IFLA_BOND_PRIMARY") == 7
    assert m.info_items("bond", _info_data(body)) == [
        ("mode", "802.3ad"), ("miimon", "50"), ("primary_ifindex", "7"),
    ]  # fmt: skip


def test_vlan_and_ipvlan_data_read_back_as_discovery_items() -> None:
    vlan = m.newlink("e.10", "vlan", m.vlan_data(10, "802.1ad"), link=3)
    assert _decoded(vlan).get_attr("IFLA_LINK") == 3
    assert m.info_items("vlan", _info_data(vlan)) == [("vlan_id", "10"), ("protocol", "802.1ad")]
    for kind in ("ipvlan", "ipvtap"):
        body = m.newlink("i0", kind, m.ipvlan_mode("l3s"), link=3, netns_fd=9)
        assert _decoded(body).get_attr("IFLA_NET_NS_FD") == 9
        assert m.info_items(kind, _info_data(body)) == [("mode", "l3s")]
    assert m.info_items("veth", b"") == []


def test_macsec_link_data_and_the_kernels_own_cipher_id() -> None:
    data = [
        *m.macsec_link_data(7, "gcm-aes-256", False, 2),
        ("IFLA_MACSEC_SCI", m.sci("02:00:00:00:00:01", 7)),
    ]
    items = dict(m.info_items("macsec", _info_data(m.newlink("ms0", "macsec", data, link=2))))
    assert items == {"port": "7", "cipher": "gcm-aes-256", "encrypt": "0", "tx_an": "2"}
    # The kernel reports GCM-AES-128 under its older id.
    old = [("IFLA_MACSEC_CIPHER_SUITE", 0x0080020001000001)]
    assert dict(m.info_items("macsec", _info_data(m.newlink("x", "macsec", old))))["cipher"] == (
        "gcm-aes-128"
    )


def test_a_vxcan_names_its_peer_and_the_peers_namespace() -> None:
    body = m.newlink("vxc0", "vxcan", m.vxcan_peer("vxc1", 11))
    peer = _decoded(body).get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    info = peer.get_attr("VXCAN_INFO_PEER")
    assert info.get_attr("IFLA_IFNAME") == "vxc1" and info.get_attr("IFLA_NET_NS_FD") == 11


def test_macsec_sa_commands_carry_key_and_key_id() -> None:
    sa = MacsecSA(1, 5, "00" * 16, "ab" * 16)
    msg = _decoded(m.macsec_txsa(4, sa), m.macsec_genl)
    assert msg["cmd"] == m.MACSEC_CMD_ADD_TXSA and msg.get_attr("MACSEC_ATTR_IFINDEX") == 4
    config = msg.get_attr("MACSEC_ATTR_SA_CONFIG")
    assert config.get_attr("MACSEC_SA_ATTR_AN") == 1 and config.get_attr("MACSEC_SA_ATTR_PN") == 5
    assert config.get_attr("MACSEC_SA_ATTR_KEY") == bytes(16)
    assert config.get_attr("MACSEC_SA_ATTR_KEYID") == bytes.fromhex("ab" * 16)
    channel = m.sci("02:00:00:00:00:0b", 1)
    assert channel == bytes.fromhex("02000000000b0001")
    delete = _decoded(m.macsec_rxsa(4, channel, sa, "delete"), m.macsec_genl)
    assert delete["cmd"] == m.MACSEC_CMD_DEL_RXSA
    assert delete.get_attr("MACSEC_ATTR_SA_CONFIG").get_attr("MACSEC_SA_ATTR_KEY") is None
    off = _decoded(m.macsec_rxsa(4, channel, sa, "deactivate"), m.macsec_genl)
    assert off.get_attr("MACSEC_ATTR_SA_CONFIG").get_attr("MACSEC_SA_ATTR_ACTIVE") == 0
    sc = _decoded(m.macsec_rxsc(4, channel), m.macsec_genl).get_attr("MACSEC_ATTR_RXSC_CONFIG")
    assert sc.get_attr("MACSEC_RXSC_ATTR_SCI") == channel


def test_a_macsec_dump_reads_as_sa_items() -> None:
    dump = m.macsec_genl()
    dump["cmd"], dump["version"] = m.MACSEC_CMD_GET_TXSC, 1
    sa = {"attrs": [("MACSEC_SA_ATTR_AN", 0), ("MACSEC_SA_ATTR_KEYID", b"\x11" * 16)]}
    rxsc = {
        "attrs": [
            ("MACSEC_RXSC_ATTR_SCI", bytes.fromhex("02000000000b0001")),
            ("MACSEC_RXSC_ATTR_SA_LIST", {"attrs": [("MACSEC_SA_1", sa)]}),
        ]
    }
    dump["attrs"] = [
        ("MACSEC_ATTR_IFINDEX", 6),
        ("MACSEC_ATTR_TXSA_LIST", {"attrs": [("MACSEC_SA_1", sa)]}),
        ("MACSEC_ATTR_RXSC_LIST", {"attrs": [("MACSEC_RXSC_1", rxsc)]}),
    ]
    dump.encode()
    payload = bytes(dump.data[16 : dump["header"]["length"]])
    assert m.read_macsec(payload) == (
        6,
        [("rx", "02000000000b0001:0:" + "11" * 16), ("tx", "0:" + "11" * 16)],
    )


def test_team_options_are_sent_typed_and_read_back() -> None:
    mode = _decoded(m.team_option(3, "mode", "loadbalance"), m.team_genl)
    option = mode.get_attr("TEAM_ATTR_LIST_OPTION").get_attr("TEAM_ATTR_ITEM_OPTION")
    assert option.get_attr("TEAM_ATTR_OPTION_TYPE") == m.NLA_STRING
    assert option.get_attr("TEAM_ATTR_OPTION_DATA") == b"loadbalance\0"
    answer = m.team_genl()
    answer["cmd"], answer["version"] = m.TEAM_CMD_OPTIONS_GET, 1

    def opt(name: str, kind: int, data: bytes, port: int | None = None) -> tuple[str, dict]:
        attrs = [("TEAM_ATTR_OPTION_NAME", name), ("TEAM_ATTR_OPTION_TYPE", kind),
                 ("TEAM_ATTR_OPTION_DATA", data)]  # fmt: skip
        if port is not None:
            attrs.append(("TEAM_ATTR_OPTION_PORT_IFINDEX", port))
        return ("TEAM_ATTR_ITEM_OPTION", {"attrs": attrs})

    answer["attrs"] = [
        ("TEAM_ATTR_TEAM_IFINDEX", 3),
        (
            "TEAM_ATTR_LIST_OPTION",
            {"attrs": [opt("mode", m.NLA_STRING, b"activebackup\0"),
                       opt("activeport", m.NLA_U32, struct.pack("=I", 5)),
                       opt("enabled", m.NLA_U32, struct.pack("=I", 1), port=5)]},
        ),
    ]  # fmt: skip
    answer.encode()
    payload = bytes(answer.data[16 : answer["header"]["length"]])
    assert m.read_team_options(payload) == {"mode": "activebackup", "activeport": 5}


def test_port_vlans_are_sent_and_read_with_their_flags() -> None:
    body = m.port_vlans(4, [(10, m.vlan_flags(False)), (20, m.vlan_flags(True))])
    assert m.read_port_vlans(body) == (4, [10], 20)
    assert _decoded(m.bridge_vlan_dump())["family"] == m.AF_BRIDGE


def test_a_family_answer_gives_its_id() -> None:
    answer = ctrlmsg()
    answer["cmd"], answer["version"] = 1, 1
    answer["attrs"] = [("CTRL_ATTR_FAMILY_ID", 31), ("CTRL_ATTR_FAMILY_NAME", "macsec")]
    answer.encode()
    assert m.family_id(bytes(answer.data[16 : answer["header"]["length"]])) == 31
    ask = _decoded(m.get_family("team"), ctrlmsg)
    assert ask.get_attr("CTRL_ATTR_FAMILY_NAME") == "team"


def test_shaping_qdiscs_read_back_as_they_were_asked_for() -> None:
    netem = Shaping(rate_mbit=10, delay_ms=10, jitter_ms=2, loss_pct=20, duplicate_pct=1,
                    reorder_pct=5, corrupt_pct=0.5)  # fmt: skip
    index, got = m.read_qdisc(m.shaping_qdisc(3, netem))
    assert index == 3 and got.text() == netem.text()
    assert _decoded(m.shaping_qdisc(3, netem), tcmsg).get_attr("TCA_KIND") == "netem"
    index, got = m.read_qdisc(m.shaping_qdisc(4, Shaping(rate_mbit=25)))
    assert (index, got.text()) == (4, "rate 25mbit")
    assert _decoded(m.shaping_qdisc(4, Shaping(rate_mbit=25)), tcmsg).get_attr("TCA_KIND") == "tbf"
    assert m.read_qdisc(m.root_qdisc(4)) is None  # no kind: not a shaping qdisc
