"""Broad vs tall: how concentrated revenue is among customers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queries.models import Customer, Purchase
from queries.request import Request
from queries.results import header
from queries.scope import Window, customer_conditions, in_products, money, target_product_ids

TOP_SHARE = 0.2
TALL_THRESHOLD = 80.0


@dataclass(frozen=True, kw_only=True)
class Concentration:
    request: Request
    customers: int
    revenue: float
    top_customers: int
    top20_share: float | None
    hhi: float | None
    verdict: str | None
    kind: str = "concentration"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "customers": self.customers,
            "revenue": self.revenue,
            "top_customers": self.top_customers,
            "top20_share": self.top20_share,
            "hhi": self.hhi,
            "verdict": self.verdict,
        }


def concentration(session: Session, request: Request) -> Concentration:
    """Share of revenue from the top 20% of paying customers, HHI, and the broad/tall verdict."""
    revenue = func.sum(Purchase.quantity * Purchase.unit_price)
    per_customer = (
        select(revenue.label("revenue"))
        .join(Customer, Customer.id == Purchase.customer_id)
        .where(
            Window.ending(request.as_of).contains(Purchase.purchased_on),
            *in_products(Purchase.product_id, target_product_ids(session, request.target)),
            *customer_conditions(request.filters),
        )
        .group_by(Purchase.customer_id)
        .having(revenue > 0)
        .subquery()
    )
    rev = per_customer.c.revenue
    n, total, squares = session.execute(
        select(func.count(), func.sum(rev), func.sum(rev * rev))
    ).one()
    n = int(n)
    if n == 0:
        return Concentration(
            request=request,
            customers=0,
            revenue=0.0,
            top_customers=0,
            top20_share=None,
            hhi=None,
            verdict=None,
        )
    total = float(total)
    k = math.ceil(TOP_SHARE * n)
    top_rows = select(rev.label("r")).order_by(rev.desc()).limit(k).subquery()
    top_total = float(session.execute(select(func.sum(top_rows.c.r))).scalar_one())
    share = round(100.0 * top_total / total, 1)
    hhi = round(10_000.0 * float(squares) / (total * total), 1)
    return Concentration(
        request=request,
        customers=n,
        revenue=money(total),
        top_customers=k,
        top20_share=share,
        hhi=hhi,
        verdict="tall" if 100.0 * top_total / total >= TALL_THRESHOLD else "broad",
    )
