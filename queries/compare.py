"""Customer base vs installed base, side by side per category."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from queries.models import Installation, Product, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import Window, active_at, customer_filter, percent, target_condition
from queries.timeline import category_state, holding, on_timeline


@dataclass(frozen=True)
class CompareRow:
    category: str
    customers: int
    installed_customers: int
    install_rate: float | None
    not_installed_units: int
    removed_units: int


@dataclass(frozen=True, kw_only=True)
class Comparison:
    request: Request
    rows: list[CompareRow] = field(default_factory=list)
    kind: str = "compare"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {"rows": jsonable(self.rows)}


def compared_categories(session: Session, request: Request) -> list[str]:
    """Categories with an installable product or at least one installation."""
    installed_products = select(Installation.product_id).distinct()
    stmt = (
        select(Product.category)
        .where(
            or_(Product.installable.is_(True), Product.id.in_(installed_products)),
            *target_condition(request.target),
        )
        .distinct()
    )
    return sorted(session.scalars(stmt))


def compare(session: Session, request: Request) -> Comparison:
    """Per category: buyers, installed customers, install rate, units not installed, removed."""
    d = request.as_of
    cats = compared_categories(session, request)
    found: dict[str, tuple[int, ...]] = {}
    if cats and on_timeline(session) and not (request.target and request.target.is_product):
        found = _from_timeline(session, d, cats, request)
    elif cats:
        per = per_customer_category(d, cats, request)
        stmt = select(
            per.c.category,
            func.sum(per.c.bought),
            func.sum(case((per.c.active > 0, 1), else_=0)),
            func.sum(case((per.c.gap > 0, per.c.gap), else_=0)),
            func.sum(per.c.removed),
        ).group_by(per.c.category)
        found = {
            cats[int(n)]: tuple(int(v or 0) for v in rest) for n, *rest in session.execute(stmt)
        }
    rows = []
    for c in cats:
        bought, installed, not_installed, removed = found.get(c, (0, 0, 0, 0))
        rows.append(
            CompareRow(
                category=c,
                customers=bought,
                installed_customers=installed,
                install_rate=percent(installed, bought),
                not_installed_units=not_installed,
                removed_units=removed,
            )
        )
    rows.sort(key=lambda r: (-r.customers, r.category))
    return Comparison(request=request, rows=rows)


def _from_timeline(
    session: Session, d: date, cats: list[str], request: Request
) -> dict[str, tuple[int, ...]]:
    """The same four figures from the replica's state rows at d (queries/timeline.py)."""
    st = category_state
    gap = st.c.bought_qty - st.c.placed
    states = select(
        st.c.category,
        func.count().filter(st.c.first_pos_on.is_not(None)),
        func.count().filter(st.c.units > 0),
        func.coalesce(func.sum(case((gap > 0, gap), else_=0)), 0),
    ).where(
        st.c.category.in_(cats), holding(st, d), *customer_filter(st.c.customer_id, request.filters)
    )
    removed = (
        select(Product.category, func.count())
        .select_from(Installation)
        .join(Product, Product.id == Installation.product_id)
        .where(
            Product.category.in_(cats),
            Window.ending(d).contains(Installation.removed_on),
            *customer_filter(Installation.customer_id, request.filters),
        )
        .group_by(Product.category)
    )
    gone = {c: int(n) for c, n in session.execute(removed)}
    held = {
        c: (int(b), int(i), int(g))
        for c, b, i, g in session.execute(states.group_by(st.c.category))
    }
    return {c: (*held.get(c, (0, 0, 0)), gone.get(c, 0)) for c in held.keys() | gone.keys()}


def per_customer_category(d: date, cats: list[str], request: Request) -> Subquery:
    """One row per (customer, category) with lines or units in scope, from a single pass:

    bought (a line with quantity > 0 by d), active units at d, gap (installable units bought
    by d, returns included, minus units installed by d) and units removed in the 365 days.
    Its `category` is the category's index in `cats`: grouping millions of rows by two
    integers is a quarter faster than by an integer and a string.
    """
    numbered = (
        select(
            Product.id,
            Product.installable,
            case({c: n for n, c in enumerate(cats)}, value=Product.category).label("category"),
        )
        .where(Product.category.in_(cats), *target_condition(request.target))
        .subquery()
    )
    zero: ColumnElement[int] = literal_column("0")
    lines = (
        select(
            Purchase.customer_id.label("cid"),
            numbered.c.category,
            case((Purchase.quantity > 0, 1), else_=0).label("bought"),
            zero.label("active"),
            case((numbered.c.installable.is_(True), Purchase.quantity), else_=0).label("gap"),
            zero.label("removed"),
        )
        .join(numbered, numbered.c.id == Purchase.product_id)
        .where(Purchase.purchased_on <= d, *customer_filter(Purchase.customer_id, request.filters))
    )
    units = (
        select(
            Installation.customer_id,
            numbered.c.category,
            zero,
            case((active_at(d), 1), else_=0),
            case((Installation.installed_on <= d, -1), else_=0),
            case((Window.ending(d).contains(Installation.removed_on), 1), else_=0),
        )
        .join(numbered, numbered.c.id == Installation.product_id)
        .where(*customer_filter(Installation.customer_id, request.filters))
    )
    both = union_all(lines, units).subquery()
    return (
        select(
            both.c.category,
            func.max(both.c.bought).label("bought"),
            func.sum(both.c.active).label("active"),
            func.sum(both.c.gap).label("gap"),
            func.sum(both.c.removed).label("removed"),
        )
        .group_by(both.c.cid, both.c.category)
        .subquery()
    )
