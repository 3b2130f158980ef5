"""`upsell … since <date>` (SPEC §10): the candidates new since a day, and how many dropped out,
worked out by hand on both read paths.

D = 2026-06-30, S = 2026-05-31. Derived days: D-14 = 06-16 and S-14 = 05-17 (install grace);
consumables windows (04-01, 06-30] and (03-02, 05-31]; D+60 = 08-29 and S+60 = 07-30 (renewal);
five years back: 2021-06-30 and 2021-05-31 (aging).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.ask import parse_command, run
from bot.render.text import render_text
from bot.settings import Settings
from queries.claims import in_force
from queries.request import Me
from queries.upsell import UpsellList
from tests.builders import Fixture
from tests.replicas import READS, replica_of

SETTINGS = Settings(home_country="US")
D = date(2026, 6, 30)
S = "2026-05-31"
ANN = Me(user_id="U0ANN", email="ann@acme.example")
BOB = Me(user_id="U0BOB")
T0 = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)

Answer = Callable[..., UpsellList]


def _world(f: Fixture) -> None:
    f.product("PRN", "printers")
    f.product("PRN2", "printers")
    f.product("SVC", "printers care", "service", for_category="printers")
    f.product("TON", "toner", "consumable", for_category="printers")
    f.product("COP", "copiers")
    for ref in (
        "BOTH",
        "COVSTART",
        "COVEND",
        "RETURN",
        "LATERET",
        "RENEW",
        "RENEW61",
        "GRACE",
        "GRACE13",
        "AGE",
        "AGE1",
        "FED",
    ):
        f.customer(ref, owner="ann@acme.example" if ref in ("COVEND", "COVSTART") else None)
    for ref in ("NEWUNIT", "REMOVED"):
        f.customer(ref, region="EMEA")

    def unit(ref: str, bought: str, installed: str, *, sku: str = "PRN", fed: bool = True) -> None:
        f.buy(ref, sku, bought)
        f.install(ref, sku, installed)
        if fed:
            f.buy(ref, "TON", "2026-05-20")  # inside both consumables windows

    # A service candidate at S and at D: not new. It also gets its first copier at D's side
    # of S, so it is new in copiers (service, and consumables: copiers have none).
    unit("BOTH", "2025-01-01", "2025-01-05")
    f.buy("BOTH", "COP", "2026-06-01")
    f.install("BOTH", "COP", "2026-06-05")
    # A unit installed between the two days (toner at D too): new for service.
    unit("NEWUNIT", "2026-06-01", "2026-06-10", sku="PRN2", fed=False)
    f.buy("NEWUNIT", "TON", "2026-06-10")
    # A removal between the days: dropped from service and consumables (no toner ever).
    f.buy("REMOVED", "PRN2", "2025-01-01")
    f.install("REMOVED", "PRN2", "2025-01-05", removed="2026-06-15")
    # Coverage starting between the days: dropped from service.
    unit("COVSTART", "2025-01-01", "2025-01-05")
    f.buy("COVSTART", "SVC", "2026-06-01", coverage=("2026-06-01", "2027-05-31"))
    # Coverage ending between the days: new for service; a renewal at S (ends S+15) dropped.
    unit("COVEND", "2025-01-01", "2025-01-05")
    f.buy("COVEND", "SVC", "2025-06-01", coverage=("2025-06-01", "2026-06-15"))
    # Two bought, one installed: an install gap at S; a return before D-14 closes it at D.
    unit("RETURN", "2026-01-10", "2026-01-20")
    f.buy("RETURN", "PRN", "2026-01-10")
    f.buy("RETURN", "PRN", "2026-06-05", -1)
    # The same, with the return after D-14: still a gap at D, so not new.
    unit("LATERET", "2026-01-10", "2026-01-20")
    f.buy("LATERET", "PRN", "2026-01-10")
    f.buy("LATERET", "PRN", "2026-06-20", -1)
    # Plans ending on D+60 (a renewal at D, beyond S+60: new) and on D+61 (none).
    unit("RENEW", "2025-01-01", "2025-01-05")
    f.buy("RENEW", "SVC", "2025-08-30", coverage=("2025-08-30", "2026-08-29"))
    unit("RENEW61", "2025-01-01", "2025-01-05")
    f.buy("RENEW61", "SVC", "2025-08-31", coverage=("2025-08-31", "2026-08-30"))
    # Bought on D-14 (an install gap at D, nothing bought at S: new) and on D-13 (none).
    f.buy("GRACE", "PRN", "2026-06-16")
    f.buy("GRACE13", "PRN", "2026-06-17")
    # Installed exactly five years before D (aging at D, not at S: new), and a day later.
    unit("AGE", "2021-06-01", "2021-06-30")
    unit("AGE1", "2021-06-01", "2021-07-01")
    # Toner only on 03-15: inside S's consumables window, not D's: new for consumables.
    unit("FED", "2025-01-01", "2025-01-05", fed=False)
    f.buy("FED", "TON", "2026-03-15")


# Worked out from the rows above, per rule: (new at D since S, dropped since S).
PRINTERS = {
    "service": (["COVEND", "NEWUNIT"], ["REMOVED", "COVSTART"]),
    "renewal": (["RENEW"], ["COVEND"]),
    "install": (["GRACE"], ["RETURN"]),
    "consumables": (["FED"], ["REMOVED"]),
    "aging": (["AGE"], []),
}
# The lists as they stand at each day, which the new and dropped ones are the difference of.
AT_S = {
    "service": ["AGE", "AGE1", "BOTH", "COVSTART", "FED", "LATERET", "REMOVED", "RETURN"],
    "renewal": ["COVEND"],
    "install": ["LATERET", "RETURN"],
    "consumables": ["REMOVED"],
    "aging": [],
}
AT_D = {
    "service": ["AGE", "AGE1", "BOTH", "COVEND", "FED", "LATERET", "NEWUNIT", "RETURN"],
    "renewal": ["RENEW"],
    "install": ["GRACE", "LATERET"],
    "consumables": ["FED"],
    "aging": ["AGE"],
}


@pytest.fixture(params=READS)
def answer(request: pytest.FixtureRequest, session: Session, tmp_path: Path) -> Answer:
    """An upsell answer read from the database itself or from a replica of its rows; the
    claims in force come from the database either way, as the Slack front end reads them."""
    _world(Fixture(session))

    def ask(text: str, *, me: Me | None = None, listing: int | None = None) -> UpsellList:
        holds = in_force(session, T0)

        def on(reads: Session) -> UpsellList:
            asked = parse_command(reads, text, as_of=D, settings=SETTINGS, me=me)
            found = run(reads, replace(asked, holds=holds, listing=listing), SETTINGS)
            assert isinstance(found, UpsellList)
            return found

        if request.param == "database":
            return on(session)
        session.flush()
        with replica_of(session.connection(), tmp_path) as replica:
            return on(replica)

    return ask


def refs(found: UpsellList | dict[str, Any], rule: str | None = None) -> list[str]:
    reply = found.to_json() if isinstance(found, UpsellList) else found
    return [c["customer_ref"] for c in reply["candidates"] if rule in (None, c["rule"])]


def test_the_two_days_as_worked_out(answer: Answer) -> None:
    for text, expected in (("upsell printers as of " + S, AT_S), ("upsell printers", AT_D)):
        found = answer(text)
        assert {rule: sorted(refs(found, rule)) for rule in expected} == expected, text
        assert "since" not in found.to_json() and "dropped" not in found.to_json()


def test_new_since_and_dropped_for_every_rule(answer: Answer) -> None:
    found = answer(f"upsell printers since {S}")
    reply = found.to_json()
    assert (reply["as_of"], reply["since"]) == (D.isoformat(), S)
    # Best first within each rule: COVEND and NEWUNIT tie on one unit, then by ref.
    assert refs(reply) == [ref for new, _gone in PRINTERS.values() for ref in new]
    assert found.dropped == {rule: len(gone) for rule, (_new, gone) in PRINTERS.items()}
    assert reply["dropped"] == 5
    # Scores are those of D, as without `since`.
    assert [c["score"] for c in reply["candidates"]] == [1, 1, 60, 1, 1, 1]
    for rule, (new, gone) in PRINTERS.items():
        one = answer(f"upsell printers {rule} since {S}")
        assert (refs(one), one.to_json()["dropped"]) == (new, len(gone)), rule
        # The same sets as the difference of the two days' own lists.
        assert sorted(new) == sorted(set(AT_D[rule]) - set(AT_S[rule])), rule
        assert sorted(gone) == sorted(set(AT_S[rule]) - set(AT_D[rule])), rule


def test_new_in_one_category_while_a_candidate_in_another(answer: Answer) -> None:
    # BOTH is a printers service candidate on both days, and a copiers one only at D.
    reply = answer(f"upsell service since {S}").to_json()
    assert [(c["customer_ref"], c["category"]) for c in reply["candidates"]] == [
        ("BOTH", "copiers"),
        ("COVEND", "printers"),
        ("NEWUNIT", "printers"),
    ]
    assert reply["dropped"] == 2
    every = answer(f"upsell since {S}").to_json()
    assert [
        (c["rule"], c["customer_ref"]) for c in every["candidates"] if c["category"] == "copiers"
    ] == [
        ("service", "BOTH"),
        ("consumables", "BOTH"),
    ]
    assert every["dropped"] == 5


def test_a_product_target_counts_only_that_products_units(answer: Answer) -> None:
    # NEWUNIT's and REMOVED's units are PRN2; COVEND's and COVSTART's are PRN.
    for text, new, dropped in (
        (f"upsell PRN2 service since {S}", ["NEWUNIT"], 1),
        (f"upsell PRN service since {S}", ["COVEND"], 1),
    ):
        reply = answer(text).to_json()
        assert (refs(reply), reply["dropped"]) == (new, dropped), text


def test_in_mine_and_top(answer: Answer) -> None:
    emea = answer(f"upsell printers service in EMEA since {S}").to_json()
    assert (refs(emea), emea["dropped"]) == (["NEWUNIT"], 1)  # REMOVED dropped
    mine = answer(f"upsell printers service mine since {S}", me=ANN).to_json()
    assert (refs(mine), mine["dropped"]) == (["COVEND"], 1)  # COVSTART dropped
    # `top` shortens the list, not what dropped out.
    head = answer(f"upsell printers service top 1 since {S}").to_json()
    assert (refs(head), head["dropped"]) == (["COVEND"], 2)


def test_unclaimed_leaves_out_new_candidates_others_hold_and_drops_nothing(
    session: Session, answer: Answer
) -> None:
    # Bob holds COVEND (new at D) and BOTH (a candidate on both days).
    for ref in ("COVEND", "BOTH"):
        request = parse_command(
            session, f"claim {ref} printers service", as_of=D, settings=SETTINGS, me=BOB
        )
        assert run(session, replace(request, at=T0), SETTINGS).to_json()["outcome"] == "done"
    text = f"upsell printers service unclaimed since {S}"
    ann, bob = answer(text, me=ANN).to_json(), answer(text, me=BOB).to_json()
    assert (refs(ann), ann["dropped"]) == (["NEWUNIT"], 2)
    assert (refs(bob), bob["dropped"]) == (["COVEND", "NEWUNIT"], 2)
    assert bob["candidates"][0]["claim"]["user"] == "U0BOB"


def test_a_slack_page_counts_every_new_candidate(answer: Answer) -> None:
    whole = answer(f"upsell printers since {S}")
    page = answer(f"upsell printers since {S}", listing=3)
    assert page.rule_counts() == {rule: len(new) for rule, (new, _gone) in PRINTERS.items()}
    assert page.total == whole.total == 6
    assert page.candidates == whole.candidates[:3]
    assert page.dropped == whole.dropped


def test_said_as_new_since_the_day(answer: Answer) -> None:
    text = render_text(answer(f"upsell printers since {S}"))
    assert text.startswith("New upsell candidates since May 31, 2026 · printers · as of Jun 30")
    assert "6 new candidates since May 31, 2026" in text
    assert "5 candidates of May 31, 2026 have dropped out." in text
    plain = render_text(answer("upsell printers"))
    assert plain.startswith("Upsell candidates · printers") and "dropped out" not in plain
