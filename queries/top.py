"""Top customers by revenue (or units) over the 365 days ending at D."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queries.models import Customer, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import (
    Window,
    customer_conditions,
    in_products,
    money,
    money_sum,
    target_product_ids,
)

DEFAULT_TOP = 10


@dataclass(frozen=True)
class TopRow:
    customer_ref: str
    name: str
    revenue: float
    units: int


@dataclass(frozen=True, kw_only=True)
class TopCustomers:
    request: Request
    rank_by: str
    rows: list[TopRow] = field(default_factory=list)
    kind: str = "top"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "by": self.rank_by,
            "rows": jsonable(self.rows),
        }


def top(session: Session, request: Request) -> TopCustomers:
    """Top N customers by revenue (or units) in the 365 days ending at the as-of date."""
    revenue = money_sum(Purchase.quantity * Purchase.unit_price)
    units = func.sum(Purchase.quantity)
    rank = units if request.rank_by == "units" else revenue
    per_customer = (
        select(
            Purchase.customer_id.label("cid"),
            revenue.label("revenue"),
            units.label("units"),
            rank.label("rank"),
        )
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(
            Window.ending(request.as_of).contains(Purchase.purchased_on),
            *in_products(Purchase.product_id, target_product_ids(session, request.target)),
            *customer_conditions(request.filters),
        )
        .group_by(Purchase.customer_id)
        .subquery()
    )
    stmt = (
        select(Customer.customer_ref, Customer.name, per_customer.c.revenue, per_customer.c.units)
        .join(per_customer, per_customer.c.cid == Customer.id)
        .order_by(per_customer.c.rank.desc(), Customer.customer_ref)
        .limit(request.top or DEFAULT_TOP)
    )
    rows = [TopRow(ref, name, money(r), int(u)) for ref, name, r, u in session.execute(stmt)]
    return TopCustomers(request=request, rank_by=request.rank_by, rows=rows)
