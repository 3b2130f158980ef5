"""Claims on upsell candidates (SPEC §9): a rep holds a (customer, category, rule) so that two
reps never chase one account. `claimed` and `contacted` last 30 days from the act, `dismissed`
90; the unique key of the `claims` table decides which of two simultaneous claims wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from queries.models import Claim, Customer
from queries.request import Request
from queries.results import header
from queries.view import Msg, Person, View, _, code

CLAIMED, CONTACTED, DISMISSED = "claimed", "contacted", "dismissed"
STATUSES = (CLAIMED, CONTACTED, DISMISSED)
UNCLAIMED = "unclaimed"
DAYS = {CLAIMED: 30, CONTACTED: 30, DISMISSED: 90}

# What an act did: done; held (someone else holds it: nothing changed); released (unclaimed);
# none (nothing to unclaim); unknown (no such customer).
DONE, HELD, RELEASED, NONE, UNKNOWN = "done", "held", "released", "none", "unknown"


@dataclass(frozen=True)
class Hold:
    """A claim as an upsell candidate carries it (JSON `claim`)."""

    status: str
    user: str
    until: str  # YYYY-MM-DD, the last day it holds


@dataclass(frozen=True)
class Held:
    """A claim in force: which candidate, and its hold."""

    customer_id: int
    customer_ref: str
    category: str
    rule: str
    hold: Hold


def _day(until: datetime) -> str:
    # A claim from 09:00 on the 1st for 30 days holds through the 31st's 09:00: "until the 31st".
    return until.date().isoformat()


def in_force(session: Session, now: datetime) -> tuple[Held, ...]:
    """Every claim that holds at `now`."""
    stmt = (
        select(Claim, Customer.customer_ref)
        .join(Customer, Customer.id == Claim.customer_id)
        .where(Claim.until > now)
    )
    return tuple(
        Held(c.customer_id, ref, c.category, c.rule, Hold(c.status, c.user_id, _day(c.until)))
        for c, ref in session.execute(stmt)
    )


def not_for(holds: tuple[Held, ...], user: str | None) -> dict[tuple[str, str], list[int]]:
    """`unclaimed`: the customers to leave out per (rule, category): claimed or contacted by
    someone else, and dismissed by anyone."""
    out: dict[tuple[str, str], list[int]] = {}
    for h in holds:
        mine = user is not None and h.hold.user.lower() == user.lower()
        if h.hold.status == DISMISSED or not mine:
            out.setdefault((h.rule, h.category), []).append(h.customer_id)
    return out


@dataclass(frozen=True, kw_only=True)
class ClaimAct:
    """What a claim or unclaim did, and the candidate's claim after it (SPEC §6 kind `claim`)."""

    request: Request
    customer_ref: str
    category: str
    rule: str
    status: str
    user: str | None
    until: str | None
    outcome: str
    kind: str = "claim"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "customer_ref": self.customer_ref,
            "category": self.category,
            "rule": self.rule,
            "status": self.status,
            "user": self.user,
            "until": self.until,
            "outcome": self.outcome,
        }

    def view(self) -> View:
        what = f"{self.customer_ref} · {self.category} · {self.rule}"
        said: Msg
        if self.outcome == UNKNOWN:
            said = _("No customer has the ref {ref}.", ref=code(self.customer_ref))
        elif self.outcome == NONE:
            said = _("Nobody holds {candidate}: there was nothing to unclaim.", candidate=what)
        elif self.outcome == RELEASED:
            said = _("{candidate} is unclaimed: anyone may take it.", candidate=what)
        elif self.outcome == HELD:
            said = _(
                "{user} holds {candidate} ({status}) until {day}: nothing changed.",
                user=Person(self.user or ""),
                candidate=what,
                status=STATUS_WORDS.get(self.status, Msg(self.status)),
                day=_date(self.until),
            )
        else:
            said = _(
                "{candidate} is yours, {status}, until {day}.",
                candidate=what,
                status=STATUS_WORDS.get(self.status, Msg(self.status)),
                day=_date(self.until),
            )
        return View(
            title=_("Claim"),
            as_of=None,
            headline=said,
            sentences=(said,),
            definition=_(
                "Claimed and contacted hold a candidate 30 days, dismissed 90; only its holder,"
                " or an admin with unclaim, can change another rep's claim."
            ),
            shareable=False,
        )


STATUS_WORDS = {
    CLAIMED: _("claimed"),
    CONTACTED: _("contacted"),
    DISMISSED: _("dismissed"),
    UNCLAIMED: _("unclaimed"),
}


def _date(day: str | None) -> date | None:
    return date.fromisoformat(day) if day else None


def claim_act(session: Session, request: Request) -> ClaimAct:
    """Claim, mark contacted or dismissed, or unclaim one candidate, in the caller's
    transaction; another rep's claim in force is never taken over by a claim."""
    ref, category, rule = request.lookup or "", request.target_name or "", request.rule or ""
    user = request.user or ""
    now = request.at or datetime.now(UTC)

    def said(status: str, outcome: str, holder: str | None, until: datetime | None) -> ClaimAct:
        return ClaimAct(
            request=request,
            customer_ref=ref,
            category=category,
            rule=rule,
            status=status,
            user=holder,
            until=_day(until) if until else None,
            outcome=outcome,
        )

    cid = session.scalar(select(Customer.id).where(Customer.customer_ref == ref))
    if cid is None:
        return said(UNCLAIMED, UNKNOWN, None, None)
    key = (Claim.customer_id == cid, Claim.category == category, Claim.rule == rule)
    if request.status == UNCLAIMED:
        anyone = true() if request.may_override else false()
        gone = session.execute(
            delete(Claim)
            .where(*key, or_(Claim.user_id == user, Claim.until <= now, anyone))
            .returning(Claim.id)
        ).first()
        if gone is not None:
            return said(UNCLAIMED, RELEASED, None, None)
    else:
        status = request.status or CLAIMED
        until = now + timedelta(days=DAYS[status])
        values = {"status": status, "user_id": user, "acted_at": now, "until": until}
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        added = session.execute(
            insert(Claim)
            .values(customer_id=cid, category=category, rule=rule, **values)
            .on_conflict_do_nothing(index_elements=["customer_id", "category", "rule"])
            .returning(Claim.id)
        ).first()
        if added is not None:
            return said(status, DONE, user, until)
        # The holder may change its own claim; a lapsed claim is anyone's.
        changed = session.execute(
            update(Claim)
            .where(*key, or_(Claim.user_id == user, Claim.until <= now))
            .values(values)
            .returning(Claim.id)
        ).first()
        if changed is not None:
            return said(status, DONE, user, until)
    held = session.scalar(select(Claim).where(*key, Claim.until > now))
    if held is None:
        return said(UNCLAIMED, NONE, None, None)
    return said(held.status, HELD, held.user_id, held.until)


__all__ = [
    "CLAIMED",
    "CONTACTED",
    "DISMISSED",
    "STATUSES",
    "UNCLAIMED",
    "ClaimAct",
    "Held",
    "Hold",
    "claim_act",
    "in_force",
    "not_for",
]
