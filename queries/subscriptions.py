"""Subscriptions (digests, alerts, owners' digests) and the once-a-day delivery claim.

Functions take a session and never commit: the caller owns the transaction. The claim is an
INSERT into digest_deliveries whose unique (subscription_id, day) key decides, across every
process, who posts a subscription's digest for a day; nothing is remembered in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from queries.models import DigestDelivery, DigestSubscription

T = TypeVar("T")
CLAIMED, POSTED, FAILED = "claimed", "posted", "failed"
# A day an alert found nothing new: recorded, nothing posted.
QUIET = "quiet"
# What a subscription posts (DigestSubscription.kind).
DIGEST, ALERT, OWNERS = "digest", "alert", "owners"


@dataclass(frozen=True)
class Due:
    """A subscription whose digest for its local `day` is due and not yet claimed."""

    subscription: DigestSubscription
    day: date


def subscribe(
    session: Session,
    *,
    channel_id: str,
    local_time: str,
    tz: str,
    scope: str,
    now: datetime,
    channel_name: str | None = None,
    created_by: str | None = None,
    team_id: str | None = None,
    lang: str | None = None,
    kind: str = DIGEST,
    rule: str = "",
) -> tuple[DigestSubscription, bool]:
    """Add a subscription, or update (and reactivate) the one of this kind for this channel,
    rule and scope. An owners' digest has no channel (""); an alert to a user's DM has their
    user id as its channel.

    Returns the subscription and whether it is new.
    """
    sub = session.scalar(
        select(DigestSubscription).where(
            DigestSubscription.kind == kind,
            DigestSubscription.channel_id == channel_id,
            DigestSubscription.rule == rule,
            DigestSubscription.scope == scope,
        )
    )
    created = sub is None
    if sub is None:
        sub = DigestSubscription(
            kind=kind, channel_id=channel_id, rule=rule, scope=scope, created_at=now
        )
        session.add(sub)
    sub.local_time = local_time
    sub.tz = tz
    sub.active = True
    sub.last_error = None
    sub.last_error_at = None
    sub.channel_name = channel_name or sub.channel_name
    sub.created_by = created_by or sub.created_by
    sub.team_id = team_id or sub.team_id
    sub.lang = lang
    session.flush()
    return sub, created


def unsubscribe(
    session: Session,
    channel_id: str,
    scope: str | None = None,
    *,
    kind: str = DIGEST,
    rule: str | None = None,
) -> int:
    """Stop the channel's subscriptions of this kind (only the one for `scope`, or `rule`,
    when given); how many."""
    subs = session.scalars(
        select(DigestSubscription).where(
            DigestSubscription.kind == kind,
            DigestSubscription.channel_id == channel_id,
            DigestSubscription.active.is_(True),
            *([DigestSubscription.scope == scope] if scope is not None else []),
            *([DigestSubscription.rule == rule] if rule is not None else []),
        )
    ).all()
    for sub in subs:
        # Kept, not deleted: its delivery rows still stop a same-day re-subscribe reposting.
        sub.active = False
    session.flush()
    return len(subs)


def subscriptions(
    session: Session,
    *,
    channel_id: str | None = None,
    include_paused: bool = True,
    kinds: tuple[str, ...] = (DIGEST, OWNERS),
) -> list[DigestSubscription]:
    """Subscriptions of these kinds, active ones first; paused ones (stopped by an error) too
    by default."""
    stmt = (
        select(DigestSubscription)
        .where(DigestSubscription.kind.in_(kinds))
        .order_by(DigestSubscription.channel_id, DigestSubscription.rule, DigestSubscription.scope)
    )
    if channel_id is not None:
        stmt = stmt.where(DigestSubscription.channel_id == channel_id)
    found = list(session.scalars(stmt))
    found = [s for s in found if s.active or (include_paused and s.last_error)]
    return sorted(found, key=lambda s: not s.active)


def last_delivery(
    session: Session, subscription_id: int, *, status: str | None = None
) -> DigestDelivery | None:
    """The subscription's latest day (only among days of that status, when given)."""
    return session.scalar(
        select(DigestDelivery)
        .where(
            DigestDelivery.subscription_id == subscription_id,
            *([DigestDelivery.status == status] if status is not None else []),
        )
        .order_by(DigestDelivery.day.desc())
        .limit(1)
    )


def _slot(sub: DigestSubscription, day: date) -> datetime:
    hours, minutes = (int(p) for p in sub.local_time.split(":"))
    return datetime.combine(day, time(hours, minutes), ZoneInfo(sub.tz))


def _aware(at: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive (they were stored as UTC).
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo("UTC"))


def due(session: Session, now: datetime) -> list[Due]:
    """Active subscriptions whose local time has come today and that have no delivery today.

    A slot missed while no scheduler ran still counts later the same local day; a subscription
    made after today's slot starts tomorrow. An owners' digest whose day is still being sent
    stays due: any process may take part, each owner's own row keeping them once-only.
    """
    out: list[Due] = []
    for sub in session.scalars(
        select(DigestSubscription)
        .where(DigestSubscription.active.is_(True))
        .order_by(DigestSubscription.id)
    ):
        day = now.astimezone(ZoneInfo(sub.tz)).date()
        slot = _slot(sub, day)
        if now < slot or _aware(sub.created_at) > slot:
            continue
        taken = session.scalar(
            select(DigestDelivery.status).where(
                DigestDelivery.subscription_id == sub.id, DigestDelivery.day == day
            )
        )
        if taken is None or (sub.kind == OWNERS and taken == CLAIMED):
            out.append(Due(sub, day))
    return out


def claim(
    session: Session, subscription_id: int, day: date, *, worker: str, now: datetime
) -> DigestDelivery | None:
    """Insert the day's delivery row; None when another process already has it.

    Commit right after a successful claim: the committed row is what other processes see.
    """
    row = DigestDelivery(
        subscription_id=subscription_id,
        day=day,
        status=CLAIMED,
        attempts=1,
        claimed_by=worker,
        claimed_at=now,
    )
    return insert_once(session, row)


def insert_once(session: Session, row: T) -> T | None:
    """Add the row unless its unique key is already taken (by this or another process):
    then None, and the session carries on."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def record_posted(
    session: Session, delivery_id: int, *, ts: str | None, now: datetime, note: str | None = None
) -> None:
    row = session.get_one(DigestDelivery, delivery_id)
    row.status = POSTED
    row.posted_at = now
    row.message_ts = ts
    row.error = note
    session.flush()


def record_quiet(session: Session, delivery_id: int, *, now: datetime) -> None:
    """An alert's day with nothing new: done, and nothing posted."""
    row = session.get_one(DigestDelivery, delivery_id)
    row.status = QUIET
    row.posted_at = now
    session.flush()


def record_failed(
    session: Session, delivery_id: int, *, error: str, now: datetime, pause: bool = False
) -> DigestSubscription:
    """Mark the day's delivery failed and note the error on the subscription.

    `pause` stops the subscription (the channel is gone or the app is not in it): it would
    fail the same way every day until someone subscribes again.
    """
    row = session.get_one(DigestDelivery, delivery_id)
    row.status = FAILED
    row.error = error
    sub = session.get_one(DigestSubscription, row.subscription_id)
    sub.last_error = error
    sub.last_error_at = now
    if pause:
        sub.active = False
    session.flush()
    return sub


__all__ = [
    "ALERT",
    "CLAIMED",
    "DIGEST",
    "FAILED",
    "OWNERS",
    "POSTED",
    "QUIET",
    "Due",
    "claim",
    "due",
    "insert_once",
    "last_delivery",
    "record_failed",
    "record_posted",
    "record_quiet",
    "subscribe",
    "subscriptions",
    "unsubscribe",
]
