"""Owners' digests (SPEC §10): the account owners of a scope, and each owner's once-a-day DM.

Functions take a session and never commit. An owner's claim is an INSERT into
owner_deliveries whose unique (subscription_id, day, owner) key decides, across every
scheduler process and restart, who sends that owner's DM for the day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queries.models import Customer, OwnerDelivery
from queries.request import Filter
from queries.scope import customer_conditions
from queries.subscriptions import CLAIMED, FAILED, POSTED, insert_once

# An owner with no Slack account (or whose account could not be found): listed, not sent.
UNREACHABLE = "unreachable"


def owners_in_scope(session: Session, filters: Sequence[Filter] = ()) -> list[str]:
    """The owners of the accounts matching the scope's `in` filters, as written, one per
    spelling up to case (an email written in two cases is one owner), sorted."""
    rows = session.execute(
        select(func.min(Customer.owner))
        .where(Customer.owner.is_not(None), Customer.owner != "", *customer_conditions(filters))
        .group_by(func.lower(Customer.owner))
    )
    return sorted(str(owner).strip() for (owner,) in rows if owner and str(owner).strip())


def owner_deliveries(session: Session, subscription_id: int, day: date) -> list[OwnerDelivery]:
    """The day's rows of an owners' digest, by owner."""
    return list(
        session.scalars(
            select(OwnerDelivery)
            .where(OwnerDelivery.subscription_id == subscription_id, OwnerDelivery.day == day)
            .order_by(OwnerDelivery.owner)
        )
    )


def handled(session: Session, subscription_id: int, day: date, owner: str) -> bool:
    """Whether the owner already has a row that day (sent, being sent, failed or unreachable)."""
    found = session.scalar(
        select(OwnerDelivery.id).where(
            OwnerDelivery.subscription_id == subscription_id,
            OwnerDelivery.day == day,
            OwnerDelivery.owner == owner,
        )
    )
    return found is not None


def claim_owner(
    session: Session,
    subscription_id: int,
    day: date,
    owner: str,
    *,
    worker: str,
    now: datetime,
    status: str = CLAIMED,
    error: str | None = None,
) -> OwnerDelivery | None:
    """Insert the owner's row for the day; None when it is already there (another process
    has it, or had it). Commit right after: the committed row is what others see.

    `status` UNREACHABLE records an owner who cannot be sent to, once a day.
    """
    row = OwnerDelivery(
        subscription_id=subscription_id,
        day=day,
        owner=owner,
        status=status,
        claimed_by=worker,
        claimed_at=now,
        error=error,
    )
    return insert_once(session, row)


def record_owner(
    session: Session,
    row_id: int,
    *,
    status: str,
    now: datetime,
    ts: str | None = None,
    error: str | None = None,
) -> None:
    """The outcome of one owner's DM: POSTED (with a note such as a chart not uploaded) or
    FAILED with Slack's error."""
    row = session.get_one(OwnerDelivery, row_id)
    row.status = status
    row.error = error
    if status == POSTED:
        row.posted_at = now
        row.message_ts = ts
    session.flush()


def interrupt_stale(
    session: Session, subscription_id: int, day: date, *, before: datetime, error: str
) -> int:
    """Rows still claimed since before `before`: their process stopped between claiming and
    recording. They become FAILED and are never sent again (the DM may have gone out)."""
    rows = session.scalars(
        select(OwnerDelivery).where(
            OwnerDelivery.subscription_id == subscription_id,
            OwnerDelivery.day == day,
            OwnerDelivery.status == CLAIMED,
            OwnerDelivery.claimed_at < before,
        )
    ).all()
    for row in rows:
        row.status = FAILED
        row.error = error
    session.flush()
    return len(rows)


def tally(session: Session, subscription_id: int, day: date) -> Counter[str]:
    """How many owners' rows of the day are in each status."""
    rows = session.execute(
        select(OwnerDelivery.status, func.count())
        .where(OwnerDelivery.subscription_id == subscription_id, OwnerDelivery.day == day)
        .group_by(OwnerDelivery.status)
    )
    return Counter({str(status): int(n) for status, n in rows})


__all__ = [
    "UNREACHABLE",
    "claim_owner",
    "handled",
    "interrupt_stale",
    "owner_deliveries",
    "owners_in_scope",
    "record_owner",
    "tally",
]
