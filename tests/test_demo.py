"""The demo company: deterministic, referentially sound, and rich in the cases the commands show."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from queries import demo
from queries.demo import PRODUCTS, SALES_DOMAIN, SALES_TEAM, DemoSummary, seed_demo
from queries.importer import is_owner
from queries.models import Base, Customer, Installation, Product, Purchase
from tests.builders import Fixture

TODAY = date(2026, 11, 24)
YESTERDAY = TODAY - timedelta(days=1)
SMALL = 300
CORE = ("printers", "copiers", "scanners", "plotters")
TABLES = ("customers", "products", "purchases", "installations")


def _count(session: Session, sql: str, **params: Any) -> int:
    return int(session.execute(text(sql), params).scalar_one())


def _frame(session: Session, sql: str, **params: Any) -> pd.DataFrame:
    return pd.read_sql(text(sql), session.connection(), params=params)


def _snapshot(session: Session, **kwargs: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the demo writes, then the database as it was before."""
    savepoint = session.begin_nested()
    seed_demo(session, **kwargs)
    rows = {}
    for name in TABLES:
        table = Base.metadata.tables[name]
        rows[name] = [tuple(r) for r in session.execute(select(table).order_by(table.c.id))]
    savepoint.rollback()
    return rows


@pytest.fixture()
def seeded(session: Session) -> DemoSummary:
    return seed_demo(session, customers=SMALL, seed=42, today=TODAY)


def test_summary_matches_the_rows_and_reads_well(session: Session, seeded: DemoSummary) -> None:
    counted = [
        session.scalar(select(func.count()).select_from(m))
        for m in (Customer, Product, Purchase, Installation)
    ]
    assert counted == [
        seeded.customers,
        seeded.products,
        seeded.purchases,
        seeded.installations,
    ]
    assert seeded.customers == SMALL
    assert str(seeded).startswith("300 customers, 34 products, ")
    assert str(seeded).endswith(f"{seeded.installations:,} installations")


def test_proportions_look_like_a_real_company(session: Session, seeded: DemoSummary) -> None:
    assert 3 * SMALL <= seeded.purchases <= 12 * SMALL
    assert 1.5 * SMALL <= seeded.installations <= 8 * SMALL
    customers = _frame(session, "SELECT * FROM customers")
    segments = customers["segment"].value_counts(normalize=True)
    assert segments.index[0] == "business"
    assert 0.2 <= segments["consumer"] <= 0.45
    assert {"government", "nonprofit"} <= set(segments.index)
    assert set(customers["channel"]) == {"direct", "indirect"}
    assert {"retail", "wholesale", "commercial", "industrial"} <= set(customers["industry"])
    assert set(customers["region"].dropna()) == {"AMER", "EMEA", "APAC"}
    assert customers["country"].nunique() >= 8
    assert 0.3 <= (customers["country"] == "US").mean() <= 0.6
    assert 0.03 <= customers["email"].isna().mean() <= 0.2
    assert customers["customer_ref"].str.fullmatch(r"C\d{6}").all()
    prospects = _count(
        session,
        "SELECT count(*) FROM customers c WHERE NOT EXISTS "
        "(SELECT 1 FROM purchases p WHERE p.customer_id = c.id)",
    )
    assert 0.02 * SMALL <= prospects <= 0.15 * SMALL
    returns = _count(session, "SELECT count(*) FROM purchases WHERE quantity < 0")
    assert 0.005 * seeded.purchases <= returns <= 0.05 * seeded.purchases


def test_catalogue_covers_every_kind_and_core_category(
    session: Session, seeded: DemoSummary
) -> None:
    products = _frame(session, "SELECT * FROM products")
    assert 25 <= len(products) <= 40
    assert products["sku"].is_unique and products["name"].is_unique
    assert set(products["kind"]) == {"core", "accessory", "consumable", "service", "subscription"}
    core = products[products["kind"] == "core"]
    assert set(core["category"]) == set(CORE)
    assert core["category"].value_counts().min() >= 2
    assert core["installable"].astype(bool).all() and core["for_category"].isna().all()
    others = products[products["kind"] != "core"]
    assert set(others["for_category"]) <= set(CORE)
    assert others["installable"].astype(bool).sum() == 1  # the booklet finisher
    for kind in ("consumable", "service"):
        assert set(products.loc[products["kind"] == kind, "for_category"]) == set(CORE), kind
    assert {"toner", "ink", "paper"} <= set(
        products.loc[products["kind"] == "consumable", "category"]
    )
    assert set(products.loc[products["kind"] == "service", "category"]) == {"service"}
    assert (products["list_price"] > 0).all()
    assert len(PRODUCTS) == len(products)


def test_same_seed_same_rows_other_seed_other_rows(session: Session) -> None:
    first = _snapshot(session, customers=120, seed=7, today=TODAY)
    again = _snapshot(session, customers=120, seed=7, today=TODAY)
    other = _snapshot(session, customers=120, seed=8, today=TODAY)
    assert first == again
    assert first["products"] == other["products"]
    for name in ("customers", "purchases", "installations"):
        assert first[name] != other[name], name


def test_rows_do_not_depend_on_the_insert_chunk_size(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _snapshot(session, customers=120, seed=7, today=TODAY)
    monkeypatch.setattr(demo, "CHUNK_ROWS", 37)
    assert _snapshot(session, customers=120, seed=7, today=TODAY) == whole


@pytest.mark.parametrize("today", [date(2028, 2, 29), date(2027, 1, 1)])
def test_dates_follow_any_today(session: Session, today: date) -> None:
    seed_demo(session, customers=80, seed=5, today=today)
    yesterday = today - timedelta(days=1)
    assert session.scalar(select(func.max(Purchase.purchased_on))) == yesterday
    assert session.scalar(select(func.max(Installation.installed_on))) == yesterday
    earliest = session.scalar(select(func.min(Customer.created_on)))
    assert earliest is not None and earliest >= today - timedelta(days=7 * 365)


def test_rows_point_at_existing_rows_and_keys_are_unique(
    session: Session, seeded: DemoSummary
) -> None:
    for table in ("purchases", "installations"):
        orphans = _count(
            session,
            f"SELECT count(*) FROM {table} x "
            "LEFT JOIN customers c ON c.id = x.customer_id "
            "LEFT JOIN products p ON p.id = x.product_id "
            "WHERE c.id IS NULL OR p.id IS NULL",
        )
        assert orphans == 0, table
    purchases = _frame(session, "SELECT * FROM purchases")
    assert not purchases.duplicated(["order_ref", "line_no"]).any()
    assert purchases["order_ref"].str.fullmatch(r"(SO|RT)-\d{7}").all()
    # Line numbers run 1..n within each order, and an order belongs to one customer on one day.
    by_order = purchases.groupby("order_ref")
    assert (by_order["line_no"].max() == by_order["line_no"].count()).all()
    assert (by_order["customer_id"].nunique() == 1).all()
    assert (by_order["purchased_on"].nunique() == 1).all()
    assert (purchases.loc[purchases["order_ref"].str.startswith("RT"), "quantity"] < 0).all()
    assert (purchases.loc[purchases["order_ref"].str.startswith("SO"), "quantity"] > 0).all()
    assert (purchases["unit_price"] > 0).all()

    installations = _frame(session, "SELECT * FROM installations")
    assert installations["serial"].is_unique
    assert installations["serial"].str.fullmatch(r"[A-Z0-9]+-\d{6}").all()
    unmatched = _count(
        session,
        "SELECT count(*) FROM installations i WHERE i.order_ref IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM purchases p WHERE p.order_ref = i.order_ref "
        "AND p.customer_id = i.customer_id AND p.product_id = i.product_id "
        "AND p.quantity > 0 AND p.purchased_on <= i.installed_on)",
    )
    assert unmatched == 0
    # Each return follows an earlier purchase of the same product by the same customer.
    orphan_returns = _count(
        session,
        "SELECT count(*) FROM purchases r WHERE r.quantity < 0 AND NOT EXISTS "
        "(SELECT 1 FROM purchases p WHERE p.customer_id = r.customer_id "
        "AND p.product_id = r.product_id AND p.quantity >= -r.quantity "
        "AND p.purchased_on < r.purchased_on)",
    )
    assert orphan_returns == 0
    non_installable = _count(
        session,
        "SELECT count(*) FROM installations i JOIN products p ON p.id = i.product_id "
        "WHERE NOT p.installable",
    )
    assert non_installable == 0


def test_coverage_only_on_service_and_subscription_lines(
    session: Session, seeded: DemoSummary
) -> None:
    lines = _frame(
        session,
        "SELECT p.*, r.kind FROM purchases p JOIN products r ON r.id = p.product_id",
    )
    recurring = lines["kind"].isin(["service", "subscription"])
    covered = lines["coverage_start"].notna() & lines["coverage_end"].notna()
    assert (covered == recurring).all()
    assert lines.loc[~recurring, ["coverage_start", "coverage_end"]].isna().all().all()
    start = pd.to_datetime(lines.loc[recurring, "coverage_start"])
    end = pd.to_datetime(lines.loc[recurring, "coverage_end"])
    assert (start <= end).all()
    assert (start >= pd.to_datetime(lines.loc[recurring, "purchased_on"])).all()


def test_history_spans_seven_years_and_stops_yesterday(
    session: Session, seeded: DemoSummary
) -> None:
    start = TODAY - timedelta(days=7 * 365)
    columns = {
        "customers": ("created_on",),
        "purchases": ("purchased_on", "coverage_start"),
        "installations": ("installed_on", "removed_on"),
    }
    for table, cols in columns.items():
        for col in cols:
            lo, hi = session.execute(text(f"SELECT min({col}), max({col}) FROM {table}")).one()
            lo, hi = pd.Timestamp(lo).date(), pd.Timestamp(hi).date()
            assert start <= lo, (table, col, lo)
            assert hi <= (TODAY if col == "coverage_start" else YESTERDAY), (table, col, hi)
    latest_end = pd.Timestamp(session.scalar(text("SELECT max(coverage_end) FROM purchases")))
    assert latest_end.date() > TODAY
    first_purchase_before_creation = _count(
        session,
        "SELECT count(*) FROM customers c JOIN purchases p ON p.customer_id = c.id "
        "WHERE p.purchased_on < c.created_on",
    )
    assert first_purchase_before_creation == 0
    removed_before_installed = _count(
        session, "SELECT count(*) FROM installations WHERE removed_on <= installed_on"
    )
    assert removed_before_installed == 0


def _aging_cutoff(day: date) -> date:
    return day.replace(year=day.year - 5, day=28 if (day.month, day.day) == (2, 29) else day.day)


_ACTIVE = "i.installed_on <= :d AND (i.removed_on IS NULL OR i.removed_on > :d)"
_NOT_INSTALLED = """
    SELECT count(*) FROM (
        SELECT p.customer_id, r.category, sum(p.quantity) AS units
        FROM purchases p JOIN products r ON r.id = p.product_id
        WHERE r.installable AND p.purchased_on <= :cutoff GROUP BY p.customer_id, r.category
    ) b LEFT JOIN (
        SELECT i.customer_id, r.category, count(*) AS units
        FROM installations i JOIN products r ON r.id = i.product_id
        WHERE i.installed_on <= :d GROUP BY i.customer_id, r.category
    ) n ON n.customer_id = b.customer_id AND n.category = b.category
    WHERE b.units > coalesce(n.units, 0)
"""
_ACTIVE_PRINTERS_WITHOUT = """
    SELECT count(DISTINCT i.customer_id) FROM installations i
    JOIN products r ON r.id = i.product_id
    WHERE r.category = 'printers' AND {active} AND NOT EXISTS (
        SELECT 1 FROM purchases p JOIN products s ON s.id = p.product_id
        WHERE p.customer_id = i.customer_id AND s.for_category = 'printers' AND {condition})
"""
_SERVICE_COVERS = (
    "s.kind = 'service' AND p.quantity > 0 AND p.coverage_start <= :d AND p.coverage_end >= :d"
)
_RECENT_SUPPLIES = "s.kind = 'consumable' AND p.purchased_on > :d90 AND p.purchased_on <= :d"
_LATEST_SERVICE_END = """
    SELECT count(*) FROM (
        SELECT p.customer_id, s.for_category, max(p.coverage_end) AS ends
        FROM purchases p JOIN products s ON s.id = p.product_id
        WHERE s.kind = 'service' AND p.quantity > 0 GROUP BY p.customer_id, s.for_category
    ) t WHERE ends {condition}
"""
_FIRST_PURCHASE = """
    SELECT count(*) FROM (
        SELECT customer_id, min(purchased_on) AS first FROM purchases
        WHERE quantity > 0 GROUP BY customer_id
    ) t WHERE first {condition}
"""
_WINDOW = "max(CASE WHEN purchased_on > :w{k} AND purchased_on <= :w{j} THEN 1 ELSE 0 END)"
_LOYAL = f"""
    SELECT count(*) FROM (
        SELECT customer_id, min(purchased_on) AS first,
               {" + ".join(_WINDOW.format(k=k + 1, j=k) for k in range(4))} AS windows
        FROM purchases WHERE quantity > 0 GROUP BY customer_id
    ) t WHERE windows >= 3 AND first <= :d365
"""

INTERESTING: dict[str, str] = {
    "prospects": "SELECT count(*) FROM customers c WHERE NOT EXISTS "
    "(SELECT 1 FROM purchases p WHERE p.customer_id = c.id)",
    "one-off customers": "SELECT count(*) FROM (SELECT customer_id FROM purchases "
    "GROUP BY customer_id HAVING count(DISTINCT order_ref) = 1) t",
    "duplicate names": "SELECT count(*) FROM (SELECT name FROM customers "
    "GROUP BY name HAVING count(*) > 1) t",
    "missing segment": "SELECT count(*) FROM customers WHERE segment IS NULL",
    "missing region": "SELECT count(*) FROM customers WHERE region IS NULL",
    "international": "SELECT count(*) FROM customers WHERE country <> 'US'",
    "returns": "SELECT count(*) FROM purchases WHERE quantity < 0",
    "removed in the last 365 days": "SELECT count(*) FROM installations "
    "WHERE removed_on > :d365 AND removed_on <= :d",
    "active units installed 5+ years ago": "SELECT count(*) FROM installations i "
    f"WHERE i.installed_on <= :aging AND {_ACTIVE}",
    "purchased 14+ days ago, never installed": _NOT_INSTALLED.replace(":cutoff", ":d14"),
    "purchased 90+ days ago, never installed": _NOT_INSTALLED.replace(":cutoff", ":d90"),
    "service ending within 60 days": _LATEST_SERVICE_END.format(condition="BETWEEN :d AND :d60"),
    "service lapsed": _LATEST_SERVICE_END.format(condition="< :d"),
    "active printers without printer service": _ACTIVE_PRINTERS_WITHOUT.format(
        active=_ACTIVE, condition=_SERVICE_COVERS
    ),
    "active printers without recent supplies": _ACTIVE_PRINTERS_WITHOUT.format(
        active=_ACTIVE, condition=_RECENT_SUPPLIES
    ),
    "active printers with recent supplies": _ACTIVE_PRINTERS_WITHOUT.format(
        active=_ACTIVE, condition=_RECENT_SUPPLIES
    ).replace("NOT EXISTS", "EXISTS"),
    "recurring-revenue lines covering today": "SELECT count(*) FROM purchases p "
    "JOIN products s ON s.id = p.product_id WHERE s.kind IN ('service', 'subscription') "
    "AND p.quantity > 0 AND p.coverage_start <= :d AND p.coverage_end >= :d",
    "subscription lines": "SELECT count(*) FROM purchases p JOIN products s "
    "ON s.id = p.product_id WHERE s.kind = 'subscription'",
    "loyal customers": _LOYAL,
    "installation without a purchase": "SELECT count(*) FROM installations i "
    "WHERE NOT EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = i.customer_id "
    "AND p.product_id = i.product_id AND p.quantity > 0)",
    "purchase lines yesterday": "SELECT count(*) FROM purchases WHERE purchased_on = :y",
    "new customers yesterday": _FIRST_PURCHASE.format(condition="= :y"),
    "units installed yesterday": "SELECT count(*) FROM installations WHERE installed_on = :y",
    "units removed yesterday": "SELECT count(*) FROM installations WHERE removed_on = :y",
}


@pytest.mark.parametrize("seed", [42, 2024])
def test_every_interesting_case_is_present(session: Session, seed: int) -> None:
    seed_demo(session, customers=SMALL, seed=seed, today=TODAY)
    d = TODAY
    params: dict[str, Any] = {
        "d": d,
        "y": YESTERDAY,
        "d14": d - timedelta(days=14),
        "d60": d + timedelta(days=60),
        "d90": d - timedelta(days=90),
        "d365": d - timedelta(days=365),
        "aging": _aging_cutoff(d),
    }
    params |= {f"w{k}": d - timedelta(days=91 * k) for k in range(5)}
    counts = {name: _count(session, sql, **params) for name, sql in INTERESTING.items()}
    assert [name for name, n in counts.items() if n == 0] == [], counts
    # Deliberate oddities stay rare: the report should show a few, not a flood.
    assert counts["installation without a purchase"] <= 3
    assert counts["missing segment"] <= 5


def test_revenue_is_concentrated_in_a_few_big_accounts(
    session: Session, seeded: DemoSummary
) -> None:
    revenue = _frame(
        session,
        "SELECT customer_id, sum(quantity * unit_price) AS revenue FROM purchases "
        "WHERE purchased_on > :start AND purchased_on <= :d GROUP BY customer_id",
        start=TODAY - timedelta(days=365),
        d=TODAY,
    )["revenue"].astype(float)
    revenue = revenue[revenue > 0].sort_values(ascending=False)
    top = math.ceil(len(revenue) * 0.2)
    share = 100 * revenue.iloc[:top].sum() / revenue.sum()
    assert 65 <= share <= 97  # around the 80/20 line, so "broad or tall" has a real answer


def test_business_names_come_from_word_lists(session: Session, seeded: DemoSummary) -> None:
    names = list(session.scalars(select(Customer.name)))
    assert all(name and name == name.strip() for name in names)
    assert any(re.search(r" (GmbH|Inc\.|Ltd|LLC|S\.A\.|K\.K\.)$", name) for name in names)
    emails = [e for e in session.scalars(select(Customer.email)) if e is not None]
    assert all(re.fullmatch(r"[a-z0-9.]+@[a-z0-9-]+\.example", e) for e in emails)


def test_the_sales_team_writes_owners_both_ways() -> None:
    assert 8 <= len(SALES_TEAM) <= 12
    owners = [rep.owner for rep in SALES_TEAM]
    assert len(set(owners)) == len(owners) == len({rep.name for rep in SALES_TEAM})
    assert all(is_owner(owner) for owner in owners)
    slack_ids = [owner for owner in owners if "@" not in owner]
    assert len(slack_ids) == 1 and re.fullmatch(r"U[A-Z0-9]{8,}", slack_ids[0])
    emails = [owner for owner in owners if "@" in owner]
    assert all(re.fullmatch(rf"[a-z]+\.[a-z]+@{re.escape(SALES_DOMAIN)}", e) for e in emails)
    assert {rep.region for rep in SALES_TEAM} == {"AMER", "EMEA", "APAC"}


def test_territories_take_every_kind_of_account_once() -> None:
    for country, (region, *_) in demo._COUNTRIES.items():
        for segment in demo._SEGMENTS:
            industries = ("retail",) if segment == "consumer" else demo._INDUSTRIES[segment][0]
            for industry in industries:
                account = (region, segment, country, industry)
                reps = [rep.name for rep in SALES_TEAM if rep.covers(*account)]
                assert len(reps) == 1, (account, reps)


def test_accounts_have_an_owner_of_their_territory_but_a_few(
    session: Session, seeded: DemoSummary
) -> None:
    customers = _frame(
        session, "SELECT customer_ref, segment, country, region, industry, owner FROM customers"
    )
    owned = customers[customers["owner"].notna()]
    assert owned["owner"].map(is_owner).all()
    assert set(owned["owner"]) == {rep.owner for rep in SALES_TEAM}
    assert (owned.groupby("owner")["region"].nunique() == 1).all()
    reps = {rep.owner: rep for rep in SALES_TEAM}
    columns = (Customer.region, Customer.segment, Customer.country, Customer.industry)
    for owner, *account in session.execute(
        select(Customer.owner, *columns).where(Customer.owner.is_not(None))
    ):
        assert owner is not None and reps[owner].covers(*account), (owner, account)
    assert 0.05 <= customers["owner"].isna().mean() <= 0.10
    # An account without a region or a segment has nothing to route it to a rep by.
    unroutable = customers["region"].isna() | customers["segment"].isna()
    assert unroutable.any() and customers.loc[unroutable, "owner"].isna().all()


@pytest.mark.parametrize(("customers", "seed"), [(60, 1), (120, 7), (450, 2024)])
def test_the_unowned_share_holds_at_any_size(session: Session, customers: int, seed: int) -> None:
    seed_demo(session, customers=customers, seed=seed, today=TODAY)

    unowned = session.scalar(select(func.count()).where(Customer.owner.is_(None)))

    assert 0.05 * customers <= (unowned or 0) <= 0.10 * customers


def test_owners_follow_the_seed_and_leave_every_other_column_as_it_was(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _snapshot(session, customers=120, seed=7, today=TODAY)
    assert _snapshot(session, customers=120, seed=7, today=TODAY) == first
    owner = [c.name for c in Customer.__table__.c].index("owner")
    monkeypatch.setattr(demo._Company, "owner", lambda self, *account: None)

    without = _snapshot(session, customers=120, seed=7, today=TODAY)

    assert [row[owner] for row in without["customers"]] == [None] * 120
    assert {row[owner] for row in first["customers"]} >= {None, *(r.owner for r in SALES_TEAM)}

    def others(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
        customers = [row[:owner] + row[owner + 1 :] for row in rows["customers"]]
        return rows | {"customers": customers}

    assert others(without) == others(first)


@pytest.mark.parametrize("customers", [1, 2, 5])
def test_tiny_companies_still_have_yesterday_activity(session: Session, customers: int) -> None:
    summary = seed_demo(session, customers=customers, seed=3, today=TODAY)
    assert summary.customers == customers
    newest = _count(
        session,
        "SELECT count(*) FROM purchases p JOIN customers c ON c.id = p.customer_id "
        "WHERE c.customer_ref = :ref AND p.purchased_on = :y",
        ref=f"C{customers:06d}",
        y=YESTERDAY,
    )
    assert newest >= 1


def test_zero_customers_writes_only_the_catalogue(session: Session) -> None:
    summary = seed_demo(session, customers=0, seed=1, today=TODAY)
    assert summary == DemoSummary(customers=0, products=len(PRODUCTS), purchases=0, installations=0)


def test_negative_size_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="customers"):
        seed_demo(session, customers=-1, today=TODAY)


@pytest.mark.parametrize("existing", ["product", "customer"])
def test_refuses_a_database_that_already_has_rows(session: Session, existing: str) -> None:
    fx = Fixture(session)
    if existing == "product":
        fx.product("OWN-1", "printers")
    else:
        fx.customer("OWN-1")
    with pytest.raises(ValueError, match="already has rows"):
        seed_demo(session, customers=10, today=TODAY)
    assert session.scalar(select(func.count()).select_from(Purchase)) == 0


def test_refuses_to_seed_twice(session: Session, seeded: DemoSummary) -> None:
    with pytest.raises(ValueError, match="empty database"):
        seed_demo(session, customers=10, today=TODAY)
    assert session.scalar(select(func.count()).select_from(Customer)) == SMALL


def test_new_rows_get_ids_after_the_demo_rows(session: Session, seeded: DemoSummary) -> None:
    fx = Fixture(session)
    product = fx.product("OWN-1", "printers")
    customer = fx.customer("OWN-1")
    purchase = fx.buy("OWN-1", "OWN-1", "2026-11-01")
    installation = fx.install("OWN-1", "OWN-1", "2026-11-02")
    assert product.id == seeded.products + 1
    assert customer.id == seeded.customers + 1
    assert purchase.id == seeded.purchases + 1
    assert installation.id == seeded.installations + 1
