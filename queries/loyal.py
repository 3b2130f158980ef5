"""Loyal and recurring-revenue customers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from queries.models import Customer, Product, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import (
    Window,
    covers,
    customer_conditions,
    customer_dimension,
    days_before,
    in_products,
    product_ids,
    sort_rows,
    target_product_ids,
)
from queries.view import CUSTOMERS, Column, Figure, Table, View, _, _n, dimension, framing

QUARTER_DAYS = 91
LOYAL_MIN_WINDOWS = 3


@dataclass(frozen=True)
class LoyalRow:
    key: str
    customers: int
    loyal: int
    recurring: int


@dataclass(frozen=True, kw_only=True)
class LoyalCustomers:
    request: Request
    customers: int
    loyal: int
    recurring: int
    by: str
    rows: list[LoyalRow] = field(default_factory=list)
    kind: str = "loyal"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "customers": self.customers,
            "loyal": self.loyal,
            "recurring": self.recurring,
            "breakdown": {"by": self.by, "rows": jsonable(self.rows)},
        }

    def view(self) -> View:
        return View(
            title=_("Loyal and recurring customers"),
            **framing(self.request),
            headline=_n(
                "{loyal} loyal · {recurring} recurring-revenue · of {n} customer",
                "{loyal} loyal · {recurring} recurring-revenue · of {n} customers",
                self.customers,
                loyal=self.loyal,
                recurring=self.recurring,
            ),
            figures=(
                Figure(self.loyal, "count", _("loyal customers")),
                Figure(self.recurring, "count", _("recurring-revenue customers")),
                Figure(self.customers, "count", CUSTOMERS),
            ),
            tables=(
                Table(
                    columns=(
                        Column("key", dimension(self.by)),
                        Column("customers", CUSTOMERS, "count"),
                        Column("loyal", _("loyal"), "count"),
                        Column("recurring", _("recurring"), "count"),
                    ),
                    rows=[(x.key, x.customers, x.loyal, x.recurring) for x in self.rows],
                    empty=_("No customers at that date."),
                ),
            ),
            definition=_(
                "Loyal: first purchase a year or more ago and purchases in 3 of the last 4"
                " 91-day periods; recurring: a service or subscription covering the date."
            ),
        )


def _quarter_windows(d: date) -> list[Window]:
    return [
        Window(days_before(d, QUARTER_DAYS * (i + 1)), days_before(d, QUARTER_DAYS * i))
        for i in range(4)
    ]


def loyal(session: Session, request: Request) -> LoyalCustomers:
    """Loyal (bought for a year and in 3 of the last 4 quarters) and recurring-revenue customers."""
    d = request.as_of
    by = request.by or "segment"
    key = customer_dimension(by)
    who = customer_conditions(request.filters)
    seen = [
        func.max(case((w.contains(Purchase.purchased_on), 1), else_=0)) for w in _quarter_windows(d)
    ]
    per_customer = (
        select(
            Purchase.customer_id.label("cid"),
            func.min(Purchase.purchased_on).label("first_on"),
            (seen[0] + seen[1] + seen[2] + seen[3]).label("quarters"),
        )
        .where(
            Purchase.quantity > 0,
            Purchase.purchased_on <= d,
            *in_products(Purchase.product_id, target_product_ids(session, request.target)),
        )
        .group_by(Purchase.customer_id)
        .subquery()
    )
    is_loyal = (per_customer.c.first_on <= days_before(d, 365)) & (
        per_customer.c.quarters >= LOYAL_MIN_WINDOWS
    )
    base_rows = session.execute(
        select(key, func.count(), func.sum(case((is_loyal, 1), else_=0)))
        .select_from(per_customer)
        .join(Customer, Customer.id == per_customer.c.cid)
        .where(*who)
        .group_by(key)
    ).all()

    covered = (
        select(Purchase.customer_id.label("cid"))
        .where(covers(d), *_recurring_products(session, request))
        .group_by(Purchase.customer_id)
        .subquery()
    )
    recurring_rows = session.execute(
        select(key, func.count())
        .select_from(covered)
        .join(Customer, Customer.id == covered.c.cid)
        .where(*who)
        .group_by(key)
    ).all()

    counts: dict[str, list[int]] = {}
    for k, n, n_loyal in base_rows:
        counts[str(k)] = [int(n), int(n_loyal or 0), 0]
    for k, n in recurring_rows:
        counts.setdefault(str(k), [0, 0, 0])[2] = int(n)
    rows = sort_rows([LoyalRow(k, *v) for k, v in counts.items()])
    return LoyalCustomers(
        request=request,
        customers=sum(r.customers for r in rows),
        loyal=sum(r.loyal for r in rows),
        recurring=sum(r.recurring for r in rows),
        by=by,
        rows=rows,
    )


def _recurring_products(session: Session, request: Request) -> list[ColumnElement[bool]]:
    recurring_kind = Product.kind.in_(("service", "subscription"))
    target = request.target
    if target is None:
        ids = product_ids(session, recurring_kind)
    elif target.is_product:
        ids = product_ids(session, recurring_kind, Product.sku == target.value)
    else:
        ids = product_ids(
            session,
            recurring_kind,
            or_(Product.category == target.value, Product.for_category == target.value),
        )
    return in_products(Purchase.product_id, ids)
