"""Names Topolab puts into the kernel."""

from __future__ import annotations

import pytest

from lab.topology.naming import (
    IFNAMSIZ,
    check_ifname,
    check_node_name,
    is_lab_key,
    kernel_ifname,
    lab_key,
    namespace_name,
    node_name_for,
    owner_alias,
    parse_owner_alias,
    temp_ifname,
)


def codes(problems: list[tuple[str, str]]) -> set[str]:
    return {code for code, _ in problems}


def test_lab_key_keeps_simple_labels() -> None:
    assert lab_key("l12") == "l12"
    assert lab_key("lab_1") == "lab_1"


@pytest.mark.parametrize("label", ["L12", "my lab", "a" * 40, "x/y", "", "ünïcode", "-"])
def test_lab_key_is_valid_and_stable(label: str) -> None:
    key = lab_key(label)
    assert is_lab_key(key), key
    assert len(key) <= 24
    assert lab_key(label) == key


def test_lab_key_is_unique_for_labels_that_slug_alike() -> None:
    labels = ["My Lab", "my lab", "my_lab", "my-lab", "MY LAB", "a" * 30, "a" * 31]
    keys = [lab_key(label) for label in labels]
    assert len(set(keys)) == len(keys), keys


def test_ifname_15_bytes_is_fine_16_is_not() -> None:
    assert check_ifname("a" * IFNAMSIZ) == []
    assert codes(check_ifname("a" * (IFNAMSIZ + 1))) == {"name.too_long"}


def test_ifname_counts_bytes_not_characters() -> None:
    # 8 characters but 16 bytes in UTF-8: too long, and not ASCII either.
    assert codes(check_ifname("é" * 8)) == {"name.too_long", "name.invalid_chars"}
    assert codes(check_ifname("é")) == {"name.invalid_chars"}


@pytest.mark.parametrize("name", ["eth/0", "eth:0", "eth 0", "eth\t0", ".", ".."])
def test_ifname_characters_the_kernel_refuses(name: str) -> None:
    assert "name.invalid_chars" in codes(check_ifname(name))


@pytest.mark.parametrize("name", ["eth0", "eth0.10", "veth-a_1", "br0", "vxlan100"])
def test_ifname_ordinary_names(name: str) -> None:
    assert check_ifname(name) == []


def test_ifname_empty() -> None:
    assert codes(check_ifname("")) == {"name.empty"}


def test_node_names() -> None:
    assert check_node_name("host-a.1") == []
    assert codes(check_node_name("-a")) == {"name.invalid_chars"}
    assert codes(check_node_name("a" * 33)) == {"name.too_long"}
    assert codes(check_node_name("")) == {"name.empty"}


def test_owner_alias_round_trip() -> None:
    assert parse_owner_alias(owner_alias("l12", "h1")) == ("l12", "h1")
    assert parse_owner_alias(owner_alias("l12")) == ("l12", None)
    assert parse_owner_alias("docker:l12") is None
    assert parse_owner_alias("topolab:Bad-Key") is None
    assert parse_owner_alias(None) is None


def test_namespace_and_temp_names() -> None:
    assert namespace_name("l12", "h1") == "tl-l12-h1"
    tmp = temp_ifname("l12", "h1", "eth0")
    assert len(tmp) <= IFNAMSIZ and check_ifname(tmp) == []
    assert tmp == temp_ifname("l12", "h1", "eth0")
    assert tmp != temp_ifname("l12", "h1", "eth1")


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("eth1", "eth1"),
        ("ethernet-1/1", "ethernet-1-1"),
        ("Ethernet1/1", "Ethernet1-1"),
        ("1/1/c1/1", "1-1-c1-1"),
        ("e0/2", "e0-2"),
        ("GigabitEthernet0/0/0/1", "Gi0-0-0-1"),
        ("TenGigabitEthernet1/0/1", "Te1-0-1"),
        ("GigabitEthernet1", "Gi1"),
        ("port 1", "port-1"),
    ],
)
def test_kernel_ifname_maps_names_readably(name: str, mapped: str) -> None:
    assert kernel_ifname(name) == mapped
    assert check_ifname(mapped) == []


@pytest.mark.parametrize("name", ["", ".", "..", "x" * 40, "a:b/c d", "ünïcode-port/1", "-" * 20])
def test_kernel_ifname_always_gives_a_valid_stable_name(name: str) -> None:
    mapped = kernel_ifname(name)
    assert check_ifname(mapped) == [] and kernel_ifname(name) == mapped


def test_kernel_ifname_never_returns_a_taken_name() -> None:
    assert kernel_ifname("e1/1", {"e1-1"}) not in {"e1-1"}
    assert check_ifname(kernel_ifname("e1/1", {"e1-1"})) == []
    assert kernel_ifname("e1-1", {"e1-1"}) != "e1-1"  # even a valid name, when it is taken
    first = kernel_ifname("ethernet-1/1", {"ethernet-1-1"})
    assert kernel_ifname("ethernet-1/1", {"ethernet-1-1", first}) not in {"ethernet-1-1", first}


@pytest.mark.parametrize(
    ("name", "mapped"), [("r1", "r1"), ("leaf|1", "leaf-1"), ("a b", "a-b"), ("-x", "x")]
)
def test_node_name_for_maps_what_a_node_name_may_not_hold(name: str, mapped: str) -> None:
    assert node_name_for(name) == mapped


@pytest.mark.parametrize("name", ["a" * 40, "|||", "ünï", "leaf|1"])
def test_node_name_for_is_valid_and_avoids_taken_names(name: str) -> None:
    mapped = node_name_for(name, {"leaf-1"})
    assert check_node_name(mapped) == [] and mapped != "leaf-1"
