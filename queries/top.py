"""Top customers by revenue (or units) over the 365 days ending at D."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from queries.models import Customer, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import (
    Window,
    customer_filter,
    customer_names,
    in_products,
    money,
    money_sum,
    target_product_ids,
)
from queries.view import (
    CUSTOMER_REF,
    NAME,
    REVENUE,
    UNITS,
    Column,
    Figure,
    Msg,
    Table,
    View,
    _,
    _n,
    framing,
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

    def view(self) -> View:
        revenue = round(sum(x.revenue for x in self.rows), 2)
        units = sum(x.units for x in self.rows)
        ranked = _("units") if self.rank_by == "units" else _("revenue")
        return View(
            title=_("Top customers"),
            **framing(self.request),
            headline=_n(
                "{n} customer ranked by {ranked}",
                "{n} customers ranked by {ranked}",
                len(self.rows),
                ranked=ranked,
            ),
            figures=(
                Figure(len(self.rows), "count", _("customers, ranked by {ranked}", ranked=ranked)),
                Figure(revenue, "money", _("their revenue (365 days)")),
                Figure(units, "count", _("their units")),
            ),
            tables=(
                Table(
                    columns=(
                        Column("rank", Msg("#"), "count"),
                        Column("customer_ref", CUSTOMER_REF),
                        Column("name", NAME),
                        Column("revenue", REVENUE, "money"),
                        Column("units", UNITS, "count"),
                    ),
                    rows=[
                        (i, x.customer_ref, x.name, x.revenue, x.units)
                        for i, x in enumerate(self.rows, 1)
                    ],
                    empty=_("No purchases in the last 365 days."),
                ),
            ),
            definition=_(
                "Revenue = quantity × unit price of lines in the 365 days to the date,"
                " returns included; ties by customer ref."
            ),
        )


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
        .where(
            Window.ending(request.as_of).contains(Purchase.purchased_on),
            *in_products(Purchase.product_id, target_product_ids(session, request.target)),
            *customer_filter(Purchase.customer_id, request.filters),
        )
        .group_by(Purchase.customer_id)
        .cte("per_customer")
    )
    n = request.top or DEFAULT_TOP
    if request.rank_by != "units":
        # Revenues rarely tie: the best N + 1 by revenue alone are the top N when the N-th
        # and the next differ, and only they need a name. That skips the cut-off query's
        # second pass over the window. (Unit counts tie all the time: straight to it.)
        best = select(*per_customer.c).order_by(per_customer.c.rank.desc()).limit(n + 1)
        head = [tuple(row) for row in session.execute(best)]
        if len(head) <= n or head[n - 1][3] != head[n][3]:
            rows = _named(session, head[:n])
            return TopCustomers(request=request, rank_by=request.rank_by, rows=rows)
    # Ties are broken by customer_ref: every customer at or above the N-th best score needs
    # a name.
    cutoff = (
        select(per_customer.c.rank)
        .order_by(per_customer.c.rank.desc())
        .limit(1)
        .offset(n - 1)
        .scalar_subquery()
    )
    stmt = (
        select(Customer.customer_ref, Customer.name, per_customer.c.revenue, per_customer.c.units)
        .join(per_customer, per_customer.c.cid == Customer.id)
        .where(or_(cutoff.is_(None), per_customer.c.rank >= cutoff))
        .order_by(per_customer.c.rank.desc(), Customer.customer_ref)
        .limit(n)
    )
    rows = [TopRow(ref, name, money(r), int(u)) for ref, name, r, u in session.execute(stmt)]
    return TopCustomers(request=request, rank_by=request.rank_by, rows=rows)


def _named(session: Session, head: Sequence[tuple[Any, ...]]) -> list[TopRow]:
    """The head's customers with their refs and names, best first, ties by customer_ref."""
    names = customer_names(session, [cid for cid, *_ in head])
    ranked = sorted(head, key=lambda h: (-h[3], names[h[0]][0]))
    return [TopRow(*names[cid], money(r), int(u)) for cid, r, u, _ in ranked]
