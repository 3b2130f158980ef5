"""Answers read from a read replica built from a test's own (uncommitted) rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from queries.replica import ReplicaConfig, build_replica, open_replica

READS = ["database", "replica"]
_builds = itertools.count()


@contextmanager
def replica_of(conn: Connection, folder: Path) -> Iterator[Session]:
    """A session on a replica of what `conn` sees now (a new folder each time: the tests'
    rows change without a data-version bump on SQLite)."""
    config = ReplicaConfig(folder=folder / f"r{next(_builds)}", memory_limit="256MB", threads=1)
    _, path = build_replica(conn, config)
    engine = open_replica(path, config)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()
