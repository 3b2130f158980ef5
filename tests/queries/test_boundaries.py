"""Boundary cases SPEC names, each on a fixture small enough to work out by hand."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from bot.settings import Settings
from tests.builders import Fixture
from tests.queries.conftest import Ask

SETTINGS = Settings(home_country="US")


def _catalogue(f: Fixture) -> None:
    f.product("PRN", "printers")
    f.product("SVC", "service", "service", for_category="printers")
    f.product("SUB", "subscriptions", "subscription", for_category="printers")
    f.product("TON", "toner", "consumable", for_category="printers")


def test_loyal_windows_first_purchase_and_returns(session: Session, ask_on: Ask) -> None:
    # D = 2026-06-30. Windows: W1 (03-31, 06-30], W2 (2025-12-30, 03-31],
    # W3 (2025-09-30, 2025-12-30], W4 (2025-07-01, 2025-09-30]. D-365 = 2025-06-30.
    d = date(2026, 6, 30)
    f = Fixture(session)
    _catalogue(f)
    for ref in ("L1", "L2", "L3", "L4", "R1", "R2", "R3", "R4"):
        f.customer(ref)
    f.customer("L5", segment="government")
    # L1: first purchase exactly 365 days before D; W4, W3, W1 → loyal.
    for on in ("2025-06-30", "2025-07-02", "2025-10-01", "2026-06-30"):
        f.buy("L1", "TON", on)
    # L2: three windows but first purchase only 364 days before D → not loyal.
    for on in ("2025-07-01", "2025-08-01", "2025-11-01", "2026-01-01"):
        f.buy("L2", "TON", on)
    # L3: 2025-07-01 is outside W4; the upper edges of W3 and W2 count → 2 windows.
    for on in ("2020-01-01", "2025-07-01", "2025-12-30", "2026-03-31"):
        f.buy("L3", "TON", on)
    # L4: W1, W2 and only a return in W3 → 2 windows.
    for on in ("2020-01-01", "2026-04-01", "2026-01-01"):
        f.buy("L4", "TON", on)
    f.buy("L4", "TON", "2025-10-01", -1)
    # L5: W1, W2, W3 → loyal.
    for on in ("2019-05-05", "2026-05-01", "2026-02-01", "2025-11-01"):
        f.buy("L5", "TON", on)
    # Recurring: R1 starts on D, R2 ends on D; R3 only has a return; R4 starts D+1.
    f.buy("R1", "SUB", "2026-06-30", coverage=("2026-06-30", "2026-12-31"))
    f.buy("R2", "SVC", "2025-07-01", coverage=("2025-07-01", "2026-06-30"))
    f.buy("R3", "SVC", "2026-01-01", -1, coverage=("2026-01-01", "2026-12-31"))
    f.buy("R4", "SVC", "2026-06-01", coverage=("2026-07-01", "2027-06-30"))

    reply = ask_on("loyal", d)
    assert (reply["customers"], reply["loyal"], reply["recurring"]) == (8, 2, 2)
    assert [tuple(r.values()) for r in reply["breakdown"]["rows"]] == [
        ("business", 7, 1, 2),
        ("government", 1, 1, 0),
    ]
    assert ask_on("loyal toner", d)["loyal"] == 2
    assert ask_on("loyal printers", d)["recurring"] == 2  # for_category printers
    assert ask_on("loyal subscriptions", d)["recurring"] == 1


def _digest_world(f: Fixture) -> None:
    # D = 2026-03-10: the digest reports 2026-03-09 and compares with D-8 = 2026-03-02.
    _catalogue(f)
    for ref in ("N1", "N2", "N3", "N4", "S"):
        f.customer(ref)
    f.buy("N1", "PRN", "2026-03-09", 1, 400)  # first purchase ever: new customer
    f.install("N1", "PRN", "2026-03-09")
    f.buy("N2", "PRN", "2025-01-01")
    f.buy("N2", "PRN", "2026-03-09", 2, 300)
    f.buy("N2", "PRN", "2026-03-09", -1, 300, order_ref="RET-1")
    f.install("N2", "PRN", "2025-01-10", removed="2026-03-09")
    f.buy("N3", "PRN", "2024-05-01")
    f.install("N3", "PRN", "2024-05-05")
    f.buy("N4", "PRN", "2024-05-01")
    f.install("N4", "PRN", "2024-05-05", removed="2026-03-05")
    # Service lines and whether they end within [D, D+30] while covering D:
    f.buy("S", "SVC", "2025-03-10", coverage=("2025-03-10", "2026-03-10"))  # ends on D: yes
    f.buy("S", "SVC", "2025-04-09", coverage=("2025-04-09", "2026-04-09"))  # D+30: yes
    f.buy("S", "SVC", "2025-04-10", coverage=("2025-04-10", "2026-04-10"))  # D+31: no
    f.buy("S", "SUB", "2025-03-20", coverage=("2025-03-20", "2026-03-20"))  # subscription: no
    f.buy("S", "SVC", "2025-03-09", coverage=("2025-03-09", "2026-03-09"))  # ended D-1: no
    f.buy("S", "SVC", "2025-06-01", -1, coverage=("2025-06-01", "2026-03-15"))  # return: no


def test_digest_figures_for_the_day_before(session: Session, ask_on: Ask) -> None:
    _digest_world(Fixture(session))
    reply = ask_on("digest", date(2026, 3, 10))
    assert reply["day"] == "2026-03-09"
    assert reply["new_customers"] == 1  # N1
    assert reply["purchase_lines"] == 3  # N1, N2 and N2's return
    assert reply["revenue"] == 700.0  # 400 + 600 - 300
    assert (reply["units_installed"], reply["units_removed"]) == (1, 1)
    # At 03-09: N1, N3 (N2 removed that day). At 03-02: N2, N3, N4.
    assert reply["installed_base"] == {
        "customers": 2,
        "units": 2,
        "customers_change": -1,
        "units_change": -1,
    }
    assert reply["ending_service"] == 2
    assert list(reply["upsell"]) == ["service", "renewal", "install", "consumables", "aging"]
    # Units in use at D without a plan: N1 and N3 (S's plans cover no units).
    assert [c["customer_ref"] for c in reply["upsell"]["service"]] == ["N1", "N3"]
    # N2's second order (03-09) is younger than 14 days: no install gap anywhere.
    assert reply["upsell"]["install"] == []


def test_digest_new_customers_per_target(session: Session, ask_on: Ask) -> None:
    # New that day: first positive line of the target (the replica reads the state rows).
    f = Fixture(session)
    _catalogue(f)
    f.customer("A", region="EMEA")
    for ref in ("B", "C", "E", "F"):
        f.customer(ref)
    f.buy("A", "PRN", "2026-03-09")  # first purchase ever
    f.buy("B", "TON", "2025-12-01")
    f.buy("B", "PRN", "2026-03-09")  # new to printers only
    f.buy("C", "PRN", "2025-01-01")
    f.buy("C", "PRN", "2026-03-09")  # bought before
    f.buy("E", "PRN", "2026-03-09", -1)  # a return only
    f.buy("F", "TON", "2026-03-09")  # new, to toner
    d = date(2026, 3, 10)
    texts = ("digest", "digest printers", "digest toner", "digest in EMEA")
    got = {text: ask_on(text, d)["new_customers"] for text in texts}
    assert got == {"digest": 2, "digest printers": 2, "digest toner": 1, "digest in EMEA": 1}
    assert ask_on("digest", date(2026, 3, 11))["new_customers"] == 0


def test_digest_of_a_quiet_day(session: Session, ask_on: Ask) -> None:
    _digest_world(Fixture(session))
    reply = ask_on("digest", date(2026, 3, 20))
    assert (reply["new_customers"], reply["purchase_lines"], reply["revenue"]) == (0, 0, 0.0)
    assert (reply["units_installed"], reply["units_removed"]) == (0, 0)
    assert reply["installed_base"]["customers_change"] == 0


def test_aging_edge_on_29_february(session: Session, ask_on: Ask) -> None:
    f = Fixture(session)
    _catalogue(f)
    f.customer("A")
    f.buy("A", "PRN", "2023-01-01", 3)
    f.install("A", "PRN", "2023-02-28")  # D minus 5 years, 29 Feb → 28 Feb: aging
    f.install("A", "PRN", "2023-03-01")  # not yet
    f.install("A", "PRN", "2023-02-27", removed="2028-02-29")  # removed on D: not active
    reply = ask_on("upsell printers aging", date(2028, 2, 29))
    assert [(c["customer_ref"], c["score"]) for c in reply["candidates"]] == [("A", 1)]
    # 2028-02-28 → cutoff 2023-02-28: the 02-27 unit is still in use too (2 units).
    # 2028-03-01 → cutoff 2023-03-01: the 02-28 and 03-01 units (2 units).
    for day, units in ((date(2028, 2, 28), 2), (date(2028, 3, 1), 2)):
        later = ask_on("upsell printers aging", day)
        assert [(c["customer_ref"], c["score"]) for c in later["candidates"]] == [("A", units)]


def test_renewal_and_coverage_edges(session: Session, ask_on: Ask) -> None:
    d = date(2026, 6, 30)
    f = Fixture(session)
    _catalogue(f)
    for ref in ("E0", "E60", "E61", "LATER", "GONE"):
        f.customer(ref)
        f.buy(ref, "PRN", "2024-01-01")
        f.install(ref, "PRN", "2024-01-05")
    f.buy("E0", "SVC", "2025-06-30", coverage=("2025-07-01", "2026-06-30"))  # ends on D
    f.buy("E60", "SVC", "2025-08-29", coverage=("2025-08-30", "2026-08-29"))  # D+60
    f.buy("E61", "SVC", "2025-08-30", coverage=("2025-08-31", "2026-08-30"))  # D+61
    f.buy("LATER", "SVC", "2025-07-10", coverage=("2025-07-10", "2026-07-10"))
    f.buy("LATER", "SVC", "2026-06-01", coverage=("2026-07-11", "2027-07-10"))  # renewed
    f.buy("GONE", "SVC", "2024-01-01", coverage=("2024-01-01", "2026-06-29"))  # ended D-1
    reply = ask_on("upsell printers", d)
    renewal = [
        (c["customer_ref"], c["score"]) for c in reply["candidates"] if c["rule"] == "renewal"
    ]
    assert renewal == [("E0", 0), ("E60", 60)]
    service = [c["customer_ref"] for c in reply["candidates"] if c["rule"] == "service"]
    assert service == ["GONE"]  # E0's coverage ending on D still covers D


def test_ties_are_broken_by_customer_ref(session: Session, ask_on: Ask) -> None:
    d = date(2026, 6, 30)
    f = Fixture(session)
    _catalogue(f)
    for ref in ("Z9", "B2", "B1"):
        f.customer(ref)
        f.buy(ref, "PRN", "2026-01-01", 1, 500)
        f.install(ref, "PRN", "2026-01-02")
    assert [r["customer_ref"] for r in ask_on("top", d)["rows"]] == ["B1", "B2", "Z9"]
    # A tie across the last place: the lower refs get it.
    assert [r["customer_ref"] for r in ask_on("top 2", d)["rows"]] == ["B1", "B2"]
    f.customer("A0")
    f.buy("A0", "PRN", "2026-01-01", 1, 100)  # below the three: no tie at third place
    assert [r["customer_ref"] for r in ask_on("top 3", d)["rows"]] == ["B1", "B2", "Z9"]
    service = ask_on("upsell printers service", d)["candidates"]
    assert [c["customer_ref"] for c in service] == ["B1", "B2", "Z9"]


def test_concentration_rounds_the_top_fifth_up(session: Session, ask_on: Ask) -> None:
    d = date(2026, 6, 30)
    f = Fixture(session)
    _catalogue(f)
    for i, revenue in enumerate([100, 90, 5, 3, 1, 1, -50]):
        ref = f"C{i}"
        f.customer(ref)
        f.buy(ref, "TON", "2026-01-01", 1 if revenue > 0 else -1, abs(revenue))
    reply = ask_on("concentration", d)
    # Six paying customers → ceil(1.2) = 2 → (100 + 90) / 200 = 95.0% → tall.
    assert (reply["customers"], reply["revenue"], reply["top20_share"]) == (6, 200.0, 95.0)
    assert reply["hhi"] == 4534.0  # 50² + 45² + 2.5² + 1.5² + 0.5² + 0.5²
    assert reply["verdict"] == "tall"


def test_customer_lookup(session: Session, ask_on: Ask) -> None:
    d = date(2026, 6, 30)
    f = Fixture(session)
    _catalogue(f)
    f.customer("C001", "Acme Logistics", email="Buyer@Acme.test")
    f.customer("C002", "Acme Labs")
    f.customer("C003", "Big Acme Holdings")
    f.customer("C004", "Twin Co")
    f.customer("C005", "twin co")
    for i in range(12):
        f.buy("C001", "TON", f"2026-0{1 + i % 6}-{10 + i:02d}", 1, 10, order_ref=f"SO{i:02d}")
    f.buy("C001", "TON", "2026-07-01", order_ref="FUTURE")  # after D: not shown
    f.buy("C001", "SVC", "2025-07-01", coverage=("2025-07-01", "2026-06-30"))
    f.install("C001", "PRN", "2026-02-01", serial="S-ACTIVE")
    f.install("C001", "PRN", "2025-02-01", removed="2026-03-01", serial="S-GONE")
    f.install("C001", "PRN", "2026-07-01", serial="S-LATER")

    card = ask_on("customer buyer@acme.TEST", d)
    assert card["customer"]["customer_ref"] == "C001"
    assert [(i["serial"], i["active"]) for i in card["installations"]] == [
        ("S-ACTIVE", True),
        ("S-GONE", False),
    ]
    assert len(card["purchases"]) == 10
    dates = [p["purchased_on"] for p in card["purchases"]]
    assert dates == sorted(dates, reverse=True) and "FUTURE" not in {
        p["order_ref"] for p in card["purchases"]
    }
    assert card["coverage"] == [
        {
            "sku": "SVC",
            "for_category": "printers",
            "coverage_start": "2025-07-01",
            "coverage_end": "2026-06-30",
            "active": True,
        }
    ]
    assert card["revenue"] == 220.0  # 12 × 10 + the service line at 100
    assert ask_on("customer c002", d)["customer"]["name"] == "Acme Labs"
    many = ask_on("customer acme", d)
    assert "customer" not in many
    # Names starting with the text first (shorter first), then names containing it.
    assert [m["customer_ref"] for m in many["matches"]] == ["C002", "C001", "C003"]
    twins = ask_on("customer Twin Co", d)
    assert [m["customer_ref"] for m in twins["matches"]] == ["C004", "C005"]
    assert ask_on("customer nobody-like-this", d)["matches"] == []
    assert ask_on("customer 100%", d)["matches"] == []


def test_top_n_per_rule_is_the_head_of_the_full_list_even_with_ties(
    session: Session, ask_on: Ask
) -> None:
    # Seven customers, each with one active printer and one active copier, no plans: every
    # service candidate scores 1 in both categories; order is then ref, then category.
    d = date(2026, 6, 30)
    f = Fixture(session)
    _catalogue(f)
    f.product("COP", "copiers")
    for ref in ("K7", "K3", "K5", "K1", "K6", "K2", "K4"):
        f.customer(ref)
        for sku in ("PRN", "COP"):
            f.buy(ref, sku, "2026-01-01")
            f.install(ref, sku, "2026-01-02")
    full = ask_on("upsell service", d)["candidates"]
    assert [(c["customer_ref"], c["category"]) for c in full[:4]] == [
        ("K1", "copiers"),
        ("K1", "printers"),
        ("K2", "copiers"),
        ("K2", "printers"),
    ]
    for n in (1, 3, 5, 13):
        assert ask_on(f"upsell service top {n}", d)["candidates"] == full[:n]
    digest = ask_on("digest", d)["upsell"]
    assert digest["service"] == full[:5]


def test_install_and_removal_days_on_both_read_paths(session: Session, ask_on: Ask) -> None:
    # The replica reads these from state intervals [from_on, to_on): the edges must agree.
    f = Fixture(session)
    _catalogue(f)
    for ref in ("A", "B", "C", "D", "E"):
        f.customer(ref)
    f.buy("A", "PRN", "2026-05-01")
    f.install("A", "PRN", "2026-06-01", removed="2026-06-30")  # gone on D
    f.buy("B", "PRN", "2026-06-30")
    f.install("B", "PRN", "2026-06-30")  # in use from D
    f.buy("C", "PRN", "2026-06-01", 2)
    f.install("C", "PRN", "2026-06-10", removed="2026-06-10")  # never in use, but installed
    f.buy("D", "PRN", "2026-06-25")  # inside the install rule's 14 grace days
    f.buy("E", "PRN", "2026-05-01", 2)
    f.buy("E", "PRN", "2026-06-20", -1)  # a return after D-14
    d = date(2026, 6, 30)
    # (customers, installed customers, not installed units, removed units in 365 days)
    for day, expected in ((d, (5, 1, 3, 2)), (date(2026, 6, 29), (4, 1, 3, 1))):
        [row] = ask_on("compare printers", day)["rows"]
        got = (
            row["customers"],
            row["installed_customers"],
            row["not_installed_units"],
            row["removed_units"],
        )
        assert got == expected, day
    installed = ask_on("installed", d)
    assert (installed["customers"], installed["units"]) == (1, 1)
    scores = {
        rule: [
            (c["customer_ref"], c["score"])
            for c in ask_on(f"upsell printers {rule}", d)["candidates"]
        ]
        for rule in ("install", "service")
    }
    # install: E 2 bought by D-14 (the return came later), C 2 - 1 installed; D in grace.
    assert scores == {"install": [("E", 2), ("C", 1)], "service": [("B", 1)]}
    earlier = ask_on("upsell printers service", date(2026, 6, 29))["candidates"]
    assert [(c["customer_ref"], c["score"]) for c in earlier] == [("A", 1)]


def test_customer_base_window_edges_on_both_read_paths(session: Session, ask_on: Ask) -> None:
    # The replica reads revenue as the billed total at D less that at D-365 (state rows).
    f = Fixture(session)
    _catalogue(f)
    for ref, segment in (("A", "business"), ("B", "business"), ("C", "consumer")):
        f.customer(ref, segment=segment)
    for ref in ("D", "E", "F"):
        f.customer(ref, segment="government")
    f.buy("A", "PRN", "2025-06-30", price=100)  # on D-365: outside the window
    f.buy("B", "PRN", "2025-07-01", price=200)  # on D-364: inside
    f.buy("B", "TON", "2026-06-01", price=20)
    f.buy("C", "PRN", "2026-06-30", 2, price=50)  # on D
    f.buy("D", "PRN", "2025-01-01", price=300)
    f.buy("D", "PRN", "2026-03-01", -1, price=300)  # a return keeps D in the base
    f.buy("E", "PRN", "2026-01-01", -1, price=10)  # only a return: not in the base
    f.buy("F", "PRN", "2026-07-01", price=1000)  # after D
    d = date(2026, 6, 30)

    def rows(text: str, day: date) -> list[tuple[str, int, int, float]]:
        got = ask_on(text, day)
        total = ("total", got["customers"], got["active_customers"], got["revenue"])
        return [total] + [
            (r["key"], r["customers"], r["active_customers"], r["revenue"])
            for r in got["breakdown"]["rows"]
        ]

    assert rows("customers", d) == [
        ("total", 4, 2, 10.0),
        ("business", 2, 1, 220.0),
        ("consumer", 1, 1, 100.0),
        ("government", 1, 0, -310.0),
    ]
    assert rows("customers", date(2026, 6, 29)) == [
        ("total", 3, 2, 10.0),
        ("business", 2, 2, 320.0),
        ("government", 1, 0, -310.0),
    ]
    assert rows("customers printers by segment", d) == [
        ("total", 4, 2, -10.0),
        ("business", 2, 1, 200.0),
        ("consumer", 1, 1, 100.0),
        ("government", 1, 0, -310.0),
    ]
