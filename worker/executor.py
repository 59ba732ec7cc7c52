"""Apply a plan through the kernel, journalled, rolled back on failure.

Each op is written to ``$TOPOLAB_VAR_DIR/journal/<lab>.jsonl`` *before* it is
applied, so a process killed at any point leaves a record of everything it
may have made. ``recover(lab)`` (run by the next deploy or destroy) undoes
an unfinished journal in reverse; a finished apply removes its journal.
Rollback removes what the plan made (never what an op found already there);
it does not restore what the plan deleted or changed: for a failed edit of a
running lab the orchestration converges back to the revision that ran before.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from worker import owned
from worker.kernel import Kernel, KernelError, default_kernel
from worker.ops import DeleteNamespace, EngineError, MakeNamespace, Op, op_from_json
from worker.plan import Plan

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, Op], None]


class OpFailedError(EngineError):
    """An op failed; the plan was rolled back.

    Attributes:
        op: the op that failed; index: its position; errno, message: the kernel's answer.
    """

    code = "engine.op_failed"

    def __init__(self, op: Op, index: int, errno: int, message: str) -> None:
        super().__init__(f"op {index + 1} ({op.describe()}) failed: {message}")
        self.op = op
        self.index = index
        self.errno = errno
        self.kernel_message = message


def var_dir() -> Path:
    """Return ``TOPOLAB_VAR_DIR`` (``./var`` by default)."""
    return Path(os.environ.get("TOPOLAB_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")


def journal_dir() -> Path:
    """Return ``$TOPOLAB_VAR_DIR/journal``, where unfinished applies leave their journals."""
    return var_dir() / "journal"


def journal_path(lab: str, directory: Path | None = None) -> Path:
    """Return the journal file of lab ``lab``."""
    return (directory or journal_dir()) / f"{lab}.jsonl"


class Journal:
    """An append-only record of the ops an apply started."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND + one write per line: a SIGKILL leaves whole lines behind.
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def write(self, record: dict[str, object]) -> None:
        """Append one record."""
        os.write(self.fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)

    def remove(self) -> None:
        """Close and delete the journal (the apply finished or was rolled back)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_journal(path: Path) -> list[Op]:
    """Return the ops recorded in a journal, oldest first (a torn last line is skipped)."""
    ops: list[Op] = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ops
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "op" in record and isinstance(record["op"], dict):
            try:
                ops.append(op_from_json(record["op"]))
            except EngineError:
                logger.warning("journal %s: unreadable op %r", path, record)
    return ops


def rollback(ops: list[Op], kernel: Kernel) -> list[str]:
    """Undo ``ops`` in reverse; return messages of undo steps that failed (best effort)."""
    problems: list[str] = []
    done: set[Op] = set()
    for op in reversed(ops):
        undo = op.undo()
        if undo is None or undo in done:
            continue
        done.add(undo)
        try:
            undo.apply(kernel)
        except KernelError as exc:
            problems.append(f"{undo.describe()}: {exc}")
            logger.warning("rollback step failed: %s: %s", undo.describe(), exc)
    return problems


def recover(lab: str, kernel: Kernel | None = None, directory: Path | None = None) -> int:
    """Roll back an apply of ``lab`` that never finished (its process died).

    Returns how many journalled ops were undone (0 when there was no journal).
    """
    path = journal_path(lab, directory)
    if not path.exists():
        return 0
    ops = read_journal(path)
    rollback(ops, kernel or default_kernel())
    path.unlink(missing_ok=True)
    return len(ops)


def apply(
    plan: Plan,
    kernel: Kernel | None = None,
    progress: Progress | None = None,
    directory: Path | None = None,
) -> None:
    """Apply ``plan`` op by op; on failure roll back in reverse and raise.

    ``progress(done, total, op)`` is called after each op.

    Raises:
        OpFailedError: an op failed (the plan was rolled back first).
    """
    k = kernel or default_kernel()
    total = len(plan.ops)
    if total == 0:
        return
    journal = Journal(journal_path(plan.lab, directory))
    applied: list[Op] = []
    try:
        journal.write({"event": "begin", "lab": plan.lab, "total": total})
        for index, op in enumerate(plan.ops):
            journal.write({"i": index, "op": op.to_json()})
            applied.append(op)
            try:
                op.apply(k)
            except KernelError as exc:
                logger.warning("op %d failed: %s: %s", index + 1, op.describe(), exc)
                if exc.errno == errno.EEXIST:
                    # The name was taken before this op (and not by us): it made
                    # nothing, so undoing it would remove somebody else's object.
                    applied.pop()
                rollback(applied, k)
                journal.remove()
                raise OpFailedError(op, index, exc.errno, str(exc)) from exc
            except OSError as exc:
                rollback(applied, k)
                journal.remove()
                raise OpFailedError(op, index, exc.errno or 0, str(exc)) from exc
            if progress is not None:
                progress(index + 1, total, op)
    except OpFailedError:
        raise
    except BaseException:
        # Anything else (a progress callback that raised, KeyboardInterrupt):
        # undo what we made so nothing half-built stays.
        rollback(applied, k)
        journal.remove()
        raise
    # What this apply made is the lab's, by identity: a destroy need not enter it to know.
    made = [op.ns for op in plan.ops if isinstance(op, MakeNamespace)]
    gone = [op.ns for op in plan.ops if isinstance(op, DeleteNamespace)]
    if made or gone:
        owned.update(plan.lab, k, made, gone)
    journal.remove()
