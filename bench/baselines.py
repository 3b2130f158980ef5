"""Two baselines for the key figures: the floor and the quick script.

The floor is one hand-written SQL statement per answer, executed directly on the same
database; the quick script reads the columns it needs into pandas and computes in memory.
Each returns the key figures of bench.verbs, so the harness can check it got basebot's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Date, String, TextClause, bindparam, text
from sqlalchemy.types import TypeEngine

from bench.verbs import (
    CATEGORY,
    compare_figures,
    customers_figures,
    install_rate,
    installed_figures,
    upsell_figures,
)

UNKNOWN = "(unknown)"
WINDOW_DAYS = 365

Baseline = Callable[[Connection, date], dict[str, Any]]


_TYPES: dict[str, TypeEngine[Any]] = {"d": Date(), "start": Date(), "category": String()}


def _sql(statement: str) -> TextClause:
    """Typed parameters, so dates reach SQLite as ISO text and PostgreSQL as dates."""
    clause = text(statement)
    return clause.bindparams(
        *(bindparam(name, type_=kind) for name, kind in _TYPES.items() if f":{name}" in statement)
    )


def _params(d: date, statement: TextClause) -> dict[str, Any]:
    values = {"d": d, "start": d - timedelta(days=WINDOW_DAYS), "category": CATEGORY}
    return {k: v for k, v in values.items() if f":{k}" in statement.text}


# --- the floor: hand-written SQL -------------------------------------------------------

_FLOOR_INSTALLED = _sql(
    """
    SELECT COALESCE(NULLIF(c.region, ''), '(unknown)') AS key,
           COUNT(DISTINCT i.customer_id) AS customers,
           COUNT(*) AS units
    FROM installations i
    JOIN products p ON p.id = i.product_id
    JOIN customers c ON c.id = i.customer_id
    WHERE p.category = :category
      AND i.installed_on <= :d
      AND (i.removed_on IS NULL OR i.removed_on > :d)
    GROUP BY 1
    """
)

# Aggregating per customer first keeps the join to customers at one row per customer.
_FLOOR_CUSTOMERS = _sql(
    """
    WITH per_customer AS (
        SELECT customer_id,
               MAX(CASE WHEN quantity > 0 THEN 1 ELSE 0 END) AS bought,
               MAX(CASE WHEN quantity > 0 AND purchased_on > :start THEN 1 ELSE 0 END)
                   AS active,
               SUM(CASE WHEN purchased_on > :start THEN quantity * unit_price ELSE 0 END)
                   AS revenue
        FROM purchases
        WHERE purchased_on <= :d
        GROUP BY customer_id
    )
    SELECT COALESCE(NULLIF(c.segment, ''), '(unknown)') AS key,
           SUM(pc.bought), SUM(pc.active), SUM(pc.revenue)
    FROM per_customer pc
    JOIN customers c ON c.id = pc.customer_id
    GROUP BY 1
    """
)

_FLOOR_COMPARE = _sql(
    """
    WITH cats AS (
        SELECT DISTINCT category FROM products
        WHERE installable OR id IN (SELECT DISTINCT product_id FROM installations)
    ),
    bought AS (
        SELECT p.category, COUNT(DISTINCT pu.customer_id) AS n
        FROM purchases pu JOIN products p ON p.id = pu.product_id
        WHERE pu.quantity > 0 AND pu.purchased_on <= :d
        GROUP BY p.category
    ),
    installed AS (
        SELECT p.category, COUNT(DISTINCT i.customer_id) AS n
        FROM installations i JOIN products p ON p.id = i.product_id
        WHERE i.installed_on <= :d AND (i.removed_on IS NULL OR i.removed_on > :d)
        GROUP BY p.category
    ),
    removed AS (
        SELECT p.category, COUNT(*) AS n
        FROM installations i JOIN products p ON p.id = i.product_id
        WHERE i.removed_on > :start AND i.removed_on <= :d
        GROUP BY p.category
    ),
    bought_units AS (
        SELECT pu.customer_id, p.category, SUM(pu.quantity) AS units
        FROM purchases pu JOIN products p ON p.id = pu.product_id
        WHERE p.installable AND pu.purchased_on <= :d
        GROUP BY pu.customer_id, p.category
    ),
    placed AS (
        SELECT i.customer_id, p.category, COUNT(*) AS units
        FROM installations i JOIN products p ON p.id = i.product_id
        WHERE i.installed_on <= :d
        GROUP BY i.customer_id, p.category
    ),
    gap AS (
        SELECT b.category, SUM(b.units - COALESCE(pl.units, 0)) AS n
        FROM bought_units b
        LEFT JOIN placed pl ON pl.customer_id = b.customer_id AND pl.category = b.category
        WHERE b.units - COALESCE(pl.units, 0) > 0
        GROUP BY b.category
    )
    SELECT cats.category, COALESCE(bought.n, 0), COALESCE(installed.n, 0),
           COALESCE(gap.n, 0), COALESCE(removed.n, 0)
    FROM cats
    LEFT JOIN bought ON bought.category = cats.category
    LEFT JOIN installed ON installed.category = cats.category
    LEFT JOIN gap ON gap.category = cats.category
    LEFT JOIN removed ON removed.category = cats.category
    """
)

_FLOOR_UPSELL_SERVICE = _sql(
    """
    SELECT c.customer_ref, COUNT(*) AS score
    FROM installations i
    JOIN products p ON p.id = i.product_id
    JOIN customers c ON c.id = i.customer_id
    WHERE p.category = :category
      AND i.installed_on <= :d
      AND (i.removed_on IS NULL OR i.removed_on > :d)
      AND NOT EXISTS (
          SELECT 1 FROM purchases s JOIN products sp ON sp.id = s.product_id
          WHERE s.customer_id = i.customer_id
            AND sp.kind = 'service' AND sp.for_category = :category
            AND s.quantity > 0 AND s.coverage_start <= :d AND s.coverage_end >= :d
      )
    GROUP BY i.customer_id, c.customer_ref
    ORDER BY score DESC, c.customer_ref
    """
)


def floor_installed(conn: Connection, d: date) -> dict[str, Any]:
    rows = [
        (str(k), int(c), int(u))
        for k, c, u in conn.execute(_FLOOR_INSTALLED, _params(d, _FLOOR_INSTALLED))
    ]
    # Each customer has one region, so per-region distinct customers add up to the total.
    return installed_figures(sum(r[1] for r in rows), sum(r[2] for r in rows), rows)


def floor_customers(conn: Connection, d: date) -> dict[str, Any]:
    rows = [
        (str(k), int(c or 0), int(a or 0), float(r or 0))
        for k, c, a, r in conn.execute(_FLOOR_CUSTOMERS, _params(d, _FLOOR_CUSTOMERS))
    ]
    kept = [r for r in rows if r[1] or r[3]]
    return customers_figures(
        sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows), kept
    )


def floor_compare(conn: Connection, d: date) -> dict[str, Any]:
    return compare_figures(
        [
            (str(cat), int(b), int(i), install_rate(int(i), int(b)), int(g), int(r))
            for cat, b, i, g, r in conn.execute(_FLOOR_COMPARE, _params(d, _FLOOR_COMPARE))
        ]
    )


def floor_upsell_service(conn: Connection, d: date) -> dict[str, Any]:
    return upsell_figures(
        [
            (str(ref), int(score))
            for ref, score in conn.execute(_FLOOR_UPSELL_SERVICE, _params(d, _FLOOR_UPSELL_SERVICE))
        ]
    )


FLOORS: dict[str, Baseline] = {
    "installed <category> by region": floor_installed,
    "customers": floor_customers,
    "compare": floor_compare,
    "upsell <category> service": floor_upsell_service,
}


# --- the quick script: pandas ------------------------------------------------------------


def _read(conn: Connection, statement: str, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.read_sql_query(text(statement), conn)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _key(values: pd.Series) -> pd.Series:
    return values.replace("", None).fillna(UNKNOWN).astype(str)


def pandas_installed(conn: Connection, d: date) -> dict[str, Any]:
    inst = _read(
        conn,
        "SELECT customer_id, product_id, installed_on, removed_on FROM installations",
        ("installed_on", "removed_on"),
    )
    products = _read(conn, "SELECT id, category FROM products")
    customers = _read(conn, "SELECT id, region FROM customers")
    day = pd.Timestamp(d)
    ids = products.loc[products["category"] == CATEGORY, "id"]
    active = inst[
        inst["product_id"].isin(ids)
        & (inst["installed_on"] <= day)
        & (inst["removed_on"].isna() | (inst["removed_on"] > day))
    ]
    merged = active.merge(customers, left_on="customer_id", right_on="id")
    merged["key"] = _key(merged["region"])
    grouped = merged.groupby("key").agg(
        customers=("customer_id", "nunique"), units=("customer_id", "size")
    )
    rows = [(str(k), int(r.customers), int(r.units)) for k, r in grouped.iterrows()]
    return installed_figures(merged["customer_id"].nunique(), len(merged), rows)


def pandas_customers(conn: Connection, d: date) -> dict[str, Any]:
    purchases = _read(
        conn,
        "SELECT customer_id, quantity, unit_price, purchased_on FROM purchases",
        ("purchased_on",),
    )
    customers = _read(conn, "SELECT id, segment FROM customers")
    day, start = pd.Timestamp(d), pd.Timestamp(d - timedelta(days=WINDOW_DAYS))
    lines = purchases[purchases["purchased_on"] <= day].copy()
    in_window = lines["purchased_on"] > start
    lines["bought"] = lines["quantity"] > 0
    lines["active"] = lines["bought"] & in_window
    amount = lines["quantity"] * lines["unit_price"].astype(float)
    lines["revenue"] = amount.where(in_window, 0.0)
    per = lines.groupby("customer_id").agg(
        bought=("bought", "max"), active=("active", "max"), revenue=("revenue", "sum")
    )
    merged = per.merge(customers, left_index=True, right_on="id")
    merged["key"] = _key(merged["segment"])
    grouped = merged.groupby("key").agg(
        customers=("bought", "sum"), active=("active", "sum"), revenue=("revenue", "sum")
    )
    rows = [
        (str(k), int(r.customers), int(r.active), float(r.revenue))
        for k, r in grouped.iterrows()
        if r.customers or r.revenue
    ]
    return customers_figures(
        int(per["bought"].sum()), int(per["active"].sum()), float(per["revenue"].sum()), rows
    )


def pandas_compare(conn: Connection, d: date) -> dict[str, Any]:
    purchases = _read(
        conn,
        "SELECT customer_id, product_id, quantity, purchased_on FROM purchases",
        ("purchased_on",),
    )
    inst = _read(
        conn,
        "SELECT customer_id, product_id, installed_on, removed_on FROM installations",
        ("installed_on", "removed_on"),
    )
    products = _read(conn, "SELECT id, category, installable FROM products")
    products["installable"] = products["installable"].astype(bool)
    day, start = pd.Timestamp(d), pd.Timestamp(d - timedelta(days=WINDOW_DAYS))
    in_use = set(inst["product_id"].unique())
    cats = sorted(
        set(products.loc[products["installable"] | products["id"].isin(in_use), "category"])
    )
    lines = purchases.merge(products, left_on="product_id", right_on="id")
    lines = lines[lines["category"].isin(cats) & (lines["purchased_on"] <= day)]
    units = inst.merge(products, left_on="product_id", right_on="id")
    units = units[units["category"].isin(cats)]

    bought = lines[lines["quantity"] > 0].groupby("category")["customer_id"].nunique()
    active = (units["installed_on"] <= day) & (
        units["removed_on"].isna() | (units["removed_on"] > day)
    )
    installed = units[active].groupby("category")["customer_id"].nunique()
    removed = (
        units[(units["removed_on"] > start) & (units["removed_on"] <= day)]
        .groupby("category")
        .size()
    )
    bought_units = (
        lines[lines["installable"]].groupby(["customer_id", "category"])["quantity"].sum()
    )
    placed = units[units["installed_on"] <= day].groupby(["customer_id", "category"]).size()
    gap = bought_units - placed.reindex(bought_units.index).fillna(0)
    not_installed = gap[gap > 0].groupby(level="category").sum()
    rows = []
    for cat in cats:
        b, i = int(bought.get(cat, 0)), int(installed.get(cat, 0))
        rows.append(
            (
                cat,
                b,
                i,
                install_rate(i, b),
                int(not_installed.get(cat, 0)),
                int(removed.get(cat, 0)),
            )
        )
    return compare_figures(rows)


def pandas_upsell_service(conn: Connection, d: date) -> dict[str, Any]:
    inst = _read(
        conn,
        "SELECT customer_id, product_id, installed_on, removed_on FROM installations",
        ("installed_on", "removed_on"),
    )
    purchases = _read(
        conn,
        "SELECT customer_id, product_id, quantity, coverage_start, coverage_end FROM purchases",
        ("coverage_start", "coverage_end"),
    )
    products = _read(conn, "SELECT id, category, kind, for_category FROM products")
    customers = _read(conn, "SELECT id, customer_ref FROM customers")
    day = pd.Timestamp(d)
    units = products.loc[products["category"] == CATEGORY, "id"]
    services = products.loc[
        (products["kind"] == "service") & (products["for_category"] == CATEGORY), "id"
    ]
    active = inst[
        inst["product_id"].isin(units)
        & (inst["installed_on"] <= day)
        & (inst["removed_on"].isna() | (inst["removed_on"] > day))
    ]
    covering = purchases[
        purchases["product_id"].isin(services)
        & (purchases["quantity"] > 0)
        & (purchases["coverage_start"] <= day)
        & (purchases["coverage_end"] >= day)
    ]
    uncovered = active[~active["customer_id"].isin(covering["customer_id"].unique())]
    scores = uncovered.groupby("customer_id").size().rename("score").reset_index()
    ranked = scores.merge(customers, left_on="customer_id", right_on="id").sort_values(
        ["score", "customer_ref"], ascending=[False, True]
    )
    return upsell_figures(
        [(str(ref), int(s)) for ref, s in zip(ranked["customer_ref"], ranked["score"], strict=True)]
    )


PANDAS: dict[str, Baseline] = {
    "installed <category> by region": pandas_installed,
    "customers": pandas_customers,
    "compare": pandas_compare,
    "upsell <category> service": pandas_upsell_service,
}
