"""The quota defaults in settings (``TOPOLAB_QUOTA_*``): a whole number, or none."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from lab.settings import quota_default


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 7), ("12", 12), (" 0 ", 0), ("", None), ("none", None), ("None", None)],
)
def test_a_default_is_a_whole_number_or_none(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: int | None
) -> None:
    if raw is None:
        monkeypatch.delenv("TOPOLAB_QUOTA_X", raising=False)
    else:
        monkeypatch.setenv("TOPOLAB_QUOTA_X", raw)
    assert quota_default("TOPOLAB_QUOTA_X", 7) == expected


@pytest.mark.parametrize("raw", ["-1", "1.5", "ten", "²", "1e3"])
def test_anything_else_refuses_to_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("TOPOLAB_QUOTA_X", raw)
    with pytest.raises(ImproperlyConfigured, match="TOPOLAB_QUOTA_X"):
        quota_default("TOPOLAB_QUOTA_X", 7)
