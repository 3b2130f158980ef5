"""The App Home (SPEC §9): a rep's accounts, their best unclaimed-or-theirs candidates per rule,
renewals due within 30 days and open claims; the overall top candidates for someone who owns
no account. Built from the verbs' own answers, so every figure means what it means there."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import parse_command, run
from bot.settings import Settings
from queries.claims import DISMISSED, Held, in_force
from queries.customers import CustomerBase
from queries.db import Reader
from queries.installed import InstalledBase
from queries.models import Customer
from queries.request import Me
from queries.scope import customer_conditions
from queries.upsell import Candidate, UpsellList

HOME_TOP = 5
RENEWAL_SOON_DAYS = 30


@dataclass(frozen=True, kw_only=True)
class Home:
    me: Me
    as_of: date
    accounts: int  # customers the rep owns, in the customer base
    units: int  # their units in use
    without_service: int  # their units in use with no service plan covering today
    candidates: UpsellList  # theirs (or everyone's, for a rep with no account), unclaimed
    renewals: list[Candidate]  # their service plans ending within 30 days
    claims: list[Held]  # the rep's own claims in force
    # Claims on the rep's own accounts whose candidate is no longer one (kept until they lapse).
    resolved: frozenset[tuple[str, str, str]] = frozenset()

    @property
    def owns(self) -> bool:
        return self.accounts > 0


def build_home(reads: Reader, primary: sessionmaker[Session], settings: Settings, me: Me) -> Home:
    """The rep's Home, from the read path; claims from the database itself."""
    today = settings.today()
    who = {n.lower() for n in (me.user_id, me.email) if n}
    mine = me.mine()
    with primary() as session:
        held = in_force(session, datetime.now(UTC))
        claims = [h for h in held if h.hold.user.lower() in who]
        # The claimed customers that are the rep's own: only their candidates are read below.
        owned = (
            set(
                session.scalars(
                    select(Customer.customer_ref).where(
                        Customer.customer_ref.in_([h.customer_ref for h in claims]),
                        *customer_conditions([mine] if mine else []),
                    )
                )
            )
            if claims and mine
            else set()
        )
    with reads() as session:

        def answer(text: str) -> object:
            request = parse_command(session, text, as_of=today, settings=settings, me=me)
            return run(session, replace(request, holds=held), settings)

        customers = answer("customers mine")
        installed = answer("installed mine")
        every = answer("upsell mine")  # every rule: service, renewals, and what is resolved
        assert isinstance(customers, CustomerBase) and isinstance(installed, InstalledBase)
        assert isinstance(every, UpsellList)
        owns = customers.customers > 0
        # The rep's whole list is at hand: their best unclaimed-or-theirs come from it.
        top = _best(every, held, who) if owns else answer(f"upsell unclaimed top {HOME_TOP}")
        assert isinstance(top, UpsellList)
    found = {(c.customer_ref, c.category, c.rule) for c in every.candidates}
    return Home(
        me=me,
        as_of=today,
        accounts=customers.customers,
        units=installed.units,
        without_service=sum(c.score for c in every.candidates if c.rule == "service"),
        candidates=top,
        renewals=[
            c for c in every.candidates if c.rule == "renewal" and c.score <= RENEWAL_SOON_DAYS
        ],
        claims=claims,
        resolved=frozenset(
            key
            for h in claims
            if h.customer_ref in owned
            and (key := (h.customer_ref, h.category, h.rule)) not in found
        ),
    )


def _best(found: UpsellList, held: tuple[Held, ...], who: set[str]) -> UpsellList:
    """The first HOME_TOP candidates of each rule that nobody else holds and nobody dismissed
    (as `unclaimed`); the list is already in each rule's order."""
    others = {
        (h.customer_ref, h.category, h.rule)
        for h in held
        if h.hold.status == DISMISSED or h.hold.user.lower() not in who
    }
    kept: dict[str, int] = {}
    best = []
    for c in found.candidates:
        if (c.customer_ref, c.category, c.rule) in others or kept.get(c.rule, 0) >= HOME_TOP:
            continue
        kept[c.rule] = kept.get(c.rule, 0) + 1
        best.append(c)
    return replace(found, candidates=best, counts=None)


__all__ = ["HOME_TOP", "Home", "build_home"]
