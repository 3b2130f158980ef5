"""Account owners (SPEC §9): `mine`, `by owner` and `in owner:…`, worked out by hand on the
world of tests/queries/world.py, on the database and on a replica."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.__main__ import main
from bot.ask import ask_json
from bot.parsing import ParseError
from bot.settings import Settings
from queries.models import Customer
from queries.request import Me
from tests.committed import sqlite_file
from tests.queries.conftest import Ask
from tests.queries.world import D, build_world

SETTINGS = Settings(home_country="US")
# At D the installed base is A (1 unit), B (1), C (2) and E (1); B and G bought, F bought.
OWNERS = {
    "A": "ann@acme.example",
    "B": "U0BOB",
    "C": "ANN@Acme.Example",  # the same person, spelled otherwise: `mine` finds it
    "F": "cara@acme.example",
    "G": "U0BOB",
}


def own(session: Session) -> None:
    build_world(session)
    for ref, owner in OWNERS.items():
        session.execute(update(Customer).where(Customer.customer_ref == ref).values(owner=owner))
    session.flush()


@pytest.fixture()
def owned(session: Session) -> Session:
    own(session)
    return session


def test_mine_by_email_is_case_insensitive(owned: Session, ask_on: Ask) -> None:
    ann = Me(email="Ann@acme.example")
    reply = ask_json(owned, "installed mine", as_of=D, settings=SETTINGS, me=ann)
    assert (reply["customers"], reply["units"]) == (2, 3)
    assert reply["filters"] == ["mine"]
    assert ask_on("installed in owner:ann@acme.example", D)["units"] == 3


def test_mine_by_slack_user_id_and_email_together(owned: Session) -> None:
    bob = Me(user_id="U0BOB", email="bob@acme.example")
    reply = ask_json(owned, "customers mine", as_of=D, settings=SETTINGS, me=bob)
    assert (reply["customers"], reply["active_customers"]) == (2, 2)  # B and G
    reply = ask_json(owned, "installed mine", as_of=D, settings=SETTINGS, me=bob)
    assert (reply["customers"], reply["units"]) == (1, 1)


def test_by_owner_on_both_read_paths(owned: Session, ask_on: Ask) -> None:
    rows = ask_on("installed by owner", D)["breakdown"]["rows"]
    assert rows == [
        {"key": "(unknown)", "customers": 1, "units": 1},
        {"key": "ANN@Acme.Example", "customers": 1, "units": 2},
        {"key": "U0BOB", "customers": 1, "units": 1},
        {"key": "ann@acme.example", "customers": 1, "units": 1},
    ]
    rows = ask_on("customers by owner", D)["breakdown"]["rows"]
    assert {r["key"]: r["customers"] for r in rows} == {
        "U0BOB": 2,  # P, a prospect, and E, who never bought, are not in the customer base
        "ANN@Acme.Example": 1,
        "ann@acme.example": 1,
        "cara@acme.example": 1,
    }


def test_mine_with_a_target_and_in(owned: Session, ask_on: Ask) -> None:
    ann = Me(email="ann@acme.example")
    reply = ask_json(owned, "installed printers mine in AMER", as_of=D, settings=SETTINGS, me=ann)
    assert (reply["customers"], reply["units"]) == (1, 1)  # A; C's region is unknown
    assert ask_on("upsell printers in owner:U0BOB", D)["candidates"] == [
        c for c in ask_on("upsell printers", D)["candidates"] if c["customer_ref"] in ("B", "G")
    ]


def test_mine_needs_to_know_who_asks(owned: Session) -> None:
    with pytest.raises(ParseError) as caught:
        ask_json(owned, "installed mine", as_of=D, settings=SETTINGS)
    assert "--user" in caught.value.message
    with pytest.raises(ParseError) as caught:
        ask_json(owned, "health mine", as_of=D, settings=SETTINGS, me=Me(user_id="U0BOB"))
    assert "takes no “in” or “mine”" in caught.value.message


def test_cli_user(world_db_owned: str, capsys: pytest.CaptureFixture[str]) -> None:
    as_of = ["--as-of", D.isoformat(), "--json"]
    assert main(["ask", "installed mine", *as_of, "--user", "ann@acme.example"]) == 0
    assert '"units": 3' in capsys.readouterr().out
    assert main(["ask", "installed mine", *as_of, "--user", "U0BOB"]) == 0
    assert '"units": 1' in capsys.readouterr().out
    assert main(["ask", "installed mine", *as_of]) == 2
    assert "--user" in capsys.readouterr().err
    assert main(["ask", "installed mine", "--as-of", D.isoformat(), "--user", "U0BOB"]) == 0
    assert "No email is known for you" in capsys.readouterr().out


@pytest.fixture()
def world_db_owned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = sqlite_file(tmp_path / "owned.db", own)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url
