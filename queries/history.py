"""The installed base over time: units in use on each of the last N days, per category.

Three grouped queries whatever N is: units in use on the first day, then the installations
and removals of the days after it; a running sum turns those events into the daily series.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from queries.models import Installation, Product
from queries.request import Filter, Target
from queries.scope import active_at, customer_filter, in_products, target_product_ids

HISTORY_DAYS = 90


@dataclass(frozen=True, kw_only=True)
class History:
    """Units in use per category on each day of `days` (oldest first)."""

    days: list[date]
    units: dict[str, list[int]]

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [d.isoformat() for d in self.days],
            "units": {k: list(v) for k, v in self.units.items()},
        }


def _as_date(value: Any) -> date:
    # SQLite may hand back a grouped date column as ISO text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def installed_history(
    session: Session,
    end: date,
    *,
    days: int = HISTORY_DAYS,
    target: Target | None = None,
    filters: tuple[Filter, ...] = (),
    core_only: bool = True,
) -> History:
    """Units in use on each of the `days` days ending at `end`, per product category."""
    start = end - timedelta(days=days - 1)
    series = [start + timedelta(days=i) for i in range(days)]
    where: list[ColumnElement[bool]] = [
        # A unit removed on or before its installation day is never in use (active_at agrees).
        or_(Installation.removed_on.is_(None), Installation.removed_on > Installation.installed_on),
        *in_products(Installation.product_id, target_product_ids(session, target)),
        *customer_filter(Installation.customer_id, filters),
    ]
    if core_only:
        where.append(Product.kind == "core")

    def base() -> Any:
        return (
            select(Product.category)
            .select_from(Installation)
            .join(Product, Product.id == Installation.product_id)
            .where(*where)
        )

    first: dict[str, int] = {
        str(cat): int(n)
        for cat, n in session.execute(
            base().add_columns(func.count()).where(active_at(start)).group_by(Product.category)
        )
    }
    delta: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for col, sign in ((Installation.installed_on, 1), (Installation.removed_on, -1)):
        stmt = (
            base()
            .add_columns(col, func.count())
            .where(col > start, col <= end)
            .group_by(Product.category, col)
        )
        for cat, on, n in session.execute(stmt):
            delta[str(cat)][_as_date(on)] += sign * int(n)
    units: dict[str, list[int]] = {}
    for cat in sorted(set(first) | set(delta)):
        running = first.get(cat, 0)
        points = [running]
        for day in series[1:]:
            running += delta[cat].get(day, 0)
            points.append(running)
        units[cat] = points
    return History(days=series, units=units)


__all__ = ["HISTORY_DAYS", "History", "installed_history"]
