"""Installed-base retention: who was in the installed base 365 days ago, and who is now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, or_, select
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product
from queries.request import CUSTOMER_DIMENSIONS, Request
from queries.results import header, iso, jsonable
from queries.scope import (
    WINDOW_DAYS,
    active_at,
    customer_dimension,
    customer_filter,
    days_before,
    dimension_key,
    in_products,
    percent,
    sort_rows,
    target_product_ids,
)
from queries.view import Column, Figure, Msg, Percent, Table, View, _, _n, dimension, framing

RETAINED = _("retained")
LOST = _("lost")
WON = _("won")
RATE = _("retention rate")


@dataclass(frozen=True)
class RetentionRow:
    key: str
    base_at_start: int
    retained: int
    lost: int
    won: int
    retention_rate: float | None


@dataclass(frozen=True, kw_only=True)
class Retention:
    request: Request
    start: date
    base_at_start: int
    retained: int
    lost: int
    won: int
    retention_rate: float | None
    by: str
    rows: list[RetentionRow] = field(default_factory=list)
    kind: str = "retention"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "start": iso(self.start),
            "base_at_start": self.base_at_start,
            "retained": self.retained,
            "lost": self.lost,
            "won": self.won,
            "retention_rate": self.retention_rate,
            "breakdown": {"by": self.by, "rows": jsonable(self.rows)},
        }

    def view(self) -> View:
        headline: Msg
        if self.base_at_start:
            headline = _n(
                "{retained} of {n} installed-base customer retained over 365 days ({rate})",
                "{retained} of {n} installed-base customers retained over 365 days ({rate})",
                self.base_at_start,
                retained=self.retained,
                rate=Percent(self.retention_rate),
            )
        elif not self.won:
            headline = _(
                "No installed base on {start} or on {day}.",
                start=self.start,
                day=self.request.as_of,
            )
        else:
            headline = _n(
                "No installed base on {start}; {n} customer won since",
                "No installed base on {start}; {n} customers won since",
                self.won,
                start=self.start,
            )
        return View(
            title=_("Installed-base retention"),
            **framing(self.request),
            headline=headline,
            # As a sentence too, so that the text reply lists the figures under it.
            sentences=(headline,),
            figures=(
                Figure(
                    self.base_at_start, "count", _("installed base on {start}", start=self.start)
                ),
                Figure(self.retained, "count", RETAINED),
                Figure(self.lost, "count", LOST),
                Figure(self.won, "count", WON),
                Figure(self.retention_rate, "percent", RATE),
            ),
            tables=(
                Table(
                    columns=(
                        Column("key", dimension(self.by)),
                        Column("base_at_start", _("base at start"), "count"),
                        Column("retained", RETAINED, "count"),
                        Column("lost", LOST, "count"),
                        Column("won", WON, "count"),
                        Column("retention_rate", RATE, "percent"),
                    ),
                    rows=[
                        (x.key, x.base_at_start, x.retained, x.lost, x.won, x.retention_rate)
                        for x in self.rows
                    ],
                    empty=_("No installed base on either date."),
                ),
            ),
            definition=_(
                "Retained: customers with a unit in use both 365 days before the date and on"
                " it; lost: only then; won: only now; rate = retained / the base 365 days"
                " before."
            ),
        )


def _unit_key(by: str | None) -> ColumnElement[str] | None:
    """The product column a per-category or per-product breakdown keys each unit by."""
    if by == "category":
        return dimension_key(Product.category)
    if by == "product":
        return dimension_key(Product.sku)
    return None


def _per_customer(
    request: Request, start: date, products: list[int] | None, unit_key: ColumnElement[str] | None
) -> Subquery:
    """One row per customer (and category or product) with a unit in use at start or at the
    as-of date, from one pass over the units: `was` and `now` are 1 when it had one then."""
    d = request.as_of
    was = func.max(case((active_at(start), 1), else_=0))
    now = func.max(case((active_at(d), 1), else_=0))
    parts: list[ColumnElement[Any]] = [Installation.customer_id.label("cid")]
    if unit_key is not None:
        parts.append(unit_key.label("key"))
    stmt = select(*parts, was.label("was"), now.label("now")).where(
        # Units gone by the start, or not yet there at the date, are in use at neither.
        Installation.installed_on <= d,
        or_(Installation.removed_on.is_(None), Installation.removed_on > start),
        *in_products(Installation.product_id, products),
        *customer_filter(Installation.customer_id, request.filters),
    )
    if unit_key is not None:
        stmt = stmt.join(Product, Product.id == Installation.product_id)
    # A unit installed and removed between the two dates is in use at neither.
    return stmt.group_by(*parts).having(or_(was > 0, now > 0)).subquery()


def _tally(
    session: Session,
    request: Request,
    start: date,
    products: list[int] | None,
    by: str | None,
) -> list[RetentionRow]:
    """Base at start, retained and won per breakdown key (unsorted); `by` None: one row of
    totals."""
    unit_key = _unit_key(by)
    per = _per_customer(request, start, products, unit_key)
    counts = (
        func.coalesce(func.sum(per.c.was), 0),
        func.coalesce(func.sum(per.c.was * per.c.now), 0),
        func.coalesce(func.sum(per.c.now - per.c.was * per.c.now), 0),
    )
    if by is None:
        rows = session.execute(select(*counts)).all()
        found = [("", *row) for row in rows]
    elif unit_key is not None:
        stmt = select(per.c.key, *counts).group_by(per.c.key)
        found = [tuple(row) for row in session.execute(stmt)]
    else:
        key = customer_dimension(by)
        stmt = (
            select(key, *counts)
            .select_from(per)
            .join(Customer, Customer.id == per.c.cid)
            .group_by(key)
        )
        found = [tuple(row) for row in session.execute(stmt)]
    return [_row(str(k), int(base), int(kept), int(won)) for k, base, kept, won in found]


def _row(key: str, base: int, retained: int, won: int) -> RetentionRow:
    return RetentionRow(key, base, retained, base - retained, won, percent(retained, base))


def retention(session: Session, request: Request) -> Retention:
    """Installed-base retention over the 365 days to the as-of date, broken down."""
    start = days_before(request.as_of, WINDOW_DAYS)
    by = request.by or "segment"
    products = target_product_ids(session, request.target)
    rows = sort_rows(_tally(session, request, start, products, by), "base_at_start")
    if by in CUSTOMER_DIMENSIONS:
        # Each customer falls in exactly one row, so the rows add up to the totals.
        total = _row(
            "",
            sum(r.base_at_start for r in rows),
            sum(r.retained for r in rows),
            sum(r.won for r in rows),
        )
    else:
        # A customer may keep one category and lose another: the totals are per customer.
        [total] = _tally(session, request, start, products, None)
    return Retention(
        request=request,
        start=start,
        base_at_start=total.base_at_start,
        retained=total.retained,
        lost=total.lost,
        won=total.won,
        retention_rate=total.retention_rate,
        by=by,
        rows=rows,
    )
