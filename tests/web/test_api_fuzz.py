"""Thousands of bad documents at the two endpoints that take free-form input.

Property: the API never answers 500, and every 400 carries a code and a
non-empty list of issues, each naming a path.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=2000,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the working tree
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

NAMES = st.one_of(
    st.sampled_from(["h1", "h2", "r1", "sw1", "", " ", "a" * 64, "a" * 65, "ñødé", "h1:eth0"]),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
)
HUGE = st.sampled_from(["x" * 5000, "é" * 11_000, "\u202e" * 300, "0" * 4400])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    NAMES,
    HUGE,
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(NAMES, inner, max_size=4)),
    max_leaves=12,
)
ADDRESSES = st.one_of(
    st.sampled_from(["10.0.0.1/24", "10.0.0.1", "2001:db8::1/64", "300.1.1.1/24", "", "x/99"]),
    JUNK,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, JUNK)


INTERFACE = st.fixed_dictionaries(
    {"name": _maybe(NAMES)},
    optional={
        "addresses": _maybe(st.lists(ADDRESSES, max_size=3)),
        "mtu": _maybe(st.integers(min_value=-10, max_value=100_000)),
        "mac": _maybe(st.sampled_from(["02:00:00:00:00:01", "zz:00", ""])),
        "bridge": _maybe(NAMES),
        "bogus": JUNK,
    },
)
NODE = st.fixed_dictionaries(
    {"name": _maybe(NAMES)},
    optional={
        "kind": _maybe(st.sampled_from(["host", "router", "switch", "toaster"])),
        "interfaces": _maybe(st.lists(INTERFACE, max_size=3)),
        "gateway": ADDRESSES,
        "routes": _maybe(
            st.lists(st.fixed_dictionaries({"dst": ADDRESSES}, optional={"via": ADDRESSES}))
        ),
        "position": _maybe(st.fixed_dictionaries({"x": st.floats(allow_nan=False), "y": JUNK})),
    },
)
ENDPOINT = st.one_of(
    st.sampled_from(["h1:eth0", "h2:eth0", "h1", ":", "h1:", "nobody:eth9"]),
    st.fixed_dictionaries({"node": _maybe(NAMES), "interface": _maybe(NAMES)}),
    JUNK,
)
LINK = st.fixed_dictionaries(
    {},
    optional={
        "kind": _maybe(
            st.sampled_from(
                ["veth", "vxlan", "macvlan", "macvtap", "tap", "tun", "vlan", "bond", "warp"]
            )
        ),
        "a": ENDPOINT,
        "b": ENDPOINT,
        "endpoint": ENDPOINT,
        "parent": ENDPOINT,
        "vni": _maybe(st.integers(min_value=-5, max_value=2**25)),
        "mode": _maybe(st.sampled_from(["bridge", "vepa", "nonsense"])),
        "program": JUNK,
    },
)
DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(NAMES),
        "description": _maybe(HUGE),
        "schema_version": _maybe(st.integers(min_value=0, max_value=3)),
        "nodes": _maybe(st.lists(NODE, max_size=4)),
        "links": _maybe(st.lists(LINK, max_size=4)),
        "addressing": JUNK,
        "extra": JUNK,
    },
)


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"nodes":' + '{"a":' * depth + "1" + "}" * depth + "}"


RAW = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b"{",
            b"nul",
            b'{"name": "\\ud800"}',
            b'{"name": "a\\u0000"}',
            b'{"name": NaN}',
            b'{"name": 1e400}',
            b"\xff\xfe{}",
            b'{"name": "x"}{"name": "y"}',
            b"1" * 5000,
            json.dumps({"name": "n", "description": "é" * 500_000}).encode(),  # > 2.5 MB
        ]
    ),
    st.builds(
        _deep, st.integers(min_value=30, max_value=3000), st.sampled_from(["list", "dict"])
    ).map(str.encode),
)
BODIES = st.one_of(
    DOCUMENT.map(lambda d: json.dumps(d).encode()),
    JUNK.map(lambda d: json.dumps(d).encode()),
    RAW,
)
LAB_BODIES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "name": _maybe(st.one_of(NAMES, HUGE)),
            "description": _maybe(HUGE),
            "topology": _maybe(DOCUMENT),
            "stray": JUNK,
        },
    ).map(lambda d: json.dumps(d).encode()),
    RAW,
)


def _check(response: Any) -> None:
    assert response.status_code != 500, response.content[:500]
    assert response.status_code in (200, 201, 400, 413), response.content[:500]
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"code", "message", "issues"}, body
        assert body["code"] and body["message"], body
        assert body["issues"], body
        for issue in body["issues"]:
            assert isinstance(issue["path"], str) and issue["path"], body
            assert issue["code"] and issue["message"], body


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def no_unexpected() -> Any:
    """Fail if the API's catch-all logged an unexpected error (it would also answer 500)."""
    handler = _Collect()
    logger = logging.getLogger("lab")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records[:3]]


def test_put_topology_never_500(
    alice_client: Client, alice_lab: dict[str, Any], no_unexpected: None
) -> None:
    url = f"/api/labs/{alice_lab['id']}/topology"
    seen: dict[int, int] = {}

    @FUZZ
    @given(body=BODIES)
    def put(body: bytes) -> None:
        response = alice_client.put(url, body, content_type="application/json")
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        _check(response)

    put()
    print("PUT statuses", seen)
    # The generator reached both sides: refusals and (a few) valid documents.
    assert seen.get(400, 0) > 1000, seen
    assert sum(seen.values()) >= 2000


def test_post_labs_never_500(alice_client: Client, no_unexpected: None) -> None:
    seen: dict[int, int] = {}

    @FUZZ
    @given(body=LAB_BODIES)
    def post(body: bytes) -> None:
        response = alice_client.post("/api/labs", body, content_type="application/json")
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        _check(response)

    post()
    print("POST statuses", seen)
    assert seen.get(400, 0) > 1000, seen
    assert seen.get(201, 0) > 0, seen
    assert sum(seen.values()) >= 2000
