"""The lab host's share of recovery: sweeping what labs no longer wanted left behind.

The control plane decides what a host keeps (it knows which labs exist and run);
it sends the host the keys to keep with the newest deployment id it had seen
when it listed them. The host removes every other database lab its kernel holds,
except one whose lock is held (an order is at work) or one a deployment newer
than the list built here (the fence, see ``worker/orchestrate.py``).

Reconciling running labs after a restart is an order like any other
(``reconcile``), answered with a report; marking silent hosts down and sending
stalled deployments again are the control plane's (``lab/control.py``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from lab import wire
from worker.engine import Engine
from worker.hosts import Identity
from worker.locks import LabLock, LockBusy
from worker.orchestrate import fence

logger = logging.getLogger(__name__)


def _sweep_filter() -> re.Pattern[str] | None:
    # Tests share the machine with other sessions: they restrict sweeping to their keys.
    pattern = os.environ.get("TOPOLAB_SWEEP_KEYS")
    return re.compile(pattern) if pattern else None


def sweep_orphans(
    me: Identity, keep: Iterable[str], newest: int, engine: Engine | None = None
) -> list[str]:
    """Remove the kernel objects of database labs not in ``keep``; return the keys removed.

    ``newest``: the highest deployment id the control plane knew when it listed
    ``keep``; a lab that ran a newer deployment here since is left alone. Labs the
    CLI made (keys that are not ``l<pk>``) are the admin's and never swept.
    """
    engine = engine or Engine()
    only = _sweep_filter()
    kept = set(keep)
    removed: list[str] = []
    for key in sorted(engine.labs_present()):
        if key in kept or wire.lab_id_of(key) is None:
            continue
        if only is not None and not only.search(key):
            continue
        try:
            with LabLock(f"{key}@{me.name}", f"sweep:{me.name}"):
                if fence(key, me.name)[0] > newest:
                    continue
                engine.destroy(key)
            removed.append(key)
        except LockBusy:
            continue
        except Exception:
            logger.exception("could not sweep lab %s", key)
    if removed:
        logger.info("swept orphans of %s", ", ".join(removed))
    return removed
