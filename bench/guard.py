"""A deadline for one command: cancel the statement that runs past it.

A pathological plan can take hours at full scale; the benchmark reports "timed out" instead
of hanging. Cancelling goes through the driver (sqlite3 `interrupt`, psycopg `cancel`) from a
timer thread, so the caller sees the driver's error and the connection stays usable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session


@dataclass
class Deadline:
    seconds: float
    fired: bool = False


@contextmanager
def deadline(session: Session, seconds: float) -> Iterator[Deadline]:
    """Cancel whatever `session`'s connection runs once `seconds` have passed.

    Opens the session's connection (and transaction) at once, as its first query would.
    """
    driver = session.connection().connection.driver_connection
    state = Deadline(seconds)

    def cancel() -> None:
        state.fired = True
        interrupt = getattr(driver, "interrupt", None)  # sqlite3
        if interrupt is None:
            interrupt = getattr(driver, "cancel_safe", None) or getattr(driver, "cancel", None)
        if interrupt is not None:
            interrupt()

    timer = threading.Timer(seconds, cancel)
    timer.daemon = True
    timer.start()
    try:
        yield state
    finally:
        timer.cancel()
