"""The namespaces a lab's applies made, by identity: a destroy's quick proof of ownership.

The owner tag on ``lo`` is what Topolab trusts, but reading it means entering every
namespace. When an apply makes a namespace it also writes down that namespace's
identity (``Kernel.ns_identity``: device, inode and change time of its file) in
``$TOPOLAB_VAR_DIR/labs/<lab>/netns.json``. A destroy deletes the namespaces whose
identity still matches without entering them and reads the tag of every other one as
before. A namespace deleted and made again by anybody never matches: its change time
differs even when the kernel reuses the inode number.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from worker.kernel import Kernel

logger = logging.getLogger(__name__)


def record_path(lab: str) -> Path:
    """Return ``$TOPOLAB_VAR_DIR/labs/<lab>/netns.json``."""
    from worker.executor import var_dir

    return var_dir() / "labs" / lab / "netns.json"


def load(lab: str) -> dict[str, str]:
    """Return ``{namespace: identity}`` recorded for lab ``lab`` (empty when none or unreadable)."""
    try:
        data = json.loads(record_path(lab).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def update(lab: str, kernel: Kernel, made: Iterable[str], gone: Iterable[str] = ()) -> None:
    """Record the identities of namespaces ``made``; drop ``gone``. Never raises.

    A record that cannot be written only costs the next destroy its shortcut.
    """
    known = load(lab)
    for name in gone:
        known.pop(name, None)
    for name in made:
        identity = kernel.ns_identity(name)
        if identity is not None:
            known[name] = identity
    path = record_path(lab)
    try:
        if not known:
            forget(lab)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not record the namespaces of lab %s: %s", lab, exc)


def proven(lab: str, kernel: Kernel, names: Iterable[str]) -> list[str]:
    """Return those of ``names`` whose identity matches the record of lab ``lab``."""
    known = load(lab)
    if not known:
        return []
    return [n for n in names if n in known and kernel.ns_identity(n) == known[n]]


def forget(lab: str) -> None:
    """Remove the record of lab ``lab`` (and its folder when nothing else lives there)."""
    path = record_path(lab)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()
