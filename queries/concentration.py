"""Broad vs tall: how concentrated revenue is among customers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queries.models import Purchase
from queries.request import Request
from queries.results import header
from queries.scope import (
    Window,
    customer_filter,
    exact,
    in_products,
    money,
    money_sum,
    target_product_ids,
)
from queries.view import (
    CUSTOMERS,
    REVENUE,
    Column,
    Figure,
    Label,
    Money,
    Percent,
    Table,
    View,
    _,
    _n,
    framing,
)

TOP_SHARE = 0.2
TALL_THRESHOLD = Decimal(80)


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

    def view(self) -> View:
        verdict = {
            "broad": Label("broad", _("BROAD")),
            "tall": Label("tall", _("TALL")),
        }.get(self.verdict or "", Label("", _("NO REVENUE")))
        sentence = _n(
            "{verdict}: the top {n} of {customers} paying customers brings {share} of"
            " {revenue}; HHI {hhi}",
            "{verdict}: the top {n} of {customers} paying customers bring {share} of"
            " {revenue}; HHI {hhi}",
            self.top_customers,
            verdict=verdict,
            customers=self.customers,
            share=Percent(self.top20_share),
            revenue=Money(self.revenue),
            hhi=self.hhi,
        )
        return View(
            title=_("Revenue concentration"),
            **framing(self.request),
            headline=sentence,
            sentences=(sentence,),
            figures=(
                Figure(verdict, "label", _("broad or tall")),
                Figure(self.top20_share, "percent", _("revenue from the top 20%")),
                Figure(self.hhi, "decimal", _("HHI (0–10,000)")),
                Figure(self.customers, "count", _("paying customers")),
                Figure(self.revenue, "money", _("revenue (365 days)")),
            ),
            tables=(
                Table(
                    columns=(
                        Column("customers", CUSTOMERS, "count"),
                        Column("revenue", REVENUE, "money"),
                        Column("top_customers", _("top customers"), "count"),
                        Column("top20_share", _("share of the top 20%"), "percent"),
                        Column("hhi", _("HHI"), "decimal"),
                        Column("verdict", _("verdict"), "label"),
                    ),
                    rows=[
                        (
                            self.customers,
                            self.revenue,
                            self.top_customers,
                            self.top20_share,
                            self.hhi,
                            verdict if self.verdict else None,
                        )
                    ],
                ),
            ),
            paged=False,
            definition=_(
                "Among customers with positive revenue over the last 365 days; tall when"
                " the top 20% bring at least 80%."
            ),
        )


def concentration(session: Session, request: Request) -> Concentration:
    """Share of revenue from the top 20% of paying customers, HHI, and the broad/tall verdict."""
    revenue = money_sum(Purchase.quantity * Purchase.unit_price)
    per_customer = (
        select(revenue.label("revenue"))
        .where(
            Window.ending(request.as_of).contains(Purchase.purchased_on),
            *in_products(Purchase.product_id, target_product_ids(session, request.target)),
            *customer_filter(Purchase.customer_id, request.filters),
        )
        .group_by(Purchase.customer_id)
        .having(revenue > 0)
        .cte("per_customer")
    )
    rev = per_customer.c.revenue
    n, total, squares = session.execute(
        select(func.count(), money_sum(rev), func.sum(rev * rev))
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
    k = math.ceil(TOP_SHARE * n)
    top_rows = select(rev.label("r")).order_by(rev.desc()).limit(k).subquery()
    top_total = exact(session.execute(select(money_sum(top_rows.c.r))).scalar_one())
    all_total = exact(total)
    share = top_total * 100 / all_total
    hhi = round(10_000.0 * float(squares) / float(all_total) ** 2, 1)
    return Concentration(
        request=request,
        customers=n,
        revenue=money(total),
        top_customers=k,
        top20_share=float(share.quantize(Decimal("0.1"), ROUND_HALF_UP)),
        hhi=hhi,
        # Decided on exact decimals: 100.04 of 125.05 is 80%, not 79.999…%.
        verdict="tall" if share >= TALL_THRESHOLD else "broad",
    )
