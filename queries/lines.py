"""Narrow copies of purchase lines and installations in the read replica, each sorted for one
kind of question.

The replica keeps `purchases` and `installations` in customer order, which suits per-customer
aggregation but makes a date window (the last 14 or 90 days, one day, units installed five
years ago) read every row. `lines_by_day` holds every line in date order, `service_lines` the
positive lines of service products in order of their coverage end and `installations_by_day`
every unit in order of installation, so DuckDB's per-block min/max skips all but the blocks a
window touches. Each has the columns it copies under the same names: a query takes `Purchase`
(`Installation`) or the copy from its source (queries/state.py) and reads the same columns
either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Column, Date, Integer, MetaData, Numeric, Table
from sqlalchemy.orm import aliased

from queries.models import Base, Installation, Purchase
from queries.timeline import RAW

_metadata = MetaData()

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


# name -> (select of its rows from the raw tables named in `tables`, its sort order)
COPIES: dict[str, tuple[Callable[[Mapping[str, str]], str], str]] = {}


def _copy(
    model: type[Base], name: str, columns: tuple[str, ...], rows: str, order: str
) -> tuple[Any, str]:
    """A copy of some of `model`'s columns: `model` read from the copy, and its build.

    `rows` names its raw tables as `{purchases}`, `{products}`, `{installations}`.
    """
    table = Table(name, _metadata, *(Column(column, _TYPES[column]) for column in columns))
    chosen = ", ".join(f"src.{column}" for column in columns)

    def select(tables: Mapping[str, str]) -> str:
        return f"SELECT {chosen} FROM {rows.format_map(tables)}"  # noqa: S608

    COPIES[name] = (select, order)
    build = f"CREATE TABLE {name} AS {select(RAW)} ORDER BY {order}"
    return aliased(model, table, adapt_on_names=True), build


_by_day, _by_day_build = _copy(
    Purchase,
    "lines_by_day",
    ("customer_id", "product_id", "quantity", "unit_price", "purchased_on"),
    "{purchases} src",
    "src.purchased_on",
)
_service, _service_build = _copy(
    Purchase,
    "service_lines",
    ("customer_id", "product_id", "quantity", "coverage_start", "coverage_end"),
    "{purchases} src JOIN {products} pr ON pr.id = src.product_id"
    " WHERE pr.kind = 'service' AND src.quantity > 0",
    "src.coverage_end",
)
_units_by_day, _units_build = _copy(
    Installation,
    "installations_by_day",
    ("customer_id", "product_id", "installed_on", "removed_on"),
    "{installations} src",
    "src.installed_on",
)

BUILDS = (_by_day_build, _service_build, _units_build)


# The copies, each read as the model it copies: a replica's source (queries/state.py) offers
# them in place of `Purchase` and `Installation`.
LINES_BY_DAY, SERVICE_LINES, INSTALLATIONS_BY_DAY = _by_day, _service, _units_by_day
