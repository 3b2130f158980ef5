"""Claims on upsell candidates (SPEC §9), worked out by hand on the world of
tests/queries/world.py: acts and how long they hold, who may change them, `unclaimed`, the
candidates' `claim`, and two claims of one candidate at the same moment."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.__main__ import main
from bot.ask import ask_json, parse_command, run
from bot.home import _best
from bot.parsing import ParseError
from bot.settings import Settings
from queries.claims import in_force
from queries.db import make_sessionmaker
from queries.request import Me
from queries.upsell import UpsellList
from tests.committed import committed_database, sqlite_file
from tests.queries.world import D, build_world
from tests.replicas import replica_of

SETTINGS = Settings(home_country="US")
T0 = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
ANN, BOB, BOSS = Me(user_id="U0ANN"), Me(user_id="U0BOB"), Me(user_id="U0BOSS")
# At D, printers service candidates: A (1 unit in use, no plan) and C (2 units; its plan ended
# the day before). B's plan covers D.
SERVICE = "upsell printers service"


def act(
    session: Session, text: str, me: Me, *, at: datetime = T0, override: bool = False
) -> dict[str, Any]:
    request = parse_command(session, text, as_of=D, settings=SETTINGS, me=me)
    request = replace(request, at=at, may_override=override)
    return run(session, request, SETTINGS).to_json()


def held(reply: dict[str, Any]) -> tuple[str, str | None, str | None, str]:
    return reply["status"], reply["user"], reply["until"], reply["outcome"]


@pytest.fixture()
def world(session: Session) -> Session:
    build_world(session)
    return session


def test_a_claim_holds_thirty_days_and_only_its_holder_changes_it(world: Session) -> None:
    assert held(act(world, "claim A printers service", ANN)) == (
        "claimed",
        "U0ANN",
        "2026-07-30",
        "done",
    )
    # Someone else is told who holds it, and nothing changes.
    assert held(act(world, "claim A printers service", BOB)) == (
        "claimed",
        "U0ANN",
        "2026-07-30",
        "held",
    )
    assert held(act(world, "unclaim A printers service", BOB)) == (
        "claimed",
        "U0ANN",
        "2026-07-30",
        "held",
    )
    # The holder moves it on: contacted holds 30 days from that act, dismissed 90.
    later = T0 + timedelta(days=5)
    assert held(act(world, "claim A printers service contacted", ANN, at=later)) == (
        "contacted",
        "U0ANN",
        "2026-08-04",
        "done",
    )
    assert held(act(world, "claim A printers service dismissed", ANN, at=later)) == (
        "dismissed",
        "U0ANN",
        "2026-10-03",
        "done",
    )


def test_a_lapsed_claim_is_anyones_and_an_admin_may_unclaim(world: Session) -> None:
    act(world, "claim A printers service", ANN)
    lapsed = T0 + timedelta(days=30)  # until is T0 + 30 days: no longer in force
    assert act(world, "claim A printers service", BOB, at=lapsed)["outcome"] == "done"
    assert held(act(world, "unclaim A printers service", BOSS, override=True)) == (
        "unclaimed",
        None,
        None,
        "released",
    )
    assert act(world, "unclaim A printers service", ANN)["outcome"] == "none"
    assert act(world, "claim Nobody printers service", ANN)["outcome"] == "unknown"


def test_candidates_carry_their_claim_and_unclaimed_leaves_others_out(world: Session) -> None:
    now = datetime.now(UTC)
    act(world, "claim A printers service", ANN, at=now)
    act(world, "claim C printers service dismissed", BOB, at=now)
    every = ask_json(world, SERVICE, as_of=D, settings=SETTINGS, me=ANN)["candidates"]
    assert [(c["customer_ref"], c["claim"]) for c in every] == [
        ("C", {"status": "dismissed", "user": "U0BOB", "until": _day(now, 90)}),
        ("A", {"status": "claimed", "user": "U0ANN", "until": _day(now, 30)}),
    ]
    # Claims never change scores or order; `unclaimed` only leaves candidates out.
    for me, kept in ((ANN, ["A"]), (BOB, []), (BOSS, [])):
        reply = ask_json(world, f"{SERVICE} unclaimed", as_of=D, settings=SETTINGS, me=me)
        assert [c["customer_ref"] for c in reply["candidates"]] == kept
        assert [c for c in every if c["customer_ref"] in kept] == reply["candidates"]


def test_unclaimed_on_a_replica_with_the_claims_read_from_the_database(
    world: Session, tmp_path: Path
) -> None:
    act(world, "claim A printers service", ANN, at=datetime.now(UTC))
    world.flush()
    holds = in_force(world, datetime.now(UTC))
    with replica_of(world.connection(), tmp_path) as replica:
        request = parse_command(replica, f"{SERVICE} unclaimed", as_of=D, settings=SETTINGS, me=BOB)
        reply = run(replica, replace(request, holds=holds, listing=20), SETTINGS).to_json()
    assert [c["customer_ref"] for c in reply["candidates"]] == ["C"]


def test_an_act_must_name_a_candidate_and_who_acts(world: Session) -> None:
    for text, says in (
        ("claim A printers", "Say which candidate"),
        ("claim A printers servic", "is not an upsell rule"),
        ("claim A toasters service", "is not a product category"),
    ):
        with pytest.raises(ParseError) as caught:
            act(world, text, ANN)
        assert says in caught.value.message
    with pytest.raises(ParseError) as caught:
        ask_json(world, "claim A printers service", as_of=D, settings=SETTINGS)
    assert "--user" in caught.value.message


def test_the_cli_claims_for_the_user_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_file(tmp_path / "claims.db", build_world))
    monkeypatch.chdir(tmp_path)
    assert main(["ask", "claim A printers service", "--user", "ann@acme.example", "--json"]) == 0
    assert '"outcome": "done"' in capsys.readouterr().out
    assert main(["ask", "claim A printers service", "--user", "U0BOB"]) == 0
    assert "ann@acme.example" in capsys.readouterr().out
    assert main(["ask", f"{SERVICE} as of {D}", "--json"]) == 0
    assert '"user": "ann@acme.example"' in capsys.readouterr().out


def test_two_claims_at_the_same_moment_one_wins(engine: Engine, tmp_path: Path) -> None:
    with committed_database(engine, tmp_path, "claims", build_world) as db:
        sessions = make_sessionmaker(db)
        start = threading.Barrier(8)
        outcomes: list[tuple[str, str]] = []

        def claim(user: str) -> None:
            start.wait()
            with sessions() as session, session.begin():
                reply = act(session, "claim A printers service", Me(user_id=user))
            outcomes.append((reply["outcome"], reply["user"]))

        threads = [threading.Thread(target=claim, args=(f"U0REP{n}",)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [user for outcome, user in outcomes if outcome == "done"]
        assert len(outcomes) == 8 and len(winners) == 1
        assert all(user == winners[0] for _outcome, user in outcomes)  # the others were told


def _day(at: datetime, days: int) -> str:
    return (at + timedelta(days=days)).date().isoformat()


def test_the_homes_best_are_upsell_unclaimed_top_5(world: Session) -> None:
    now = datetime.now(UTC)
    act(world, "claim A printers service", BOB, at=now)  # someone else's: left out
    act(world, "claim C printers service", ANN, at=now)  # Ann's own: kept
    act(world, "claim B printers renewal dismissed", ANN, at=now)  # dismissed: left out
    held = in_force(world, now)

    def answer(text: str) -> UpsellList:
        request = parse_command(world, text, as_of=D, settings=SETTINGS, me=ANN)
        found = run(world, replace(request, holds=held), SETTINGS)
        assert isinstance(found, UpsellList)
        return found

    expected = answer("upsell unclaimed top 5")
    assert _best(answer("upsell"), held, {"u0ann"}).candidates == expected.candidates
    assert any(c.claim for c in expected.candidates)
