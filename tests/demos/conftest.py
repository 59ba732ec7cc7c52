"""Fixtures of the demo library's tests: labs with unique keys, destroyed even on failure."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import netns_names


@pytest.fixture
def lab_key() -> Iterator[Callable[[], str]]:
    """Return a maker of unique lab keys (``dm`` + random); each lab made is destroyed after
    the test, with its programs, whatever happened, and must leave no namespace behind."""
    if os.geteuid() != 0:
        pytest.fail("the demo tests need root (network namespaces)")
    from worker import engine

    made: list[str] = []

    def make() -> str:
        key = f"dm{secrets.token_hex(4)}"
        made.append(key)
        return key

    yield make
    for key in made:
        engine.destroy(key)
    left = [n for n in netns_names() for key in made if n.startswith(f"tl-{key}-")]
    assert not left, f"labs left namespaces behind: {left}"
