"""Narrow copies of purchase lines and installations in the read replica, each sorted for one
kind of question.

The replica keeps `purchases` and `installations` in customer order, which suits per-customer
aggregation but makes a date window (the last 14 or 90 days, one day, units installed five
years ago) read every row. `lines_by_day` holds every line in date order, `service_lines` the
positive lines of service products in order of their coverage end and `installations_by_day`
every unit in order of installation, so DuckDB's per-block min/max skips all but the blocks a
window touches. Each has the columns it copies under the same names: a query takes `Purchase`
(`Installation`) or the copy from the functions below and reads the same columns either way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Date, Integer, MetaData, Numeric, Table
from sqlalchemy.orm import Session, aliased

from queries.models import Installation, Purchase
from queries.vocabulary import frozen

_metadata = MetaData()

_BY_DAY = ("customer_id", "product_id", "quantity", "unit_price", "purchased_on")
_SERVICE = ("customer_id", "product_id", "quantity", "coverage_start", "coverage_end")
_UNITS = ("customer_id", "product_id", "installed_on", "removed_on")
_TYPES: dict[str, Any] = {
    "customer_id": Integer,
    "product_id": Integer,
    "quantity": Integer,
    "unit_price": Numeric(18, 4),
    "purchased_on": Date,
    "coverage_start": Date,
    "coverage_end": Date,
    "installed_on": Date,
    "removed_on": Date,
}

lines_by_day = Table("lines_by_day", _metadata, *(Column(name, _TYPES[name]) for name in _BY_DAY))
service_lines = Table(
    "service_lines", _metadata, *(Column(name, _TYPES[name]) for name in _SERVICE)
)
installations_by_day = Table(
    "installations_by_day", _metadata, *(Column(name, _TYPES[name]) for name in _UNITS)
)

BUILDS = (
    f"CREATE TABLE lines_by_day AS SELECT {', '.join(_BY_DAY)} FROM purchases"  # noqa: S608
    " ORDER BY purchased_on",
    f"CREATE TABLE service_lines AS SELECT {', '.join(f'p.{c}' for c in _SERVICE)}"  # noqa: S608
    " FROM purchases p JOIN products pr ON pr.id = p.product_id"
    " WHERE pr.kind = 'service' AND p.quantity > 0 ORDER BY p.coverage_end",
    f"CREATE TABLE installations_by_day AS SELECT {', '.join(_UNITS)}"  # noqa: S608
    " FROM installations ORDER BY installed_on",
)


def dated_lines(session: Session) -> Any:
    """Purchase lines to filter by purchase date: the date-ordered copy on a replica."""
    return aliased(Purchase, lines_by_day, adapt_on_names=True) if frozen(session) else Purchase


def service_purchases(session: Session) -> Any:
    """Lines to ask about service coverage: on a replica, only the positive lines of service
    products, in order of coverage end (a line of another kind or quantity is never found
    there, so the caller's own conditions must already exclude them)."""
    return aliased(Purchase, service_lines, adapt_on_names=True) if frozen(session) else Purchase


def dated_installations(session: Session) -> Any:
    """Installations to filter by installation date: the date-ordered copy on a replica."""
    if frozen(session):
        return aliased(Installation, installations_by_day, adapt_on_names=True)
    return Installation
