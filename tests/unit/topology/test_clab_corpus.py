"""containerlab files as containerlab users write them: one golden case per file.

Every file under ``tests/fixtures/clab/`` (the numbered points of the import,
and ``docs-examples/``, written after containerlab's documented lab examples)
has ``<file>.expected.json`` next to it: the topology the import gives, every
warning and every error with its path in the containerlab file and its
sentence (the text is part of the product). Files are imported through the
same door as the CLI and the API, with the format the CLI picks from the name,
so a containerlab file not named ``*.clab.yml`` must be told by its content.

After an intended change, rewrite the goldens and review the diff:
``.venv/bin/python -m tests.unit.topology.test_clab_corpus --update``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lab.management.commands.topolab import bind_reader
from lab.topology import TopologyError
from lab.topology.io import import_text, to_data

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clab"
SUFFIXES = (".yml", ".yaml", ".gotmpl")
FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def fmt_for(path: Path) -> str:
    """The format ``manage.py topolab`` picks from a file name."""
    name = path.name.lower()
    if name.endswith((".clab.yml", ".clab.yaml")):
        return "clab"
    return "yaml" if name.endswith((".yml", ".yaml")) else "json"


def outcome(path: Path) -> dict[str, Any]:
    fmt = fmt_for(path)
    result: dict[str, Any] = {"format": fmt, "topology": None, "warnings": [], "errors": []}
    try:
        # As the CLI reads it: binds of files in the file's folder become node files.
        topology, warnings = import_text(path.read_text(), fmt, read_bind=bind_reader(path.parent))
        result["topology"] = to_data(topology)
    except TopologyError as exc:
        warnings = exc.warnings
        result["errors"] = [
            {"path": i.path, "code": i.code, "message": i.message} for i in exc.issues
        ]
    result["warnings"] = [{"path": w.path, "code": w.code, "message": w.message} for w in warnings]
    return result


def golden(path: Path) -> Path:
    return path.with_name(path.name + ".expected.json")


def test_the_corpus_covers_every_point_and_the_docs_examples() -> None:
    docs = [p for p in FILES if p.parent.name == "docs-examples"]
    assert len(docs) >= 20
    assert len(FILES) - len(docs) >= 15
    missing = [p.name for p in FILES if not golden(p).exists()]
    assert missing == []


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_file_imports_as_its_golden_says(path: Path) -> None:
    expected = json.loads(golden(path).read_text())
    got = outcome(path)
    assert got["errors"] == expected["errors"]
    assert got["warnings"] == expected["warnings"]
    assert got["topology"] == expected["topology"]
    assert got == expected
    # Every issue names a place in the file and says something.
    for issue in got["errors"] + got["warnings"]:
        assert issue["path"] and issue["message"], issue


def _update() -> None:
    for path in FILES:
        golden(path).write_text(json.dumps(outcome(path), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {golden(path).relative_to(FIXTURES)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python -m tests.unit.topology.test_clab_corpus --update")
    _update()
