"""Fixtures for the apps' kernel tests (see harness.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps.harness import Lab


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A fresh set of namespaces and programs, removed also when the test fails."""
    if os.geteuid() != 0:
        pytest.fail("the apps' kernel tests need root (network namespaces)")
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
