"""Customer base vs installed base, side by side per category."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import Window, active_at, customer_conditions, percent, target_condition


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


def _by_category(session: Session, stmt: Any) -> dict[str, int]:
    return {str(k): int(v or 0) for k, v in session.execute(stmt)}


def _count_by_category(
    session: Session,
    rows: type[Purchase] | type[Installation],
    count: ColumnElement[int],
    *where: ColumnElement[bool],
) -> dict[str, int]:
    """A count per product category over purchase lines or installations."""
    stmt = (
        select(Product.category, count)
        .select_from(rows)
        .join(Product, Product.id == rows.product_id)
        .join(Customer, Customer.id == rows.customer_id)
        .where(*where)
        .group_by(Product.category)
    )
    return _by_category(session, stmt)


def compare(session: Session, request: Request) -> Comparison:
    """Per category: buyers, installed customers, install rate, units not installed, removed."""
    d = request.as_of
    cats = compared_categories(session, request)
    in_cats: list[ColumnElement[bool]] = [
        Product.category.in_(cats),
        *target_condition(request.target),
    ]
    who = customer_conditions(request.filters)

    bought = _count_by_category(
        session,
        Purchase,
        func.count(func.distinct(Purchase.customer_id)),
        Purchase.quantity > 0,
        Purchase.purchased_on <= d,
        *in_cats,
        *who,
    )
    installed = _count_by_category(
        session,
        Installation,
        func.count(func.distinct(Installation.customer_id)),
        active_at(d),
        *in_cats,
        *who,
    )
    removed = _count_by_category(
        session,
        Installation,
        func.count(),
        Window.ending(d).contains(Installation.removed_on),
        *in_cats,
        *who,
    )
    not_installed = _by_category(session, not_installed_units(d, in_cats, who))

    rows = [
        CompareRow(
            category=c,
            customers=bought.get(c, 0),
            installed_customers=installed.get(c, 0),
            install_rate=percent(installed.get(c, 0), bought.get(c, 0)),
            not_installed_units=not_installed.get(c, 0),
            removed_units=removed.get(c, 0),
        )
        for c in cats
    ]
    rows.sort(key=lambda r: (-r.customers, r.category))
    return Comparison(request=request, rows=rows)


def not_installed_units(
    d: Any, in_cats: list[ColumnElement[bool]], who: list[ColumnElement[bool]]
) -> Any:
    """Per category: Σ over customers of max(0, purchased installable units − units installed)."""
    purchased = (
        select(
            Purchase.customer_id.label("cid"),
            Product.category.label("category"),
            func.sum(Purchase.quantity).label("units"),
        )
        .select_from(Purchase)
        .join(Product, Product.id == Purchase.product_id)
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(Product.installable.is_(True), Purchase.purchased_on <= d, *in_cats, *who)
        .group_by(Purchase.customer_id, Product.category)
        .subquery()
    )
    placed = (
        select(
            Installation.customer_id.label("cid"),
            Product.category.label("category"),
            func.count().label("units"),
        )
        .select_from(Installation)
        .join(Product, Product.id == Installation.product_id)
        .where(Installation.installed_on <= d, *in_cats)
        .group_by(Installation.customer_id, Product.category)
        .subquery()
    )
    gap = purchased.c.units - func.coalesce(placed.c.units, 0)
    return (
        select(purchased.c.category, func.sum(gap))
        .select_from(purchased)
        .outerjoin(
            placed,
            (placed.c.cid == purchased.c.cid) & (placed.c.category == purchased.c.category),
        )
        .where(gap > 0)
        .group_by(purchased.c.category)
    )
