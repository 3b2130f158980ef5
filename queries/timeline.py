"""State timelines in the read replica: each customer's standing at every date, as intervals.

A row of `category_state` says: from `from_on` until the day before `to_on` (NULL: from then
on), this customer had `units` units of the category in use, had bought `bought_qty`
installable units of it (returns included), had had `placed` units of it installed, made
their first and latest positive purchase lines of it on `first_pos_on` and `last_pos_on`, and
had been billed `revenue_cum` for it in all (returns included). `customer_state` is the same
over all products. Nothing changes inside an interval, so the state at any date D is the one
row whose interval holds D, and a per-customer figure at D becomes a filter instead of a
grouping of millions of raw rows. Each row also carries its customer's dimensions (segment ...
region), so a breakdown needs no join, and revenue over a window (a, b] is the sum of
`revenue_cum` over the rows holding b less the sum over those holding a. The tables are derived
from the replica's own copy of the rows when it is built, so they belong to the same data
version; the oracle tests run every answer on the replica against an independent computation
from the raw rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

from queries.request import CUSTOMER_DIMENSIONS

_metadata = MetaData()


def _state(name: str, *keys: Column[str]) -> Table:
    return Table(
        name,
        _metadata,
        Column("customer_id", Integer),
        *keys,
        Column("from_on", Date),
        Column("to_on", Date),
        Column("units", Integer),
        Column("bought_qty", BigInteger),
        Column("placed", Integer),
        Column("first_pos_on", Date),
        Column("last_pos_on", Date),
        Column("revenue_cum", Numeric(18, 4)),
        *(Column(dim, String) for dim in CUSTOMER_DIMENSIONS),
    )


customer_state = _state("customer_state")
category_state = _state("category_state", Column("category", String))


# The raw tables a derived table is computed from; the live overlay (queries/overlay.py) hands
# in the rows of the customers it recomputes instead.
RAW = {t: t for t in ("customers", "products", "purchases", "installations")}


def state_select(keys: tuple[str, ...], tables: Mapping[str, str] = RAW) -> str:
    """DuckDB SELECT of the state rows of one table, from the raw rows in `tables`.

    Events per (customer, keys, day): a purchase line adds its quantity to `bought_qty` when
    the product is installable, its amount to `revenue_cum`, and dates a positive line; an
    installation adds 1 to `placed` on its installed_on and, when it is ever in use
    (removed_on NULL or after installed_on), 1 to `units` then and -1 on its removed_on.
    Running sums over the days give the state.
    """
    key = "".join(f", pr.{k}" for k in keys)
    part = "".join(f", {k}" for k in keys)
    dims = ", ".join(f"c.{dim}" for dim in CUSTOMER_DIMENSIONS)
    purchases, installations = tables["purchases"], tables["installations"]
    products, customers = tables["products"], tables["customers"]
    return f"""
WITH events AS (
    SELECT p.customer_id AS cid{key}, p.purchased_on AS on_, 0 AS du,
           CASE WHEN pr.installable THEN p.quantity ELSE 0 END AS dq, 0 AS dp,
           CASE WHEN p.quantity > 0 THEN p.purchased_on END AS pos_on,
           p.quantity * p.unit_price AS dr
    FROM {purchases} p JOIN {products} pr ON pr.id = p.product_id
    UNION ALL
    SELECT i.customer_id{key}, i.installed_on,
           CASE WHEN i.removed_on IS NULL OR i.removed_on > i.installed_on THEN 1 ELSE 0 END,
           0, 1, NULL, 0
    FROM {installations} i JOIN {products} pr ON pr.id = i.product_id
    UNION ALL
    SELECT i.customer_id{key}, i.removed_on, -1, 0, 0, NULL, 0
    FROM {installations} i JOIN {products} pr ON pr.id = i.product_id
    WHERE i.removed_on > i.installed_on
), days AS (
    SELECT cid{part}, on_, sum(du) AS du, sum(dq) AS dq, sum(dp) AS dp, min(pos_on) AS pos_on,
           max(pos_on) AS last_on, sum(dr) AS dr
    FROM events GROUP BY ALL
), states AS (
    SELECT cid{part}, on_ AS from_on, lead(on_) OVER w AS to_on,
           CAST(sum(du) OVER upto AS INTEGER) AS units,
           CAST(sum(dq) OVER upto AS BIGINT) AS bought_qty,
           CAST(sum(dp) OVER upto AS INTEGER) AS placed,
           min(pos_on) OVER upto AS first_pos_on,
           max(last_on) OVER upto AS last_pos_on,
           -- 18 digits, stored in 64 bits: summed faster than 38 (128 bits), and ample
           CAST(sum(dr) OVER upto AS DECIMAL(18, 4)) AS revenue_cum
    FROM days
    WINDOW w AS (PARTITION BY cid{part} ORDER BY on_), upto AS (w ROWS UNBOUNDED PRECEDING)
)
SELECT s.cid AS customer_id{"".join(f", s.{k}" for k in keys)}, s.from_on, s.to_on, s.units,
       s.bought_qty, s.placed, s.first_pos_on, s.last_pos_on, s.revenue_cum, {dims}
FROM states s JOIN {customers} c ON c.id = s.cid
"""  # noqa: S608 -- fixed names, no user text


def build_sql(name: str, keys: tuple[str, ...]) -> str:
    """DuckDB statement creating one state table from the replica's raw tables."""
    order = "".join(f"{k}, " for k in keys)
    return f"CREATE TABLE {name} AS {state_select(keys)} ORDER BY {order}from_on"


STATES: dict[str, tuple[str, ...]] = {"customer_state": (), "category_state": ("category",)}
BUILDS = tuple(build_sql(name, keys) for name, keys in STATES.items())
