"""The App Home (SPEC §9): a rep's accounts, their best unclaimed-or-theirs candidates per rule,
renewals due within 30 days and open claims; the overall top candidates for someone who owns
no account. Built from the verbs' own answers, so every figure means what it means there."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.ask import parse_command, run
from bot.settings import Settings
from queries.claims import Held, in_force
from queries.customers import CustomerBase
from queries.db import Reader
from queries.installed import InstalledBase
from queries.request import Me
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

    @property
    def owns(self) -> bool:
        return self.accounts > 0


def build_home(reads: Reader, primary: sessionmaker[Session], settings: Settings, me: Me) -> Home:
    """The rep's Home, from the read path; claims from the database itself."""
    today = settings.today()
    with primary() as session:
        held = in_force(session, datetime.now(UTC))
    who = {n.lower() for n in (me.user_id, me.email) if n}
    claims = [h for h in held if h.hold.user.lower() in who]
    with reads() as session:

        def answer(text: str) -> object:
            request = parse_command(session, text, as_of=today, settings=settings, me=me)
            return run(session, replace(request, holds=held), settings)

        customers = answer("customers mine")
        installed = answer("installed mine")
        service = answer("upsell service mine")
        renewals = answer("upsell renewal mine")
        assert isinstance(customers, CustomerBase) and isinstance(installed, InstalledBase)
        assert isinstance(service, UpsellList) and isinstance(renewals, UpsellList)
        owns = customers.customers > 0
        top = answer(f"upsell {'mine ' if owns else ''}unclaimed top {HOME_TOP}")
        assert isinstance(top, UpsellList)
    return Home(
        me=me,
        as_of=today,
        accounts=customers.customers,
        units=installed.units,
        without_service=sum(c.score for c in service.candidates),
        candidates=top,
        renewals=[c for c in renewals.candidates if c.score <= RENEWAL_SOON_DAYS],
        claims=claims,
    )


__all__ = ["HOME_TOP", "Home", "build_home"]
