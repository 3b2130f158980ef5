"""The audit log (SPEC §8): one row per request. Takes a session; never commits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from queries.models import AuditEntry

OUTCOMES = ("answered", "refused", "bad_input", "failed")
MAX_COMMAND = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL text cannot hold NUL


@dataclass(frozen=True, kw_only=True)
class Event:
    """What happened to one request: never row data, tokens or response_urls."""

    team_id: str | None
    user_id: str | None
    channel_id: str | None
    command: str
    outcome: str
    verb: str | None = None
    rows: int | None = None
    ms: int | None = None
    rule: str | None = None
    incident_id: str | None = None
    source: str = "slack"


def record(session: Session, event: Event, *, at: datetime | None = None) -> AuditEntry:
    if event.outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {event.outcome!r}")
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        team_id=event.team_id,
        user_id=event.user_id,
        channel_id=event.channel_id,
        source=event.source,
        verb=event.verb,
        command=" ".join(_CONTROL.sub(" ", event.command).split())[:MAX_COMMAND],
        rows=event.rows,
        ms=event.ms,
        outcome=event.outcome,
        rule=event.rule,
        incident_id=event.incident_id,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(
    session: Session,
    *,
    since: datetime | None = None,
    user: str | None = None,
    limit: int = 1000,
) -> Sequence[AuditEntry]:
    """Newest first."""
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if user is not None:
        query = query.where(AuditEntry.user_id == user)
    return session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    ).all()


__all__ = ["OUTCOMES", "Event", "entries", "record"]
