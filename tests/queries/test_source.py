"""The seam: each session reads one source, the state rows only on a replica."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from queries.source import source
from queries.state import Rows, StateRows
from tests.queries.world import build_world
from tests.replicas import replica_of


def test_a_database_reads_its_rows_and_a_replica_its_state_rows(
    session: Session, tmp_path: Path
) -> None:
    build_world(session)
    assert type(source(session)) is Rows
    session.flush()
    with replica_of(session.connection(), tmp_path) as replica:
        chosen = source(replica)
        assert type(chosen) is StateRows
        assert source(replica) is chosen  # chosen once, kept with the session
