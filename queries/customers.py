"""Customer base: everyone who bought, the active ones, and their revenue."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, select
from sqlalchemy.orm import Session

from queries.models import Customer, Product, Purchase
from queries.request import CUSTOMER_DIMENSIONS, Request
from queries.results import header, jsonable
from queries.scope import (
    Window,
    customer_dimension,
    customer_filter,
    exact,
    in_products,
    money,
    money_sum,
    sort_rows,
    target_product_ids,
    time_key,
    time_parts,
)
from queries.source import source
from queries.view import (
    CUSTOMERS,
    REVENUE,
    Column,
    Figure,
    Money,
    Table,
    View,
    _,
    _n,
    dimension,
    framing,
)


@dataclass(frozen=True)
class CustomersRow:
    key: str
    customers: int
    active_customers: int
    revenue: float


@dataclass(frozen=True, kw_only=True)
class CustomerBase:
    request: Request
    customers: int
    active_customers: int
    revenue: float
    by: str
    rows: list[CustomersRow] = field(default_factory=list)
    kind: str = "customers"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "customers": self.customers,
            "active_customers": self.active_customers,
            "revenue": self.revenue,
            "breakdown": {"by": self.by, "rows": jsonable(self.rows)},
        }

    def view(self) -> View:
        return View(
            title=_("Customer base"),
            **framing(self.request),
            headline=_n(
                "{n} customer · {active} active · revenue {revenue} (365 days)",
                "{n} customers · {active} active · revenue {revenue} (365 days)",
                self.customers,
                active=self.active_customers,
                revenue=Money(self.revenue),
            ),
            figures=(
                Figure(self.customers, "count", CUSTOMERS),
                Figure(self.active_customers, "count", _("active (bought in 365 days)")),
                Figure(self.revenue, "money", _("revenue (365 days)")),
            ),
            tables=(
                Table(
                    columns=(
                        Column("key", dimension(self.by)),
                        Column("customers", CUSTOMERS, "count"),
                        Column("active_customers", _("active"), "count"),
                        Column("revenue", REVENUE, "money"),
                    ),
                    rows=[(x.key, x.customers, x.active_customers, x.revenue) for x in self.rows],
                    empty=_("No customers at that date."),
                ),
            ),
            definition=_(
                "Customers with a purchase on or before the date (returns do not remove"
                " them); active = bought in the 365 days to the date; revenue over those 365"
                " days, returns included."
            ),
        )


def _aggregates(window: Window) -> list[ColumnElement[Any]]:
    bought = Purchase.quantity > 0
    return [
        func.count(func.distinct(case((bought, Purchase.customer_id)))),
        func.count(
            func.distinct(
                case((bought & window.contains(Purchase.purchased_on), Purchase.customer_id))
            )
        ),
        func.coalesce(func.sum(_revenue(window)), 0),
    ]


def _revenue(window: Window) -> ColumnElement[Any]:
    return case(
        (window.contains(Purchase.purchased_on), Purchase.quantity * Purchase.unit_price),
        else_=0,
    )


def _per_customer(window: Window, where: list[ColumnElement[bool]]) -> Subquery:
    """One row per customer with a line in scope: in the base?, active?, revenue, first buy."""
    bought = Purchase.quantity > 0
    return (
        select(
            Purchase.customer_id.label("cid"),
            func.max(case((bought, 1), else_=0)).label("bought"),
            func.max(case((bought & window.contains(Purchase.purchased_on), 1), else_=0)).label(
                "active"
            ),
            func.sum(_revenue(window)).label("revenue"),
            func.min(case((bought, Purchase.purchased_on))).label("first_on"),
        )
        .where(*where)
        .group_by(Purchase.customer_id)
        .subquery()
    )


def customers(session: Session, request: Request) -> CustomerBase:
    """Customer base at the as-of date: customers, active customers, revenue; broken down."""
    d = request.as_of
    window = Window.ending(d)
    by = request.by or "segment"
    where = [
        Purchase.purchased_on <= d,
        *in_products(Purchase.product_id, target_product_ids(session, request.target)),
        *customer_filter(Purchase.customer_id, request.filters),
    ]
    if by in CUSTOMER_DIMENSIONS:
        # Each customer falls in exactly one row, so the rows add up to the totals.
        groups = source(session).customer_base_by(session, request, by, where)
        return CustomerBase(
            request=request,
            customers=sum(g.customers for g in groups),
            active_customers=sum(g.active_customers for g in groups),
            revenue=money(float(sum(g.revenue for g in groups))),
            by=by,
            rows=sort_rows([g.row() for g in groups if g.customers or g.revenue]),
        )
    rows: list[CustomersRow] = []
    base = select(*_aggregates(window)).select_from(Purchase).where(*where)
    total_customers, total_active, total_revenue = session.execute(base).one()
    if by in ("category", "product"):
        key = Product.category if by == "category" else Product.sku
        stmt = base.add_columns(key).join(Product, Product.id == Purchase.product_id).group_by(key)
        for c, a, r, k in session.execute(stmt):
            if c or r:
                rows.append(CustomersRow(str(k), int(c), int(a), money(r)))
    else:
        rows = _cohorts(session, window, by, where)
    return CustomerBase(
        request=request,
        customers=int(total_customers),
        active_customers=int(total_active),
        revenue=money(total_revenue),
        by=by,
        rows=sort_rows(rows),
    )


@dataclass(frozen=True)
class CustomerGroup:
    key: str
    customers: int
    active_customers: int
    revenue: Decimal  # exact, so that the rows' sum is the total to the cent

    def row(self) -> CustomersRow:
        return CustomersRow(
            self.key, self.customers, self.active_customers, money(float(self.revenue))
        )


def customer_base_by(
    session: Session, request: Request, by: str, where: list[ColumnElement[bool]]
) -> list[CustomerGroup]:
    """The customer base by a customer dimension: lines in `where`, activity and revenue over
    the window ending at the as-of date."""
    per = _per_customer(Window.ending(request.as_of), where)
    key = customer_dimension(by)
    stmt = (
        select(
            key,
            func.sum(per.c.bought),
            func.sum(per.c.active),
            money_sum(per.c.revenue),
        )
        .select_from(per)
        .join(Customer, Customer.id == per.c.cid)
        .group_by(key)
    )
    return [
        CustomerGroup(str(k), int(c or 0), int(a or 0), exact(r))
        for k, c, a, r in session.execute(stmt)
    ]


def _cohorts(
    session: Session, window: Window, by: str, where: list[ColumnElement[bool]]
) -> list[CustomersRow]:
    """Customers grouped by the period of their first purchase (their cohort)."""
    per_customer = _per_customer(window, where)
    parts = time_parts(per_customer.c.first_on, by)
    stmt = (
        select(
            *parts,
            func.count(),
            func.sum(per_customer.c.active),
            func.coalesce(func.sum(per_customer.c.revenue), 0),
        )
        .where(per_customer.c.first_on.is_not(None))
        .group_by(*parts)
    )
    return [
        CustomersRow(time_key(by, keys), int(c), int(a or 0), money(r))
        for *keys, c, a, r in session.execute(stmt)
    ]
