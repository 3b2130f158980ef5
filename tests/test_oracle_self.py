"""Hand-worked cases that check the oracle itself (tests/oracle.py) before it judges basebot.

Every expected figure below is worked out by hand from SPEC.md in the comments; none comes
from running code.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from tests import oracle
from tests.builders import Fixture

D = date(2025, 6, 30)
# Windows around D = 2025-06-30 (worked by hand on a calendar):
#   D-365 = 2024-06-30, D-364 = 2024-07-01, D-90 = 2025-04-01, D-89 = 2025-04-02,
#   D-14 = 2025-06-16, D-13 = 2025-06-17, D+60 = 2025-08-29.
#   91-day windows: W1 (2025-03-31, 2025-06-30], W2 (2024-12-30, 2025-03-31],
#                   W3 (2024-09-30, 2024-12-30], W4 (2024-07-01, 2024-09-30].


def _catalog(fx: Fixture) -> None:
    fx.product("P1", "printers", "core")
    fx.product("K1", "copiers", "core")
    fx.product("T1", "supplies", "consumable", for_category="printers")
    fx.product("S1", "services", "service", for_category="printers")
    fx.product("SUB", "software", "subscription")


def test_installed_and_customers_by_hand(session: Session) -> None:
    fx = Fixture(session)
    _catalog(fx)
    fx.customer("A", segment="business", region="EMEA", country="DE")
    fx.customer("B", segment="consumer", region="AMER", country="US")
    fx.customer("C", segment=None, region=None, country=None)
    fx.customer("Z", segment="government", region="AMER", country="US")  # prospect
    fx.buy("A", "P1", "2024-06-30", 2, 100)  # D-365: in the base, outside the window
    fx.buy("A", "P1", "2024-07-01", -1, 100)  # return at D-364: in the window, -100
    fx.buy("B", "P1", "2025-06-30", 1, 250)  # on D: base, active, +250
    fx.buy("B", "T1", "2025-07-01", 3, 20)  # after D: ignored
    fx.buy("C", "T1", "2024-07-01", 2, 10)  # D-364: base, active, +20
    fx.install("A", "P1", "2024-07-10", "2025-06-30")  # removed on D: not active
    fx.install("A", "P1", "2024-07-10", "2025-07-01")  # removed after D: active
    fx.install("B", "P1", "2025-07-01")  # installed after D: not active
    fx.install("Z", "P1", "2025-06-30")  # installed on D, no purchase: still counts
    fr = oracle.load_frames(session)

    # Installed base at D: A (1 unit) and Z (1 unit).
    got = oracle.installed(fr, D)
    assert (got["customers"], got["units"]) == (2, 2)
    assert got["breakdown"]["rows"] == [
        {"key": "business", "customers": 1, "units": 1},
        {"key": "government", "customers": 1, "units": 1},
    ]
    got = oracle.installed(fr, D, "printers", by="region")
    assert [r["key"] for r in got["breakdown"]["rows"]] == ["AMER", "EMEA"]

    # Customer base: A, B, C (Z has no purchase). Active: B (on D), C (D-364); A's only
    # positive line is at D-365, outside (D-365, D]. Revenue: -100 + 250 + 20 = 170.
    got = oracle.customers(fr, D)
    assert (got["customers"], got["active_customers"]) == (3, 2)
    assert got["revenue"] == pytest.approx(170)
    # All keys have one customer, so key ascending: "(unknown)" < "business" < "consumer".
    assert got["breakdown"]["rows"] == [
        {"key": "(unknown)", "customers": 1, "active_customers": 1, "revenue": 20.0},
        {"key": "business", "customers": 1, "active_customers": 0, "revenue": -100.0},
        {"key": "consumer", "customers": 1, "active_customers": 1, "revenue": 250.0},
    ]
    # Printers only: A and B; active B; revenue -100 + 250 = 150.
    got = oracle.customers(fr, D, "printers")
    assert (got["customers"], got["active_customers"], got["revenue"]) == (2, 1, 150.0)
    # International = country set and not US: only A (C's NULL country is neither).
    got = oracle.customers(fr, D, filters=["international"])
    assert (got["customers"], got["active_customers"], got["revenue"]) == (1, 0, -100.0)
    got = oracle.customers(fr, D, filters=["domestic"])
    assert got["customers"] == 1  # B


def test_compare_and_upsell_rules_by_hand(session: Session) -> None:
    fx = Fixture(session)
    _catalog(fx)
    for ref in ("A", "B", "C", "E"):
        fx.customer(ref)
    # A: 3 printers bought at D-14 (counts for `install`), 1 installed -> gap 2;
    #    service covering up to D exactly -> covered, renewal score 0; no toner.
    fx.buy("A", "P1", "2025-06-16", 3)
    fx.install("A", "P1", "2025-06-20")
    fx.buy("A", "S1", "2025-01-01", coverage=("2025-01-01", "2025-06-30"))
    # B: printer bought at D-13 (too recent for `install`); 2 units installed without any
    #    earlier purchase, one exactly 5 years before D (aging), one a day later;
    #    toner at D-89 (inside (D-90, D]) -> not a consumables candidate; no service.
    fx.buy("B", "P1", "2025-06-17", 1)
    fx.install("B", "P1", "2020-06-30")
    fx.install("B", "P1", "2020-07-01")
    fx.buy("B", "T1", "2025-04-02", 1)
    # C: 1 unit; service ends D+60 (renewal 60, and covers D); a returned service line that
    #    would end later never counts; toner at D-90 (outside the window) -> consumables.
    fx.buy("C", "P1", "2024-01-01", 1)
    fx.install("C", "P1", "2024-01-05")
    fx.buy("C", "S1", "2024-01-01", coverage=("2024-01-01", "2025-08-29"))
    fx.buy("C", "S1", "2024-02-01", -1, coverage=("2024-01-01", "2025-12-31"))
    fx.buy("C", "T1", "2025-04-01", 1)
    # E: 1 active unit; service ended D-1 -> service candidate, not renewal; toner on D.
    #    Two more units removed at D-365 (not counted) and D-364 (counted as removed).
    fx.buy("E", "P1", "2024-01-01", 1)
    fx.install("E", "P1", "2024-01-05")
    fx.install("E", "P1", "2024-01-05", "2024-06-30")
    fx.install("E", "P1", "2024-01-05", "2024-07-01")
    fx.buy("E", "S1", "2024-06-30", coverage=("2024-07-01", "2025-06-29"))
    fx.buy("E", "T1", "2025-06-30", 1)
    fr = oracle.load_frames(session)

    # printers: base A, B, C, E = 4; installed A, B, C, E = 4 -> 100.0 %;
    # not installed: A 3-1 = 2, B 1-2 -> 0, C 1-1 = 0, E 1-3 -> 0 => 2; removed: 1 (D-364).
    # copiers has an installable product but no rows: 0 customers, rate null, sorted last.
    rows = oracle.compare(fr, D)["rows"]
    assert rows == [
        {
            "category": "printers",
            "customers": 4,
            "installed_customers": 4,
            "install_rate": 100.0,
            "not_installed_units": 2,
            "removed_units": 1,
        },
        {
            "category": "copiers",
            "customers": 0,
            "installed_customers": 0,
            "install_rate": None,
            "not_installed_units": 0,
            "removed_units": 0,
        },
    ]

    # service: units A1 B2 C1 E1; covered A (end = D), C -> B(2), E(1).
    # renewal: A ends on D (0), C ends D+60 (60), E ended D-1 (out) -> ascending A, C.
    # install: A 3-1 = 2; B 0 (D-13 line too recent) - 2 < 0; C, E <= 0.
    # consumables: fed B (D-89) and E (D); A and C (D-90 is outside) score 1, by ref.
    # aging: B's unit installed on 2020-06-30 = D minus 5 years.
    got = oracle.upsell(fr, D, "printers")["candidates"]
    assert [(c["rule"], c["customer_ref"], c["score"]) for c in got] == [
        ("service", "B", 2),
        ("service", "E", 1),
        ("renewal", "A", 0),
        ("renewal", "C", 60),
        ("install", "A", 2),
        ("consumables", "A", 1),
        ("consumables", "C", 1),
        ("aging", "B", 1),
    ]
    # Without a target every core category (printers, copiers) is scanned; copiers adds none.
    assert oracle.upsell(fr, D)["candidates"] == got
    only = oracle.upsell(fr, D, "printers", rule="renewal")["candidates"]
    assert [c["customer_ref"] for c in only] == ["A", "C"]


def test_loyal_top_and_concentration_by_hand(session: Session) -> None:
    fx = Fixture(session)
    _catalog(fx)
    fx.customer("L1", segment="business")
    fx.customer("L2", segment="business")
    fx.customer("L3", segment="consumer")
    fx.customer("L4", segment=None)
    # L1: first purchase D-365 (>= 365 days before D), then W1 (on D), W2 (D-91 exactly
    # = 2025-03-31 belongs to W2), W3 (2024-12-30 = D-182 belongs to W3) -> loyal.
    for on in ("2024-06-30", "2025-06-30", "2025-03-31", "2024-12-30"):
        fx.buy("L1", "T1", on, 1, 10)
    # L2: purchases in all four windows but first purchase D-364 -> not loyal;
    # a subscription covering D -> recurring.
    for on in ("2024-07-01", "2024-08-01", "2024-11-01", "2025-02-01", "2025-05-01"):
        fx.buy("L2", "T1", on, 1, 10)
    fx.buy("L2", "SUB", "2025-06-30", coverage=("2025-06-30", "2026-06-29"))
    # L3: W1 and W2 only, the W3 line is a return -> 2 windows, not loyal; its service
    # ended D-1 -> not recurring.
    fx.buy("L3", "T1", "2023-01-01", 5, 10)
    fx.buy("L3", "T1", "2025-04-01", 1, 10)
    fx.buy("L3", "T1", "2025-03-31", 1, 10)
    fx.buy("L3", "T1", "2024-10-01", -1, 10)
    fx.buy("L3", "S1", "2024-06-30", coverage=("2024-06-30", "2025-06-29"))
    # L4: first 2023, W4 (2024-07-02), W3 (2024-12-30), W2 (2025-01-15) -> loyal;
    # service starting D+1 -> not recurring.
    for on in ("2023-01-01", "2024-07-02", "2024-12-30", "2025-01-15"):
        fx.buy("L4", "T1", on, 1, 10)
    fx.buy("L4", "S1", "2025-06-30", coverage=("2025-07-01", "2026-06-30"))
    fr = oracle.load_frames(session)

    got = oracle.loyal(fr, D)
    assert (got["loyal"], got["recurring"]) == (2, 1)
    assert got["breakdown"]["rows"] == [
        {"key": "business", "customers": 2, "loyal": 1, "recurring": 1},
        {"key": "(unknown)", "customers": 1, "loyal": 1, "recurring": 0},
        {"key": "consumer", "customers": 1, "loyal": 0, "recurring": 0},
    ]


def test_top_and_concentration_by_hand(session: Session) -> None:
    fx = Fixture(session)
    _catalog(fx)
    fx.customer("K1", "Mike")
    fx.customer("K2", "Lima")
    fx.customer("K3", "Kilo")
    fx.customer("K4", "Zulu")
    fx.customer("K5", "Alpha")
    fx.customer("K6", "Juliet")
    fx.customer("K7", "India")
    fx.buy("K1", "T1", "2025-01-01", 5, 100)  # 500, 5 units
    fx.buy("K2", "T1", "2025-01-01", 3, 100)  # 300, 3 units
    fx.buy("K3", "T1", "2025-01-01", 1, 100)  # 100, 1 unit
    fx.buy("K4", "T1", "2025-01-01", 1, 50)  # 50, 1 unit
    fx.buy("K5", "T1", "2025-01-01", 2, 25)  # 50, 2 units (ties K4 on revenue)
    fx.buy("K6", "T1", "2025-01-01", 1, 100)  # bought and returned in the window: 0
    fx.buy("K6", "T1", "2025-02-01", -1, 100)
    fx.buy("K7", "T1", "2024-01-01", 2, 100)  # bought before the window ...
    fx.buy("K7", "T1", "2025-01-01", -1, 100)  # ... returned inside it: -100, -1 unit
    fx.buy("K1", "T1", "2024-06-30", 9, 100)  # D-365: outside the window
    fr = oracle.load_frames(session)

    # Revenue desc, ties (K4 = K5 = 50) by customer_ref, zero and negative still listed.
    got = oracle.top(fr, D, 10)["rows"]
    assert [(r["customer_ref"], r["revenue"], r["units"]) for r in got] == [
        ("K1", 500.0, 5),
        ("K2", 300.0, 3),
        ("K3", 100.0, 1),
        ("K4", 50.0, 1),
        ("K5", 50.0, 2),
        ("K6", 0.0, 0),
        ("K7", -100.0, -1),
    ]
    # By units: 5, 3, 2 (K5) -> K1, K2, K5.
    got = oracle.top(fr, D, 3, by="units")["rows"]
    assert [r["customer_ref"] for r in got] == ["K1", "K2", "K5"]
    # Positive revenue: 500, 300, 100, 50, 50 -> 5 customers, 1000; top 20% = ceil(1) = 1
    # customer -> 50.0 %; HHI = 50² + 30² + 10² + 5² + 5² = 3550; 50 < 80 -> broad.
    got = oracle.concentration(fr, D)
    assert (got["customers"], got["revenue"], got["verdict"]) == (5, 1000.0, "broad")
    assert got["top20_share"] == pytest.approx(50.0)
    assert got["hhi"] == pytest.approx(3550.0)


def test_digest_lookup_and_leap_aging_by_hand(session: Session) -> None:
    fx = Fixture(session)
    _catalog(fx)
    for ref in ("N1", "N2", "N3", "X"):
        fx.customer(ref)
    d7 = date(2025, 7, 1)  # digest as of 2025-07-01 reports the day 2025-06-30
    # Lines on 2025-06-30: N1 100 + 20, N2 15, N3 return -40 -> 4 lines, revenue 95.
    fx.buy("N1", "P1", "2025-06-30", 1, 100)  # N1's first purchase: a new customer
    fx.buy("N1", "T1", "2025-06-30", 2, 10)
    fx.buy("N2", "P1", "2025-06-29", 1, 100)  # N2 first bought the day before: not new
    fx.buy("N2", "T1", "2025-06-30", 3, 5)
    fx.buy("N3", "P1", "2025-01-01", 2, 40)
    fx.buy("N3", "P1", "2025-06-30", -1, 40)
    # Installed base at 2025-06-30: I1 (installed that day), I3, I4 -> 3 customers, 3 units;
    # I2 removed that day is gone. At D-8 = 2025-06-23: I2 (installed that day), I3 ->
    # 2 customers, 2 units. Changes +1, +1. Installed that day 1 (I1), removed 1 (I2).
    fx.install("N1", "P1", "2025-06-30")  # I1
    fx.install("N2", "P1", "2025-06-23", "2025-06-30")  # I2
    fx.install("N3", "P1", "2024-01-01")  # I3
    fx.install("N2", "P1", "2025-06-24")  # I4
    # Ending service: covering D=07-01 and ending in [07-01, 07-31]: the two N3 lines.
    fx.buy("N3", "S1", "2025-01-01", coverage=("2025-01-01", "2025-07-01"))
    fx.buy("N3", "S1", "2025-01-01", coverage=("2025-01-01", "2025-07-31"))
    fx.buy("N2", "S1", "2025-01-01", coverage=("2025-01-01", "2025-08-01"))  # D+31
    fx.buy("N2", "S1", "2025-01-01", coverage=("2025-07-02", "2025-07-20"))  # starts D+1
    fx.buy("N2", "SUB", "2025-01-01", coverage=("2025-01-01", "2025-07-10"))  # subscription
    fr = oracle.load_frames(session)
    got = oracle.digest(fr, d7)
    assert got["day"] == "2025-06-30"
    assert (got["new_customers"], got["purchase_lines"]) == (1, 4)
    assert got["revenue"] == pytest.approx(95.0)
    assert (got["units_installed"], got["units_removed"]) == (1, 1)
    assert got["installed_base"] == {
        "customers": 3,
        "units": 3,
        "customers_change": 1,
        "units_change": 1,
    }
    assert got["ending_service"] == 2
    # Upsell at 2025-07-01: service N1 (N2, N3 covered); renewal N3 07-31 (30), N2 08-01 (31);
    # install N3 (2 bought by D-14 = 06-17, the return is later; 1 installed) -> 1;
    # consumables N3 only (N1 and N2 bought toner on 06-30, inside (D-90, D]); aging none.
    brief = {r: [(c["customer_ref"], c["score"]) for c in v] for r, v in got["upsell"].items()}
    assert brief == {
        "service": [("N1", 1)],
        "renewal": [("N3", 30), ("N2", 31)],
        "install": [("N3", 1)],
        "consumables": [("N3", 1)],
        "aging": [],
    }

    # Lookup of X as of D = 2025-06-30: 13 lines on or before D, the last 10 are the three
    # on D (order_ref desc, line_no desc) then O0 lines 9..3 of 2025-01-01.
    fx.buy("X", "T1", "2025-06-30", 1, 10, order_ref="X-O1", line_no=1)
    fx.buy("X", "T1", "2025-06-30", -1, 10, order_ref="X-O1", line_no=2)
    s1 = ("2025-01-01", "2025-06-30")
    fx.buy("X", "S1", "2025-06-30", 1, 100, order_ref="X-O2", line_no=1, coverage=s1)
    for n in range(1, 10):
        fx.buy("X", "T1", "2025-01-01", 1, 10, order_ref="X-O0", line_no=n)
    fx.buy("X", "T1", "2025-07-01", 1, 10, order_ref="X-O3")  # after D
    sub = ("2024-01-01", "2024-12-31")
    fx.buy("X", "SUB", "2024-01-01", 1, 50, order_ref="X-O9", coverage=sub)  # before window
    fx.install("X", "P1", "2024-02-01", "2025-06-30", serial="X-I1")
    fx.install("X", "P1", "2025-06-30", serial="X-I2")
    fx.install("X", "P1", "2025-07-01", serial="X-I3")
    fr = oracle.load_frames(session)
    got = oracle.customer_lookup(fr, D, "X")
    assert [(p["order_ref"], p["line_no"]) for p in got["purchases"]] == [
        ("X-O2", 1),
        ("X-O1", 2),
        ("X-O1", 1),
        *[("X-O0", n) for n in range(9, 2, -1)],
    ]
    # Window revenue: 10 - 10 + 100 + 9 * 10 = 190 (the SUB line of 2024-01-01 is outside).
    assert got["revenue"] == pytest.approx(190.0)
    assert [(c["sku"], c["active"]) for c in got["coverage"]] == [("S1", True), ("SUB", False)]
    assert [(i["serial"], i["active"]) for i in got["installations"]] == [
        ("X-I1", False),
        ("X-I2", True),
    ]

    # Aging across 29 February: D = 2028-02-29 -> limit 2023-02-28; D = 2029-03-01 -> limit
    # 2024-03-01, so a unit installed 2024-02-29 ages then but not at 2029-02-28.
    assert oracle.five_years_before(date(2028, 2, 29)) == date(2023, 2, 28)
    fx.install("X", "K1", "2023-02-28", serial="X-A1")
    fx.install("X", "K1", "2023-03-01", serial="X-A2")
    fx.install("X", "K1", "2024-02-29", serial="X-A3")
    fr = oracle.load_frames(session)

    def aging(day: date) -> list[tuple[str, int]]:
        cands = oracle.upsell(fr, day, "copiers", rule="aging")["candidates"]
        return [(c["customer_ref"], c["score"]) for c in cands]

    assert aging(date(2028, 2, 29)) == [("X", 1)]  # only 2023-02-28
    assert aging(date(2028, 3, 1)) == [("X", 2)]  # 2023-02-28 and 2023-03-01
    assert aging(date(2029, 2, 28)) == [("X", 2)]  # 2024-02-29 is after 2024-02-28
    assert aging(date(2029, 3, 1)) == [("X", 3)]
