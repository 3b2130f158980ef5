"""Every figure of the world fixture against answers worked out by hand (see world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.ask import ask_json, parse_command
from bot.settings import Settings
from queries.upsell import upsell
from tests.queries.world import D, build_world
from tests.replicas import READS, replica_of

SETTINGS = Settings(home_country="US")


@pytest.fixture(params=READS)
def world(request: pytest.FixtureRequest, session: Session, tmp_path: Path) -> Iterator[Session]:
    """The world's rows, read from the database itself or from a replica of them."""
    build_world(session)
    if request.param == "database":
        yield session
        return
    session.flush()
    with replica_of(session.connection(), tmp_path) as replica:
        yield replica


def ask(session: Session, text: str) -> dict[str, Any]:
    return ask_json(session, text, as_of=D, settings=SETTINGS)


def rows(reply: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in reply["breakdown"]["rows"]]


def test_installed_base_counts_units_in_use_on_d(world: Session) -> None:
    # Active at D: A-1 (A-2 removed on D is not), B-1 (installed on D is), C-1, C-2, E-1.
    reply = ask(world, "installed")
    assert (reply["kind"], reply["as_of"], reply["target"]) == ("installed", "2026-06-30", None)
    assert (reply["customers"], reply["units"]) == (4, 5)
    assert reply["breakdown"]["by"] == "segment"
    # All one customer each → key order; "(unknown)" sorts before letters.
    assert rows(reply) == [
        ("(unknown)", 1, 2),
        ("business", 1, 1),
        ("government", 1, 1),
        ("nonprofit", 1, 1),
    ]


def test_installed_printers_by_region(world: Session) -> None:
    reply = ask(world, "installed Printers by region")
    assert reply["target"] == "printers"
    assert (reply["customers"], reply["units"]) == (3, 4)
    assert rows(reply) == [("(unknown)", 1, 2), ("AMER", 1, 1), ("EMEA", 1, 1)]


def test_installed_a_day_earlier_and_a_day_later(world: Session) -> None:
    # D-1: A-2 still in use, B-1 not yet installed. D+1: same as D.
    before = ask_json(world, "installed printers as of 2026-06-29", as_of=D, settings=SETTINGS)
    assert (before["customers"], before["units"]) == (2, 4)
    after = ask_json(world, "installed printers as of 2026-07-01", as_of=D, settings=SETTINGS)
    assert (after["customers"], after["units"]) == (3, 4)


def test_installed_by_product_and_by_year(world: Session) -> None:
    by_product = rows(ask(world, "installed by product"))
    assert by_product == [("PRN-1", 2, 3), ("COP-1", 1, 1), ("PRN-2", 1, 1)]
    by_year = rows(ask(world, "installed by year"))
    # installed_on years of active units: 2021 (C-1, C-2), 2025, 2026 (B-1, E-1).
    assert by_year == [("2026", 2, 2), ("2021", 1, 2), ("2025", 1, 1)]


def test_installed_filters(world: Session) -> None:
    emea = ask(world, "installed in emea")
    assert (emea["customers"], emea["units"]) == (2, 2)  # B, E
    intl = ask(world, "installed in international")
    assert (intl["customers"], intl["units"]) == (2, 2)  # B (DE), E (FR)
    home = ask(world, "installed printers in domestic")
    assert (home["customers"], home["units"]) == (2, 3)  # A, C
    both = ask(world, "installed in EMEA in government")
    assert (both["customers"], both["units"]) == (1, 1)


def test_customer_base_active_and_revenue(world: Session) -> None:
    # Base: A, B, C, F, G (E never bought, P is a prospect).
    # Active (bought in (2025-06-30, 2026-06-30]): A, B, C (toner), G; not F (D-365 exactly).
    # Revenue in the window: A 2000+50, B 1500+500-500+200, C 50, F -2000, G 120 = 1920.
    reply = ask(world, "customers")
    assert (reply["customers"], reply["active_customers"], reply["revenue"]) == (5, 4, 1920.0)
    assert rows(reply) == [
        ("business", 2, 1, 50.0),  # A 2050, F -2000
        ("(unknown)", 1, 1, 50.0),
        ("consumer", 1, 1, 120.0),
        ("government", 1, 1, 1700.0),
    ]


def test_customer_base_of_a_category(world: Session) -> None:
    # Printers bought by A, B, C; active A, B; revenue A 2000 + B 1500.
    reply = ask(world, "customers printer")
    assert (reply["customers"], reply["active_customers"], reply["revenue"]) == (3, 2, 3500.0)


def test_customer_base_by_category_and_cohort(world: Session) -> None:
    by_cat = rows(ask(world, "customers by category"))
    assert by_cat == [
        ("printers", 3, 2, 3500.0),
        ("service", 2, 1, 200.0),  # B (active, 200), C (2025-06-01, outside the window)
        ("toner", 2, 2, 100.0),
        ("copiers", 1, 0, -2000.0),
        ("subscriptions", 1, 1, 120.0),
    ]
    # Cohorts by first purchase year: 2019 C; 2025 A (07-01), F (06-30); 2026 B, G.
    by_year = rows(ask(world, "customers by year"))
    assert by_year == [
        ("2025", 2, 1, 50.0),
        ("2026", 2, 2, 1820.0),
        ("2019", 1, 1, 50.0),
    ]


def test_compare_per_installable_category(world: Session) -> None:
    reply = ask(world, "compare")
    assert reply["rows"] == [
        {
            "category": "printers",
            "customers": 3,
            "installed_customers": 3,
            "install_rate": 100.0,
            # A 2-2=0, B (3+1-1)-1=2, C 1-2 → 0.
            "not_installed_units": 2,
            "removed_units": 1,  # A-2, removed on D
        },
        {
            "category": "copiers",
            "customers": 1,  # F (returned, still in the base)
            "installed_customers": 1,  # E, without a purchase
            "install_rate": 100.0,
            "not_installed_units": 0,  # F 1-1=0
            "removed_units": 0,
        },
    ]


def test_upsell_printers_every_rule(world: Session) -> None:
    reply = ask(world, "upsell printers")
    got = [(c["rule"], c["customer_ref"], c["score"], c["category"]) for c in reply["candidates"]]
    assert got == [
        ("service", "C", 2, "printers"),  # C's plan ended D-1
        ("service", "A", 1, "printers"),  # B is covered from D
        ("renewal", "B", 60, "printers"),  # ends exactly D+60
        ("install", "B", 2, "printers"),  # 3 bought by D-14, 1 installed
        ("consumables", "A", 1, "printers"),  # toner exactly D-90 does not count
        ("consumables", "B", 1, "printers"),
        ("aging", "C", 1, "printers"),  # C-1 installed exactly 5 years before D
    ]
    only = ask(world, "upsell printers renewal")
    assert [c["rule"] for c in only["candidates"]] == ["renewal"]


@pytest.mark.parametrize("command", ["upsell printers", "upsell", "upsell top 1"])
def test_a_slack_page_of_upsell_is_the_head_of_the_list_with_its_counts(
    world: Session, command: str
) -> None:
    full = upsell(world, parse_command(world, command, as_of=D, settings=SETTINGS))
    counts = {rule: len(found) for rule, found in full.by_rule().items()}
    for listing in range(len(full.candidates) + 2):
        request = parse_command(world, command, as_of=D, settings=SETTINGS)
        head = upsell(world, replace(request, listing=listing))
        assert head.candidates == full.candidates[:listing]
        assert head.rule_counts() == counts
        assert head.total == len(full.candidates)


def test_upsell_without_target_covers_every_core_category(world: Session) -> None:
    reply = ask(world, "upsell")
    copiers = [
        (c["rule"], c["customer_ref"]) for c in reply["candidates"] if c["category"] == "copiers"
    ]
    # E has an active copier, no service, no consumables for copiers exist.
    assert copiers == [("service", "E"), ("consumables", "E")]
    assert len(reply["candidates"]) == 9


def test_top_by_revenue_and_units(world: Session) -> None:
    reply = ask(world, "top 3 customers")
    assert [(r["customer_ref"], r["revenue"], r["units"]) for r in reply["rows"]] == [
        ("A", 2050.0, 3),
        ("B", 1700.0, 4),
        ("G", 120.0, 1),
    ]
    units = ask(world, "top 2 by units")
    assert [r["customer_ref"] for r in units["rows"]] == ["B", "A"]
    assert [r["customer_ref"] for r in ask(world, "top")["rows"]] == ["A", "B", "G", "C", "F"]


def test_recurring_and_loyal_in_the_world(world: Session) -> None:
    reply = ask(world, "loyal")
    # Recurring: B (plan from D), G (subscription). C's plan ended D-1. Nobody is loyal.
    assert (reply["customers"], reply["loyal"], reply["recurring"]) == (5, 0, 2)


def test_concentration(world: Session) -> None:
    reply = ask(world, "concentration")
    revenues = [2050.0, 1700.0, 120.0, 50.0]  # F's negative revenue is excluded
    total = sum(revenues)
    assert reply["customers"] == 4
    assert reply["revenue"] == 3920.0
    assert reply["top20_share"] == round(100 * 2050 / total, 1) == 52.3  # ceil(0.8) = 1 customer
    assert reply["hhi"] == round(sum((100 * r / total) ** 2 for r in revenues), 1)
    assert reply["verdict"] == "broad"


def test_health_lists_the_world_s_data_problems(world: Session) -> None:
    checks = {c["check"]: (c["count"], c["examples"]) for c in ask(world, "health")["checks"]}
    assert checks["installations_without_purchase"] == (1, ["E-1"])
    assert checks["installed_customers_without_purchase"] == (1, ["E"])
    # F's copier line of 2025-06-30 is 365 days old and was never installed.
    assert checks["never_installed_after_90_days"][0] == 1
    assert checks["orphan_rows"] == (0, [])
    assert checks["duplicate_customer_names"] == (0, [])
    assert checks["future_dates"] == (0, [])
    later = {
        c["check"]: c["count"]
        for c in ask_json(world, "health", as_of=D.replace(day=29), settings=SETTINGS)["checks"]
    }
    assert later["future_dates"] == 2  # A-2 removed on 06-30, B-1 installed on 06-30
