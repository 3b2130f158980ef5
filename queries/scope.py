"""SQL building blocks shared by the queries: dates, target products, customer filters, keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    SQLColumnExpression,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import KeyedColumnElement

from queries.models import Customer, Installation, Product, Purchase
from queries.request import CUSTOMER_DIMENSIONS, Filter, Target

UNKNOWN = "(unknown)"
WINDOW_DAYS = 365


def days_before(d: date, n: int) -> date:
    return d - timedelta(days=n)


def years_before(d: date, years: int) -> date:
    """The same calendar day `years` earlier; 29 February falls back to 28 February."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


@dataclass(frozen=True)
class Window:
    """The half-open date window (start, end]."""

    start: date
    end: date

    @classmethod
    def ending(cls, d: date, days: int = WINDOW_DAYS) -> Window:
        return cls(days_before(d, days), d)

    def contains(self, col: SQLColumnExpression[date | None]) -> ColumnElement[bool]:
        return and_(col > self.start, col <= self.end)


def product_ids(session: Session, *conditions: ColumnElement[bool]) -> list[int]:
    """Ids of the products matching all conditions (the products table is small)."""
    return list(session.scalars(select(Product.id).where(*conditions).order_by(Product.id)))


def target_condition(target: Target | None) -> list[ColumnElement[bool]]:
    if target is None:
        return []
    if target.is_product:
        return [Product.sku == target.value]
    return [Product.category == target.value]


def target_product_ids(session: Session, target: Target | None) -> list[int] | None:
    """None means every product."""
    if target is None:
        return None
    return product_ids(session, *target_condition(target))


def in_products(
    col: SQLColumnExpression[int], ids: Sequence[int] | None
) -> list[ColumnElement[bool]]:
    if ids is None:
        return []
    if not ids:
        return [false()]
    return [col.in_(list(ids))]


def customer_conditions(filters: Sequence[Filter]) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for f in filters:
        col: KeyedColumnElement[str | None] = getattr(Customer, f.dimension)
        if f.negate:
            conds.append(and_(col.is_not(None), func.upper(col) != f.value.upper()))
        else:
            conds.append(or_(*(func.lower(col) == v.lower() for v in (f.value, *f.alternatives))))
    return conds


def customer_names(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """customer id -> (customer_ref, name), for the few customers at the head of a list."""
    stmt = select(Customer.id, Customer.customer_ref, Customer.name).where(Customer.id.in_(ids))
    return {cid: (ref, name) for cid, ref, name in session.execute(stmt)}


def customer_filter(
    col: SQLColumnExpression[int], filters: Sequence[Filter]
) -> list[ColumnElement[bool]]:
    """The `in` filters as a semi-join on a customer id column: no join when there are none."""
    if not filters:
        return []
    return [col.in_(select(Customer.id).where(*customer_conditions(filters)))]


def active_at(d: date, units: Any = Installation) -> ColumnElement[bool]:
    """An installation in use at d: installed on or before d, not removed by d."""
    return and_(
        units.installed_on <= d,
        or_(units.removed_on.is_(None), units.removed_on > d),
    )


def covers(d: date, lines: Any = Purchase) -> ColumnElement[bool]:
    """A purchase line whose coverage period contains d (only positive lines ever cover)."""
    return and_(
        lines.quantity > 0,
        lines.coverage_start <= d,
        lines.coverage_end >= d,
    )


def dimension_key(col: SQLColumnExpression[str | None]) -> ColumnElement[str]:
    """A breakdown key: NULL or empty → "(unknown)"."""
    return func.coalesce(func.nullif(col, ""), literal(UNKNOWN))


def customer_dimension(by: str) -> ColumnElement[str]:
    assert by in CUSTOMER_DIMENSIONS, by
    col: ColumnElement[str | None] = getattr(Customer, by)
    return dimension_key(col)


def time_parts(col: SQLColumnExpression[date], by: str) -> list[ColumnElement[int]]:
    """Integer parts of a date column for `by year|quarter|month` (portable SQL)."""
    year = cast(extract("year", col), Integer)
    month = cast(extract("month", col), Integer)
    if by == "year":
        return [year]
    if by == "quarter":
        # Not (month + 2) / 3: DuckDB's "/" divides as floats.
        quarter = case((month <= 3, 1), (month <= 6, 2), (month <= 9, 3), else_=4)
        return [year, quarter]
    return [year, month]


def time_key(by: str, parts: Sequence[int | None]) -> str:
    if any(p is None for p in parts):
        return UNKNOWN
    if by == "year":
        return f"{parts[0]:04d}"
    if by == "quarter":
        return f"{parts[0]:04d}-Q{parts[1]}"
    return f"{parts[0]:04d}-{parts[1]:02d}"


MONEY_DECIMALS = 4


def money_sum(expr: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """SUM of money, rounded to the stored scale.

    SQLite keeps money as binary floats, so 100.10 + 200.20 must not rank below 300.30, and
    1.10 + 2.20 - 3.30 must be exactly zero.
    """
    return func.round(func.coalesce(func.sum(expr), 0), MONEY_DECIMALS)


def exact(value: float | None) -> Decimal:
    """A money value from the database as an exact decimal at the stored scale."""
    return Decimal(str(round(float(value or 0), MONEY_DECIMALS)))


def money(value: float | None) -> float:
    return round(float(value or 0.0), 2)


def percent(num: float, den: float) -> float | None:
    if den == 0:
        return None
    return round(100.0 * num / den, 1)


R = TypeVar("R")


def sort_rows(rows: list[R], customers: str = "customers") -> list[R]:
    """Breakdown order: customers descending, then key ascending."""
    return sorted(rows, key=lambda r: (-getattr(r, customers), getattr(r, "key")))  # noqa: B009
