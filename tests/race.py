"""Fire requests at the same moment from real threads (the quota and booking races)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar, cast

from django.db import connections

T = TypeVar("T")


def race(calls: list[Callable[[], T]], timeout: float = 60.0) -> list[T]:
    """Run each call in a thread of its own, all released at once; return their results.

    Each thread closes its own database connection when done (they need a file
    database: an in-memory SQLite is one connection's).

    Raises:
        Exception: the first exception a call raised, once every thread has ended.
        TimeoutError: a thread did not end within ``timeout`` seconds.
    """
    barrier = threading.Barrier(len(calls))
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except BaseException as exc:  # handed to the test's thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"a racing thread did not end within {timeout} s")
    if errors:
        raise errors[0]
    return cast(list[T], results)
