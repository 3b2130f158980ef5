"""The typed request every predefined query receives (built by bot.parsing from command text)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for the annotation: queries.claims builds on this module.
    from queries.claims import Held

CUSTOMER_DIMENSIONS = ("segment", "channel", "industry", "region", "country", "owner")
PRODUCT_DIMENSIONS = ("category", "product")
TIME_DIMENSIONS = ("year", "quarter", "month")
DIMENSIONS = CUSTOMER_DIMENSIONS + PRODUCT_DIMENSIONS + TIME_DIMENSIONS
UPSELL_RULES = ("service", "renewal", "install", "consumables", "aging")


@dataclass(frozen=True, kw_only=True)
class Target:
    """A product category, or one product (by sku)."""

    kind: str  # "category" or "product"
    value: str  # the category name or the sku
    category: str  # the category itself, or the product's category

    @property
    def is_product(self) -> bool:
        return self.kind == "product"


@dataclass(frozen=True, kw_only=True)
class Filter:
    """`in <value>`: a customer dimension equal to a value (or, negated, different and known);
    with `alternatives`, equal to any of them (`mine`: the asker's user id or email)."""

    dimension: str
    value: str
    negate: bool = False
    label: str = ""
    alternatives: tuple[str, ...] = ()

    def describe(self) -> str:
        return self.label or f"{self.dimension}:{self.value}"


MINE = "mine"
# A Slack user id, one of the two ways an owner or a claim's holder is written (SPEC §9).
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]+")


def is_user_id(name: str) -> bool:
    """Whether `name` is a Slack user id (else it is an email)."""
    return SLACK_USER_ID.fullmatch(name) is not None


@dataclass(frozen=True)
class Me:
    """Who asks (SPEC §9): their Slack user id and the email on their Slack profile, either
    of which an account's owner may be written as."""

    user_id: str | None = None
    email: str | None = None

    def mine(self) -> Filter | None:
        """The `mine` filter: accounts owned by either of the asker's names."""
        names = [n for n in (self.user_id, self.email) if n]
        if not names:
            return None
        return Filter(dimension="owner", value=names[0], label=MINE, alternatives=tuple(names[1:]))


# Where an answer's figures came from, when the asker should know (session.info[READ_FROM]).
READ_FROM = "basebot_read_from"
DIRECT = "database"  # the replica was behind: read directly from the database (slower)
OFFLINE = "offline"  # the database could not be reached: the replica's data as of `at`


@dataclass(frozen=True)
class Source:
    kind: str
    at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Request:
    verb: str
    as_of: date
    target: Target | None = None
    by: str | None = None
    filters: tuple[Filter, ...] = ()
    top: int | None = None
    rule: str | None = None
    rank_by: str = "revenue"
    lookup: str | None = None
    csv: bool = False
    public: bool = False
    text: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    # How many rows of a long list the caller will show (a Slack page); None: all of them.
    listing: int | None = None
    source: Source | None = None
    # Who asks (a Slack user id, or an email on the CLI): the holder of a claim act.
    user: str | None = None
    # The moment of an act (claims); None: now.
    at: datetime | None = None
    # A claim act: claimed, contacted, dismissed or unclaimed.
    status: str | None = None
    # The access rules let the asker unclaim another rep's claim.
    may_override: bool = False
    # `unclaimed`: leave out candidates someone else holds, and dismissed ones.
    unclaimed: bool = False
    # `since <date>` on upsell: only the candidates that were not candidates on that day.
    since: date | None = None
    # The claims in force, read from the database by the front end (a replica has none);
    # None: not read.
    holds: tuple[Held, ...] | None = None

    @property
    def target_name(self) -> str | None:
        return self.target.value if self.target else None
