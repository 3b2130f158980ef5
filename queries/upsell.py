"""Upsell candidates (SPEC §4): five rules per core category, best first."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    FromClause,
    Select,
    String,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from queries.claims import STATUS_WORDS, Hold, not_for
from queries.models import Customer, Installation, Product, Purchase
from queries.request import UPSELL_RULES, Filter, Request
from queries.results import header, jsonable
from queries.scope import (
    Window,
    active_at,
    covers,
    customer_filter,
    days_before,
    in_products,
    product_ids,
    years_before,
)
from queries.source import source
from queries.view import (
    CATEGORY,
    CUSTOMER_REF,
    NAME,
    Choice,
    Column,
    Figure,
    Label,
    Msg,
    Person,
    Table,
    View,
    _,
    _n,
    framing,
)

if TYPE_CHECKING:
    from queries.state import Rows

RENEWAL_DAYS = 60
INSTALL_GRACE_DAYS = 14
CONSUMABLE_DAYS = 90
AGING_YEARS = 5


@dataclass(frozen=True)
class Candidate:
    customer_ref: str
    name: str
    category: str
    rule: str
    score: int
    detail: str
    claim: Hold | None = None  # who holds the candidate, while a claim holds (SPEC §9)


@dataclass(frozen=True, kw_only=True)
class UpsellList:
    """The candidates best first; with `counts`, only the head of the list (request.listing)."""

    request: Request
    candidates: list[Candidate] = field(default_factory=list)
    counts: dict[str, int] | None = None  # candidates per rule in the whole list
    # With `since`: per rule, the candidates on that day that no longer are (SPEC §10).
    dropped: dict[str, int] | None = None
    kind: str = "upsell"

    def to_json(self) -> dict[str, Any]:
        out = header(self.kind, self.request) | {"candidates": jsonable(self.candidates)}
        if self.request.since is not None:
            out |= {"since": self.request.since.isoformat(), "dropped": self.dropped_total}
        return out

    @property
    def dropped_total(self) -> int:
        return sum((self.dropped or {}).values())

    def rule_counts(self) -> dict[str, int]:
        if self.counts is not None:
            return dict(self.counts)
        return {rule: len(found) for rule, found in self.by_rule().items()}

    @property
    def total(self) -> int:
        return sum(self.rule_counts().values())

    def by_rule(self) -> dict[str, list[Candidate]]:
        grouped: dict[str, list[Candidate]] = {rule: [] for rule in UPSELL_RULES}
        for c in self.candidates:
            grouped[c.rule].append(c)
        return grouped

    def view(self) -> View:
        counts = self.rule_counts()
        view = View(
            title=_("Upsell candidates"),
            **framing(self.request),
            headline=_n("{n} candidate", "{n} candidates", self.total),
            figures=(
                Figure(self.total, "count", _("candidates")),
                *(Figure(n, "count", RULES[rule]) for rule, n in counts.items() if n),
            ),
            tables=(candidate_table(self.by_rule(), self.request.as_of, total=self.total),),
            choices=tuple(
                choice
                for row, c in enumerate(c for found in self.by_rule().values() for c in found)
                for choice in claim_choices(row, c, self.request.user)
            ),
            choose=_("Claim, contacted, dismiss or unclaim…"),
            definition=DEFINITION,
        )
        since = self.request.since
        return view if since is None else self._new_since(view, since)

    def _new_since(self, view: View, day: date) -> View:
        """The same list, said as what is new since `day`, and how many dropped out."""
        new = _n(
            "{n} new candidate since {day}", "{n} new candidates since {day}", self.total, day=day
        )
        gone = _n(
            "{n} candidate of {day} has dropped out.",
            "{n} candidates of {day} have dropped out.",
            self.dropped_total,
            day=day,
        )
        return replace(
            view,
            title=_("New upsell candidates since {day}", day=day),
            headline=new,
            sentences=(new, gone),
            figures=(
                Figure(self.total, "count", _("new candidates")),
                *view.figures[1:],
                Figure(self.dropped_total, "count", _("dropped out")),
            ),
            definition=_(
                "{rules} New since {day}: not a candidate of the same category and rule on that"
                " day (both days read from the data as it is now).",
                rules=DEFINITION,
                day=day,
            ),
        )


DEFINITION = _(
    "service: units in use, no plan covering today · renewal: plan ends within"
    " 60 days · install: bought 14+ days ago, not installed · consumables: none"
    " bought in 90 days · aging: installed 5+ years ago."
)


# The rules' names as people read them (the command words stay English).
RULES = {
    "service": _("service"),
    "renewal": _("renewal"),
    "install": _("install"),
    "consumables": _("consumables"),
    "aging": _("aging"),
}


def detail(c: Candidate, d: date) -> Label:
    """What the candidate's score means, in words: `c.detail` for CSV, a message for people."""
    n = c.score
    words: Msg
    if c.rule == "service":
        words = _n("{n} unit in use, no service plan", "{n} units in use, no service plan", n)
    elif c.rule == "renewal":
        words = _n(
            "service ends {day} (in {n} day)",
            "service ends {day} (in {n} days)",
            n,
            day=d + timedelta(days=n),
        )
    elif c.rule == "install":
        words = _n("{n} unit bought, not installed", "{n} units bought, not installed", n)
    elif c.rule == "consumables":
        words = _n(
            "{n} unit in use, no consumables in {days} days",
            "{n} units in use, no consumables in {days} days",
            n,
            days=CONSUMABLE_DAYS,
        )
    elif c.rule == "aging":
        words = _n(
            "{n} unit installed on or before {day}",
            "{n} units installed on or before {day}",
            n,
            day=years_before(d, AGING_YEARS),
        )
    else:
        words = Msg(c.detail)
    return Label(c.detail, words)


def claim_choices(row: int, c: Candidate, user: str | None) -> list[Choice]:
    """The claim acts on one candidate: who holds it decides which make sense."""
    what = f"{shlex.quote(c.customer_ref)} {c.category} {c.rule}"
    name = f"{c.customer_ref} · {c.category} · {c.rule}"
    mine = c.claim is not None and user is not None and c.claim.user.lower() == user.lower()
    acts = []
    if c.claim is None or mine:
        if c.claim is None:
            acts.append(Choice(row, _("Claim {candidate}", candidate=name), f"claim {what}"))
        acts.append(
            Choice(row, _("Contacted: {candidate}", candidate=name), f"claim {what} contacted")
        )
        acts.append(
            Choice(row, _("Dismiss {candidate}", candidate=name), f"claim {what} dismissed")
        )
    if c.claim is not None:
        acts.append(Choice(row, _("Unclaim {candidate}", candidate=name), f"unclaim {what}"))
    return acts


def held_by(hold: Hold | None) -> Label | None:
    """Who holds a candidate, in words ("claimed by U0ANN until …"); CSV gets the status."""
    if hold is None:
        return None
    return Label(
        hold.status,
        _(
            "{status} by {user} until {day}",
            status=STATUS_WORDS.get(hold.status, Msg(hold.status)),
            user=Person(hold.user),
            day=date.fromisoformat(hold.until),
        ),
    )


def candidate_table(
    groups: dict[str, list[Candidate]], d: date, *, total: int | None = None
) -> Table:
    """Candidates by rule, in the order of the rules: the table people page and CSV holds;
    with a column of who holds them when any of them is claimed."""
    found = [c for rule in UPSELL_RULES for c in groups.get(rule, [])]
    claimed = any(c.claim for c in found)
    return Table(
        columns=(
            Column("rule", _("rule"), "label"),
            Column("customer_ref", CUSTOMER_REF),
            Column("name", NAME),
            Column("category", CATEGORY),
            Column("score", _("score"), "count"),
            Column("detail", _("detail"), "long"),
            *([Column("claim", _("claim"), "label")] if claimed else []),
        ),
        rows=[
            (
                Label(c.rule, RULES[c.rule]),
                c.customer_ref,
                c.name,
                c.category,
                c.score,
                detail(c, d),
                *([held_by(c.claim)] if claimed else []),
            )
            for c in found
        ],
        empty=_("No candidates."),
        total=total,
    )


@dataclass(frozen=True)
class UpsellCategory:
    """The product id sets one category's rules look at, and where the answer reads them."""

    name: str
    whole: bool  # the whole category, not one product of it
    units: list[int]  # products of the category (or the one target product)
    installable: list[int]
    services: list[int]
    consumables: list[int]
    source: Rows  # the raw rows, or a replica's state rows (queries/state.py)


def core_categories(session: Session) -> list[str]:
    stmt = select(Product.category).where(Product.kind == "core").distinct()
    return sorted(session.scalars(stmt))


def _category(session: Session, src: Rows, name: str, sku: str | None) -> UpsellCategory:
    own = [Product.category == name] + ([Product.sku == sku] if sku else [])
    return UpsellCategory(
        name=name,
        whole=sku is None,
        units=product_ids(session, *own),
        installable=product_ids(session, *own, Product.installable.is_(True)),
        services=product_ids(session, Product.kind == "service", Product.for_category == name),
        consumables=product_ids(
            session, Product.kind == "consumable", Product.for_category == name
        ),
        source=src,
    )


def active_units(
    cat: UpsellCategory,
    d: date,
    *,
    without: Select[Any] | None = None,
    installed_by: date | None = None,
) -> Select[Any, Any]:
    """(cid, active units at d) of the customers with some, except those in `without`; with
    `installed_by`, only units installed on or before that day count."""
    # An uncorrelated NOT IN: SQLite runs a correlated NOT EXISTS once per installation,
    # which took 41 s for one category at 100,000 customers; this takes 0.08 s.
    # Units installed by a date long ago are a small, early part of the date-ordered copy.
    units = Installation if installed_by is None else cat.source.dated_installations
    return (
        select(units.customer_id.label("cid"), func.count().label("score"))
        .where(
            active_at(d, units),
            *in_products(units.product_id, cat.units),
            *([units.customer_id.not_in(without)] if without is not None else []),
            *([units.installed_on <= installed_by] if installed_by is not None else []),
        )
        .group_by(units.customer_id)
    )


def _service(cat: UpsellCategory, d: date) -> tuple[Select[Any, Any], Callable[[int], str]]:
    lines = cat.source.service_lines
    covered = select(lines.customer_id).where(
        *in_products(lines.product_id, cat.services), covers(d, lines)
    )
    stmt = cat.source.active_units(cat, d, without=covered)
    return stmt, lambda n: f"{n} active unit(s), no service plan"


def _renewal(cat: UpsellCategory, d: date) -> tuple[Select[Any, Any], Callable[[int], str]]:
    lines = cat.source.service_lines
    latest = func.max(lines.coverage_end)
    horizon = d + timedelta(days=RENEWAL_DAYS)
    stmt = (
        select(lines.customer_id.label("cid"), latest.label("ends_on"))
        .where(
            *in_products(lines.product_id, cat.services),
            lines.quantity > 0,
            # Lines ending before d cannot be the latest of a customer who qualifies.
            lines.coverage_end >= d,
        )
        .group_by(lines.customer_id)
        .having(latest >= d, latest <= horizon)
    )
    return stmt, lambda n: f"service ends {(d + timedelta(days=n)).isoformat()} (in {n} days)"


def _install(cat: UpsellCategory, d: date) -> tuple[Select[Any, Any], Callable[[int], str]]:
    return cat.source.install_gap(cat, d), _not_installed


def install_gap(cat: UpsellCategory, d: date) -> Select[Any, Any]:
    """(cid, score) of the customers whose installable units of the category bought by
    d - 14 days (returns included) exceed their units installed by d, by how many."""
    bought = (
        select(Purchase.customer_id.label("cid"), func.sum(Purchase.quantity).label("units"))
        .where(
            *in_products(Purchase.product_id, cat.installable),
            Purchase.purchased_on <= days_before(d, INSTALL_GRACE_DAYS),
        )
        .group_by(Purchase.customer_id)
        .subquery()
    )
    placed = (
        select(Installation.customer_id.label("cid"), func.count().label("units"))
        .where(*in_products(Installation.product_id, cat.units), Installation.installed_on <= d)
        .group_by(Installation.customer_id)
        .subquery()
    )
    gap = bought.c.units - func.coalesce(placed.c.units, 0)
    return (
        select(bought.c.cid.label("cid"), gap.label("score"))
        .select_from(bought)
        .outerjoin(placed, placed.c.cid == bought.c.cid)
        .where(gap > 0)
    )


def _not_installed(n: int) -> str:
    return f"{n} unit(s) bought, not installed"


def _consumables(cat: UpsellCategory, d: date) -> tuple[Select[Any, Any], Callable[[int], str]]:
    lines = cat.source.dated_lines
    recent = select(lines.customer_id).where(
        *in_products(lines.product_id, cat.consumables),
        lines.quantity > 0,
        Window.ending(d, CONSUMABLE_DAYS).contains(lines.purchased_on),
    )
    stmt = cat.source.active_units(cat, d, without=recent)
    return stmt, lambda n: f"{n} active unit(s), no consumables in {CONSUMABLE_DAYS} days"


def _aging(cat: UpsellCategory, d: date) -> tuple[Select[Any, Any], Callable[[int], str]]:
    cutoff = years_before(d, AGING_YEARS)
    # By definition on every source: state rows hold units in use, not when each was installed.
    stmt = active_units(cat, d, installed_by=cutoff)
    return stmt, lambda n: f"{n} unit(s) installed on or before {cutoff.isoformat()}"


_RULES = {
    "service": _service,
    "renewal": _renewal,
    "install": _install,
    "consumables": _consumables,
    "aging": _aging,
}


Without = dict[tuple[str, str], list[int]]  # (rule, category) → customers left out


def _scored(
    rule: str,
    cats: list[UpsellCategory],
    d: date,
    filters: tuple[Filter, ...],
    without: Without | None = None,
    *,
    not_at: date | None = None,
) -> tuple[Select[Any] | CompoundSelect[Any], Callable[[int], str]]:
    """(category, cid, score) of one rule's candidates in every category, `in` filters applied;
    with `not_at`, only those that were not candidates of the same category and rule that day.

    One statement for all categories: the digest asks for five rules in each core category,
    and twenty round trips cost it more than the work.
    """
    parts = []
    describe: Callable[[int], str] | None = None
    for cat in cats:
        stmt, describe = _RULES[rule](cat, d)
        sub = stmt.subquery()
        score = sub.c.ends_on if rule == "renewal" else sub.c.score
        left_out = (without or {}).get((rule, cat.name))
        found: FromClause = sub
        earlier: list[ColumnElement[bool]] = []
        if not_at is not None:
            # An anti-join, not NOT IN: PostgreSQL runs NOT IN over a subquery it expects to be
            # big once per row (30 s for install at 100,000 customers); this is one hash join.
            then = _RULES[rule](cat, not_at)[0].subquery()
            found = sub.outerjoin(then, then.c.cid == sub.c.cid)
            earlier.append(then.c.cid.is_(None))
        parts.append(
            select(
                cast(literal(cat.name), String).label("category"),
                sub.c.cid.label("cid"),
                score.label("score"),
            )
            .select_from(found)
            .where(
                *customer_filter(sub.c.cid, filters),
                *([sub.c.cid.not_in(left_out)] if left_out else []),
                *earlier,
            )
        )
    assert describe is not None, "no categories"
    return (parts[0] if len(parts) == 1 else union_all(*parts)), describe


def rule_count(
    session: Session,
    rule: str,
    cats: list[UpsellCategory],
    d: date,
    filters: tuple[Filter, ...],
    without: Without | None = None,
    *,
    not_at: date | None = None,
) -> int:
    """How many candidates one rule finds in these categories (with `not_at`: that were not
    candidates that day)."""
    if not cats:
        return 0
    scored, _ = _scored(rule, cats, d, filters, without, not_at=not_at)
    return int(session.scalar(select(func.count()).select_from(scored.subquery())) or 0)


def rule_candidates(
    session: Session,
    rule: str,
    cats: list[UpsellCategory],
    d: date,
    filters: tuple[Filter, ...],
    *,
    limit: int | None = None,
    without: Without | None = None,
    not_at: date | None = None,
) -> list[Candidate]:
    """One rule's candidates in these categories; with `limit`, only the best `limit`; with
    `not_at`, only those that were not candidates that day."""
    if not cats:
        return []
    scored, describe = _scored(rule, cats, d, filters, without, not_at=not_at)
    found = scored.cte(f"{rule}_candidates")
    renewal = rule == "renewal"

    def best(score: ColumnElement[Any]) -> ColumnElement[Any]:
        # The order of _order within one rule: ends soonest / highest score first.
        return score.asc() if renewal else score.desc()

    named: FromClause = found
    if limit is not None:
        # The limit-th best score: only candidates that good need a name (ties included), and
        # they are picked before the join, which then names a handful instead of every one.
        cutoff = select(found.c.score).order_by(best(found.c.score)).limit(1).offset(limit - 1)
        edge = cutoff.scalar_subquery()
        good = found.c.score <= edge if renewal else found.c.score >= edge
        named = select(found).where(or_(edge.is_(None), good)).subquery()
    query = select(Customer.customer_ref, Customer.name, named.c.category, named.c.score).join(
        named, named.c.cid == Customer.id
    )
    if limit is not None:
        # Then by ref and category, as _order.
        query = query.order_by(best(named.c.score), Customer.customer_ref, named.c.category)
        query = query.limit(limit)
    out = []
    for ref, name, category, value in session.execute(query):
        score = (_as_date(value) - d).days if rule == "renewal" else int(value)
        out.append(Candidate(ref, name, category, rule, score, describe(score)))
    return out


def _as_date(value: Any) -> date:
    # SQLite hands back max() of a date column as its ISO text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _order(c: Candidate) -> tuple[int, int, str, str]:
    score = c.score if c.rule == "renewal" else -c.score
    return (UPSELL_RULES.index(c.rule), score, c.customer_ref, c.category)


def upsell(session: Session, request: Request) -> UpsellList:
    """Upsell candidates by rule, best first."""
    src = source(session)
    d = request.as_of
    target = request.target
    if target is None:
        cats = [_category(session, src, name, None) for name in core_categories(session)]
    else:
        sku = target.value if target.is_product else None
        cats = [_category(session, src, target.category, sku)]
    rules = [request.rule] if request.rule else list(UPSELL_RULES)
    holds = request.holds or ()
    without = not_for(holds, request.user) if request.unclaimed else None
    since = request.since
    counts: dict[str, int] | None = None
    limits: dict[str, int | None] = {rule: request.top for rule in rules}
    if request.listing is not None:
        # Only the head of the list is shown: count every rule, fetch just enough rows.
        counts = {
            rule: rule_count(session, rule, cats, d, request.filters, without, not_at=since)
            for rule in rules
        }
        if request.top is not None:
            counts = {rule: min(n, request.top) for rule, n in counts.items()}
        room = request.listing
        for rule in rules:
            limits[rule] = min(room, counts[rule])
            room -= limits[rule] or 0
    found = [
        c
        for rule in rules
        if limits[rule] != 0
        for c in rule_candidates(
            session,
            rule,
            cats,
            d,
            request.filters,
            limit=limits[rule],
            without=without,
            not_at=since,
        )
    ]
    found.sort(key=_order)
    kept: dict[str, int] = {}
    limited = []
    held = {(h.customer_ref, h.category, h.rule): h.hold for h in holds}
    for c in found:
        kept[c.rule] = kept.get(c.rule, 0) + 1
        limit = limits[c.rule]
        if limit is None or kept[c.rule] <= limit:
            hold = held.get((c.customer_ref, c.category, c.rule))
            limited.append(replace(c, claim=hold) if hold else c)
    dropped = None
    if since is not None:
        # Candidates then, whoever holds them now, that are not candidates at d.
        dropped = {
            rule: rule_count(session, rule, cats, since, request.filters, not_at=d)
            for rule in rules
        }
    return UpsellList(request=request, candidates=limited, counts=counts, dropped=dropped)
