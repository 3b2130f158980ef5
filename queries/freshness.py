"""The data version: which state of the four data tables an answer, or a replica, reflects."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from queries.models import DataVersion


def bump_data_version(session: Session) -> None:
    """Mark the data as changed; it takes effect when the caller's transaction commits."""
    session.execute(update(DataVersion).where(DataVersion.id == 1).values(version=uuid.uuid4().hex))


def data_version(conn: Connection | Session) -> str | None:
    """The current version; None for a database whose schema predates it."""
    return conn.scalar(select(DataVersion.version).where(DataVersion.id == 1))
