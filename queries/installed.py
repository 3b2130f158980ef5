"""Installed base: customers with at least one unit in use at D, and those units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, Subquery, case, func, select
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product
from queries.request import CUSTOMER_DIMENSIONS, Filter, Request
from queries.results import header, jsonable
from queries.scope import (
    active_at,
    customer_dimension,
    customer_filter,
    in_products,
    sort_rows,
    target_product_ids,
    time_key,
    time_parts,
)
from queries.source import source
from queries.view import CUSTOMERS, UNITS, Column, Figure, Table, View, _, _n, dimension, framing


@dataclass(frozen=True)
class InstalledRow:
    key: str
    customers: int
    units: int


@dataclass(frozen=True, kw_only=True)
class InstalledBase:
    request: Request
    customers: int
    units: int
    by: str
    rows: list[InstalledRow] = field(default_factory=list)
    kind: str = "installed"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "customers": self.customers,
            "units": self.units,
            "breakdown": {"by": self.by, "rows": jsonable(self.rows)},
        }

    def view(self) -> View:
        return View(
            title=_("Installed base"),
            **framing(self.request),
            headline=_n(
                "{n} customer with {units} installed",
                "{n} customers with {units} installed",
                self.customers,
                units=_n("{n} unit", "{n} units", self.units),
            ),
            figures=(
                Figure(self.customers, "count", CUSTOMERS),
                Figure(self.units, "count", _("units installed")),
            ),
            tables=(
                Table(
                    columns=(
                        Column("key", dimension(self.by)),
                        Column("customers", CUSTOMERS, "count"),
                        Column("units", UNITS, "count"),
                    ),
                    rows=[(x.key, x.customers, x.units) for x in self.rows],
                    empty=_("No installations in use at that date."),
                ),
            ),
            definition=_(
                "Counts units installed on or before the date and not removed by it;"
                " a customer counts once however many units."
            ),
        )


def _where(
    d: date, products: list[int] | None, filters: tuple[Filter, ...]
) -> list[ColumnElement[bool]]:
    return [
        active_at(d),
        *in_products(Installation.product_id, products),
        *customer_filter(Installation.customer_id, filters),
    ]


def _per_customer(d: date, products: list[int] | None, filters: tuple[Filter, ...]) -> Subquery:
    """Units in use per customer: one row per installed-base customer (no DISTINCT needed)."""
    return (
        select(Installation.customer_id.label("cid"), func.count().label("units"))
        .where(
            active_at(d),
            *in_products(Installation.product_id, products),
            *customer_filter(Installation.customer_id, filters),
        )
        .group_by(Installation.customer_id)
        .subquery()
    )


def installed_totals(
    session: Session,
    d: date,
    products: list[int] | None = None,
    filters: tuple[Filter, ...] = (),
) -> tuple[int, int]:
    """(customers, units) of the installed base at d; `products`: ids (None = every product)."""
    return installed_totals_on(session, [d], products, filters)[0]


def installed_totals_on(
    session: Session,
    days: Sequence[date],
    products: list[int] | None = None,
    filters: tuple[Filter, ...] = (),
) -> list[tuple[int, int]]:
    """(customers, units) of the installed base at each of `days`, from one pass."""
    units = [func.sum(case((active_at(d), 1), else_=0)).label(f"u{i}") for i, d in enumerate(days)]
    per = (
        select(Installation.customer_id, *units)
        .where(
            Installation.installed_on <= max(days),
            *in_products(Installation.product_id, products),
            *customer_filter(Installation.customer_id, filters),
        )
        .group_by(Installation.customer_id)
        .subquery()
    )
    cols = [per.c[f"u{i}"] for i in range(len(days))]
    row = session.execute(
        select(
            *[func.sum(case((c > 0, 1), else_=0)) for c in cols],
            *[func.coalesce(func.sum(c), 0) for c in cols],
        )
    ).one()
    n = len(days)
    return [(int(row[i] or 0), int(row[n + i] or 0)) for i in range(n)]


def installed_base_by(
    session: Session, request: Request, by: str, products: list[int] | None
) -> list[InstalledRow]:
    """The installed base at the as-of date by a customer dimension (unsorted)."""
    per = _per_customer(request.as_of, products, request.filters)
    key = customer_dimension(by)
    stmt = (
        select(key, func.count(), func.sum(per.c.units))
        .select_from(per)
        .join(Customer, Customer.id == per.c.cid)
        .group_by(key)
    )
    return [InstalledRow(str(k), int(c), int(u)) for k, c, u in session.execute(stmt)]


def installed_breakdown(
    session: Session, d: date, by: str, products: list[int] | None, filters: tuple[Filter, ...]
) -> list[InstalledRow]:
    """The installed base at d by a product or time dimension: a customer may be in several."""
    parts: list[SQLColumnExpression[Any]]
    if by == "category":
        parts = [Product.category]
    elif by == "product":
        parts = [Product.sku]
    else:
        parts = list(time_parts(Installation.installed_on, by))
    stmt = (
        select(*parts, func.count(func.distinct(Installation.customer_id)), func.count())
        .select_from(Installation)
        .join(Product, Product.id == Installation.product_id)
        .where(*_where(d, products, filters))
        .group_by(*parts)
    )
    rows = []
    for *keys, customers, units in session.execute(stmt):
        key = str(keys[0]) if by in ("category", "product") else time_key(by, keys)
        rows.append(InstalledRow(key, int(customers), int(units)))
    return sort_rows(rows)


def installed(session: Session, request: Request) -> InstalledBase:
    """Installed base: customers and units in use at the as-of date, broken down."""
    src = source(session)
    by = request.by or "segment"
    products = target_product_ids(session, request.target)
    if by in CUSTOMER_DIMENSIONS:
        # Each customer falls in exactly one row, so the rows add up to the totals.
        rows = sort_rows(src.installed_base_by(session, request, by, products))
        customers, units = sum(r.customers for r in rows), sum(r.units for r in rows)
    else:
        rows = installed_breakdown(session, request.as_of, by, products, request.filters)
        customers, units = src.installed_totals_on(session, request, [request.as_of], products)[0]
    return InstalledBase(request=request, customers=customers, units=units, by=by, rows=rows)
