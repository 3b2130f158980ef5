"""The data version: which state of the four data tables an answer, or a replica, reflects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from queries.models import DataChange, DataVersion


@dataclass(frozen=True, order=True)
class DataState:
    """A lineage (`version`) and the number of changes logged in it (`seq`)."""

    version: str
    seq: int

    @property
    def name(self) -> str:
        return f"{self.version}-{self.seq}"


def renew_epoch(session: Session) -> None:
    """Start a new lineage: every replica is rebuilt (takes effect when the caller commits)."""
    session.execute(
        update(DataVersion)
        .where(DataVersion.id == 1)
        .values(version=uuid.uuid4().hex, seq=DataVersion.seq + 1)
    )


def data_state(conn: Connection | Session) -> DataState | None:
    """The current state; None for a database whose schema predates it."""
    row = conn.execute(
        select(DataVersion.version, DataVersion.seq).where(DataVersion.id == 1)
    ).first()
    return None if row is None else DataState(row.version, row.seq)


def data_version(conn: Connection | Session) -> str | None:
    state = data_state(conn)
    return None if state is None else state.name


@dataclass(frozen=True)
class Changes:
    """What the changes after `since` up to `until` touched, as logged (queries/capture.py)."""

    since: int
    until: int
    customers: frozenset[int]
    products: frozenset[int]
    complete: bool  # every number in (since, until] is there: nothing was pruned or lost
    since_at: str | None  # when change `since` was made, as the log says now (see stamp)
    until_at: str | None


def changes_between(conn: Connection | Session, since: int, until: int) -> Changes:
    rows = conn.execute(
        select(DataChange.seq, DataChange.customer_id, DataChange.product_id, DataChange.at)
        .where(DataChange.seq >= since, DataChange.seq <= until)
        .order_by(DataChange.seq)
    ).all()
    at = {r.seq: stamp(r.at) for r in rows}
    after = [r for r in rows if r.seq > since]
    return Changes(
        since=since,
        until=until,
        customers=frozenset(r.customer_id for r in after if r.customer_id is not None),
        products=frozenset(r.product_id for r in after if r.product_id is not None),
        complete=len({r.seq for r in after}) == until - since,
        since_at=at.get(since),
        until_at=at.get(until),
    )


def change_at(conn: Connection | Session, seq: int) -> str | None:
    """When change `seq` was made (see stamp); None where the log has no such change."""
    return stamp(conn.scalar(select(DataChange.at).where(DataChange.seq == seq)))


def stamp(at: datetime | None) -> str | None:
    """A change's time as text that compares equal however the database returned it."""
    if at is None:
        return None
    return (at.astimezone(UTC) if at.tzinfo else at).isoformat()
