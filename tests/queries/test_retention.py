"""`retention`: hand-worked boundary cases, and an independent pandas oracle on random data,
each asked of the database itself and of a read replica of the same rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from bot.ask import ask, ask_json
from bot.parsing import ParseError
from bot.render.blocks import csv_file, render_answer
from bot.render.text import render_text
from bot.settings import Settings
from tests import randomdata
from tests.builders import Fixture
from tests.oracle import Frames, customer_ids, dim_key, in_target, load_frames
from tests.queries.conftest import Ask
from tests.replicas import replica_of

SETTINGS = Settings(home_country="US")
D = date(2026, 6, 30)  # D-365 = 2025-06-30


# --------------------------------------------------------------------------- hand-worked


def _world(f: Fixture) -> None:
    """Who is in the installed base at D-365 (2025-06-30) and at D (2026-06-30)."""
    f.product("PRN", "printers")
    f.product("PR2", "printers")
    f.product("COP", "copiers")
    for ref, segment, region in (
        ("A", "business", "AMER"),
        ("B", "business", "EMEA"),
        ("C", "business", "AMER"),
        ("E", "consumer", "AMER"),
        ("F", "consumer", "EMEA"),
        ("G", "government", "EMEA"),
        ("H", "government", "AMER"),
        ("K", "nonprofit", "APAC"),
        ("M", None, None),
        ("N", "business", "LATAM"),
        ("P", "consumer", "AMER"),
    ):
        f.customer(ref, segment=segment, region=region)
    # A: removed exactly on D-365 (not in use then); a new unit in use at D → won.
    f.install("A", "PRN", "2024-01-01", removed="2025-06-30")
    f.install("A", "PRN", "2026-01-01")
    # B: removed on D (not in use at D) → lost.
    f.install("B", "PRN", "2024-01-01", removed="2026-06-30")
    # C: installed on D-365 (in use then) → retained.
    f.install("C", "PRN", "2025-06-30")
    # E: installed on D → won.
    f.install("E", "PRN", "2026-06-30")
    # F: its only unit removed in the window, another (another printer) installed later →
    # retained; by product: lost for PRN, won for PR2.
    f.install("F", "PRN", "2024-01-01", removed="2025-12-01")
    f.install("F", "PR2", "2026-03-01")
    # G: every unit removed in the window (a printer and a copier) → lost.
    f.install("G", "PRN", "2023-01-01", removed="2025-09-01")
    f.install("G", "COP", "2024-05-01", removed="2026-01-15")
    # H: a new customer → won (copiers only).
    f.install("H", "COP", "2026-02-01")
    # K: only a copier → retained, and not in the printers' base at all.
    f.install("K", "COP", "2020-01-01")
    # M: no segment, no region → retained under (unknown).
    f.install("M", "PRN", "2025-01-01")
    # N: installed and removed between the two dates → in neither base (nor a LATAM row).
    f.install("N", "PRN", "2025-07-01", removed="2026-06-01")
    # P: removed the day after D-365 (in use then); a unit installed after D → lost.
    f.install("P", "PRN", "2025-06-29", removed="2025-07-01")
    f.install("P", "PRN", "2026-07-01")


Row = tuple[str, int, int, int, int, float | None]


def _row(key: str, base: int, retained: int, lost: int, won: int, rate: float | None) -> Row:
    return (key, base, retained, lost, won, rate)


def _reply(
    as_of: date,
    total: Row,
    by: str,
    rows: Sequence[Row],
    *,
    target: str | None = None,
    filters: Sequence[str] = (),
) -> dict[str, Any]:
    """The full JSON a hand-worked answer must be."""
    fields = ("key", "base_at_start", "retained", "lost", "won", "retention_rate")
    return {
        "kind": "retention",
        "as_of": as_of.isoformat(),
        "target": target,
        "filters": list(filters),
        "start": (as_of - timedelta(days=365)).isoformat(),
        **dict(zip(fields[1:], total[1:], strict=True)),
        "breakdown": {"by": by, "rows": [dict(zip(fields, r, strict=True)) for r in rows]},
    }


def test_boundaries_by_segment(session: Session, ask_on: Ask) -> None:
    _world(Fixture(session))
    # At D-365: B, C, F, G, K, M, P. At D: A, C, E, F, H, K, M.
    assert ask_on("retention", D) == _reply(
        D,
        _row("", 7, 4, 3, 3, 57.1),
        "segment",
        [
            # Ties on base_at_start: by key, and "(unknown)" sorts before letters.
            _row("business", 2, 1, 1, 1, 50.0),  # B lost, C retained, A won; N in neither
            _row("consumer", 2, 1, 1, 1, 50.0),  # P lost, F retained, E won
            _row("(unknown)", 1, 1, 0, 0, 100.0),  # M
            _row("government", 1, 0, 1, 1, 0.0),  # G lost, H won
            _row("nonprofit", 1, 1, 0, 0, 100.0),  # K
        ],
    )


def test_target_category_leaves_out_units_of_other_categories(
    session: Session, ask_on: Ask
) -> None:
    _world(Fixture(session))
    # Printers at D-365: B, C, F, G, M, P; at D: A, C, E, F, M. H and K have only copiers.
    assert ask_on("retention printers", D) == _reply(
        D,
        _row("", 6, 3, 3, 2, 50.0),
        "segment",
        [
            _row("business", 2, 1, 1, 1, 50.0),
            _row("consumer", 2, 1, 1, 1, 50.0),
            _row("(unknown)", 1, 1, 0, 0, 100.0),
            _row("government", 1, 0, 1, 0, 0.0),
        ],
        target="printers",
    )
    # One product: F's PRN was removed, its PR2 is new.
    assert ask_on("retention PR2", D) == _reply(
        D,
        _row("", 0, 0, 0, 1, None),
        "segment",
        [_row("consumer", 0, 0, 0, 1, None)],
        target="PR2",
    )


def test_by_region_and_in_filters(session: Session, ask_on: Ask) -> None:
    _world(Fixture(session))
    assert ask_on("retention by region", D) == _reply(
        D,
        _row("", 7, 4, 3, 3, 57.1),
        "region",
        [
            _row("EMEA", 3, 1, 2, 0, 33.3),  # B, G lost; F retained
            _row("AMER", 2, 1, 1, 3, 50.0),  # C retained, P lost; A, E, H won
            _row("(unknown)", 1, 1, 0, 0, 100.0),  # M
            _row("APAC", 1, 1, 0, 0, 100.0),  # K
        ],
    )
    assert ask_on("retention in EMEA", D) == _reply(
        D,
        _row("", 3, 1, 2, 0, 33.3),
        "segment",
        [
            _row("business", 1, 0, 1, 0, 0.0),
            _row("consumer", 1, 1, 0, 0, 100.0),
            _row("government", 1, 0, 1, 0, 0.0),
        ],
        filters=["EMEA"],
    )
    # Two filters and a target: government copiers are G (lost) and H (won).
    reply = ask_on("retention copiers in government in emea by channel", D)
    assert (reply["base_at_start"], reply["retained"], reply["lost"], reply["won"]) == (1, 0, 1, 0)
    assert reply["breakdown"]["rows"] == [
        {
            "key": "direct",
            "base_at_start": 1,
            "retained": 0,
            "lost": 1,
            "won": 0,
            "retention_rate": 0.0,
        }
    ]


def test_by_category_and_product_each_row_is_that_bases_retention(
    session: Session, ask_on: Ask
) -> None:
    _world(Fixture(session))
    # G is lost in both categories but counted once in the totals.
    assert ask_on("retention by category", D) == _reply(
        D,
        _row("", 7, 4, 3, 3, 57.1),
        "category",
        [
            _row("printers", 6, 3, 3, 2, 50.0),  # = retention printers
            _row("copiers", 2, 1, 1, 1, 50.0),  # G lost, K retained, H won
        ],
    )
    # F moved from PRN to PR2: lost by one product, won by the other, retained in printers.
    assert ask_on("retention printers by product", D) == _reply(
        D,
        _row("", 6, 3, 3, 2, 50.0),
        "product",
        [
            _row("PRN", 6, 2, 4, 2, 33.3),  # C, M retained; B, F, G, P lost; A, E won
            _row("PR2", 0, 0, 0, 1, None),
        ],
        target="printers",
    )


def test_empty_base_has_no_rate(session: Session, ask_on: Ask) -> None:
    _world(Fixture(session))
    # At 2020-01-01 only K's copier (installed that day) is in use; nothing at 2019-01-01.
    assert ask_on("retention", date(2020, 1, 1)) == _reply(
        date(2020, 1, 1),
        _row("", 0, 0, 0, 1, None),
        "segment",
        [_row("nonprofit", 0, 0, 0, 1, None)],
    )
    assert ask_on("retention by region", date(2019, 1, 1)) == _reply(
        date(2019, 1, 1),
        _row("", 0, 0, 0, 0, None),
        "region",
        [],
    )


def test_a_time_breakdown_is_refused(session: Session) -> None:
    with pytest.raises(ParseError):
        ask_json(session, "retention by year", as_of=D, settings=SETTINGS)


def test_the_view_reads_well_and_carries_the_figures(session: Session) -> None:
    _world(Fixture(session))
    answer = ask(session, "retention printers by region", as_of=D, settings=SETTINGS)
    text = render_text(answer)
    lines = text.splitlines()
    assert lines[0] == "Installed-base retention · printers · as of Jun 30, 2026"
    assert lines[2] == "3 of 6 installed-base customers retained over 365 days (50.0%)"
    assert "  installed base on Jun 30, 2025: 6" in lines
    assert "  retention rate: 50.0%" in lines
    assert any(line.split() == ["EMEA", "3", "1", "2", "0", "33.3%"] for line in lines)
    assert render_answer(answer).blocks
    name, body = csv_file(answer)
    assert name == "basebot-retention-printers-2026-06-30.csv"
    assert body.splitlines()[:2] == [
        "key,base_at_start,retained,lost,won,retention_rate",
        "EMEA,3,1,2,0,33.3",
    ]
    nobody = render_text(ask(session, "retention", as_of=date(2020, 1, 1), settings=SETTINGS))
    assert "No installed base on Jan 1, 2019; 1 customer won since" in nobody
    empty = render_text(ask(session, "retention", as_of=date(2019, 1, 1), settings=SETTINGS))
    assert "No installed base on either date." in empty


# --------------------------------------------------------------------------- the oracle

SEEDS = range(8)
ORACLE_COMMANDS: tuple[tuple[str, str | None, tuple[str, ...], str], ...] = (
    # command, target, `in` filters, by
    ("retention", None, (), "segment"),
    ("retention printers", "printers", (), "segment"),
    ("retention by region", None, (), "region"),
    ("retention copiers in EMEA", "copiers", ("EMEA",), "segment"),
    ("retention PR-100 by channel", "PR-100", (), "channel"),
    ("retention in government by industry", None, ("government",), "industry"),
    ("retention in international by country", None, ("international",), "country"),
    (
        "retention printers in amer in industry:retail",
        "printers",
        ("AMER", "industry:retail"),
        "segment",
    ),
    ("retention by category", None, (), "category"),
    ("retention printers by product in domestic", "printers", ("domestic",), "product"),
)


def _in_use(units: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    return (units["installed_on"] <= day) & (
        units["removed_on"].isna() | (units["removed_on"] > day)
    )


def _counts(then: set[Any], now: set[Any]) -> dict[str, Any]:
    kept = len(then & now)
    rate = pytest.approx(100 * kept / len(then), abs=0.05) if then else None
    return {
        "base_at_start": len(then),
        "retained": kept,
        "lost": len(then - now),
        "won": len(now - then),
        "retention_rate": rate,
    }


def oracle_retention(
    fr: Frames, as_of: date, target: str | None, filters: Sequence[str], by: str
) -> dict[str, Any]:
    """Retention from the SPEC's words: sets of customers in use at D-365 and at D."""
    day = pd.Timestamp(as_of)
    start = day - pd.Timedelta(days=365)
    ins = fr.installations
    units = ins[in_target(fr, ins, target) & ins["customer_id"].isin(customer_ids(fr, filters))]
    then = units[_in_use(units, start)]
    now = units[_in_use(units, day)]
    if by in ("category", "product"):
        column = "category" if by == "category" else "sku"

        def keyed(df: pd.DataFrame) -> set[tuple[str, int]]:
            return {
                (dim_key(k), int(c)) for k, c in zip(df[column], df["customer_id"], strict=True)
            }

    else:
        key_of = {
            int(i): dim_key(v) for i, v in zip(fr.customers["id"], fr.customers[by], strict=True)
        }

        def keyed(df: pd.DataFrame) -> set[tuple[str, int]]:
            return {(key_of[int(c)], int(c)) for c in df["customer_id"]}

    was, is_ = keyed(then), keyed(now)
    rows = [
        {"key": key} | _counts({c for k, c in was if k == key}, {c for k, c in is_ if k == key})
        for key in {k for k, _c in was | is_}
    ]
    rows.sort(key=lambda r: (-r["base_at_start"], r["key"]))
    return {
        "kind": "retention",
        "as_of": as_of.isoformat(),
        "target": target,
        "start": start.date().isoformat(),
        **_counts({c for _k, c in was}, {c for _k, c in is_}),
        "breakdown": {"by": by, "rows": rows},
    }


@dataclass(frozen=True)
class Seeded:
    ds: randomdata.Dataset
    conn: Connection
    frames: Frames


@pytest.fixture(scope="class", params=SEEDS, ids=lambda seed: f"seed{seed}")
def seeded(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Seeded]:
    """One random data set per seed and backend, rolled back at the end."""
    ds = randomdata.generate(request.param)
    with engine.connect() as conn:
        trans = conn.begin()
        randomdata.insert_dataset(conn, ds)
        yield Seeded(ds, conn, load_frames(conn))
        trans.rollback()


@pytest.fixture(scope="class")
def replica(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with replica_of(seeded.conn, tmp_path_factory.mktemp("replica")) as session:
        yield session


def _days(ds: randomdata.Dataset) -> list[date]:
    """The data clusters around the anchor and a year before it: D-365 falls on those edges
    for the days around the anchor, and is the anchor itself a year later."""
    return [*ds.as_of_dates, ds.anchor + timedelta(days=365)]


def _check(seeded: Seeded, session: Session) -> None:
    ds = seeded.ds
    problems = []
    for day in _days(ds):
        for text, target, filters, by in ORACLE_COMMANDS:
            got = ask_json(session, text, as_of=day, settings=SETTINGS)
            assert len(got.pop("filters")) == len(filters), text
            expected = oracle_retention(seeded.frames, day, target, filters, by)
            if got != expected:
                problems.append(f"[seed {ds.seed}] {text!r} as of {day}:\n  {expected}\n  {got}")
    assert not problems, f"{len(problems)} mismatch(es):\n" + "\n".join(problems[:5])


class TestOracle:
    def test_the_database_agrees_with_the_oracle(self, seeded: Seeded) -> None:
        with Session(bind=seeded.conn, join_transaction_mode="create_savepoint") as session:
            _check(seeded, session)

    def test_the_replica_agrees_with_the_oracle(self, seeded: Seeded, replica: Session) -> None:
        _check(seeded, replica)

    def test_the_data_reaches_every_case(self, seeded: Seeded) -> None:
        # The oracle's agreement means something only if the random rows give retained, lost
        # and won customers, empty bases, and units installed and removed on both dates.
        fr, ins = seeded.frames, seeded.frames.installations
        seen: set[str] = set()
        for day in _days(seeded.ds):
            start = pd.Timestamp(day) - pd.Timedelta(days=365)
            for name, dates, on in (
                ("removed on D-365", ins["removed_on"], start),
                ("removed on D", ins["removed_on"], pd.Timestamp(day)),
                ("installed on D-365", ins["installed_on"], start),
                ("installed on D", ins["installed_on"], pd.Timestamp(day)),
            ):
                if (dates == on).any():
                    seen.add(name)
            for _text, target, filters, by in ORACLE_COMMANDS:
                for row in oracle_retention(fr, day, target, filters, by)["breakdown"]["rows"]:
                    seen |= {k for k in ("retained", "lost", "won") if row[k]}
                    if row["retention_rate"] is None:
                        seen.add("no base")
        assert seen == {
            "retained",
            "lost",
            "won",
            "no base",
            "removed on D-365",
            "removed on D",
            "installed on D-365",
            "installed on D",
        }
