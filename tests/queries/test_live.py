"""The replica kept in step with a database that keeps changing.

Random sequences of plain-SQL changes of every kind are committed one step at a time; after
each step every verb's JSON from the live replica must equal, byte for byte, both the answer
of the database itself and that of a replica freshly built from the same rows.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import ask_json, parse_command
from bot.listeners import guard
from bot.parsing import ParseError
from bot.settings import Settings
from queries.db import make_sessionmaker
from queries.freshness import data_state
from queries.replica import (
    PREFIX,
    SYNC_CHANGES,
    ReadPath,
    ReplicaConfig,
    build_replica,
    open_replica,
    snapshot,
)
from queries.request import DIRECT, READ_FROM, Source
from tests import randomdata
from tests.committed import committed_database

SETTINGS = Settings(home_country="US")
SEEDS = (3, 11)
STEPS = 10


def _commands(refs: list[str]) -> tuple[str, ...]:
    return (
        "installed",
        "installed printers by region",
        "installed PR-100",
        "customers",
        "customers printers by quarter",
        "customers in EMEA by channel",
        "compare",
        "upsell",
        "upsell printers service",
        "customer " + refs[0],
        "top 5",
        "top 3 by units",
        "loyal",
        "concentration",
        "digest",
        "health",
    )


def _config(folder: Path) -> ReplicaConfig:
    return ReplicaConfig(folder=folder, memory_limit="256MB", threads=1)


def _answers(session: Session, commands: tuple[str, ...], day: date) -> dict[str, str]:
    return {
        c: json.dumps(ask_json(session, c, as_of=day, settings=SETTINGS), sort_keys=True)
        for c in commands
    }


class _Writer:
    """Plain SQL, as an ETL job would write: every kind of change the data can see."""

    def __init__(self, conn: Connection, rng: random.Random, anchor: date) -> None:
        self.conn = conn
        self.rng = rng
        self.anchor = anchor

    def _one(self, sql: str, **params: Any) -> Any:
        return self.conn.execute(text(sql), params).scalar()

    def _pick(self, sql: str) -> Any:
        ids = [row[0] for row in self.conn.execute(text(sql))]
        return self.rng.choice(ids) if ids else None

    def _next(self, table: str) -> int:
        return int(self._one(f"SELECT coalesce(max(id), 0) + 1 FROM {table}"))

    def _day(self) -> date:
        return self.anchor + timedelta(days=self.rng.choice((-400, -365, -91, -14, -1, 0, 1, 3)))

    def _line(self, customer: int, order: str, line_no: int, quantity: int | None = None) -> None:
        product, kind = self.conn.execute(
            text("SELECT id, kind FROM products ORDER BY id LIMIT 1 OFFSET :n"),
            {"n": self.rng.randrange(int(self._one("SELECT count(*) FROM products")))},
        ).one()
        day = self._day()
        covered = kind in ("service", "subscription")
        self.conn.execute(
            text(
                "INSERT INTO purchases (id, order_ref, line_no, customer_id, product_id, quantity,"
                " unit_price, purchased_on, coverage_start, coverage_end) VALUES (:id, :o, :l,"
                " :c, :p, :q, :price, :on, :start, :end)"
            ),
            {
                "id": self._next("purchases"),
                "o": order,
                "l": line_no,
                "c": customer,
                "p": product,
                "q": quantity if quantity is not None else self.rng.randint(1, 3),
                "price": self.rng.choice((10.0, 99.5, 1200.0)),
                "on": day,
                "start": day if covered else None,
                "end": day + timedelta(days=self.rng.choice((0, 30, 60, 365))) if covered else None,
            },
        )

    def order(self) -> None:
        customer = self._pick("SELECT id FROM customers")
        order = f"LIVE-{self._next('purchases')}"
        for line_no in range(1, self.rng.randint(1, 5) + 1):
            self._line(customer, order, line_no)

    def new_customer(self) -> None:
        cid = self._next("customers")
        self.conn.execute(
            text(
                "INSERT INTO customers (id, customer_ref, name, segment, channel, industry,"
                " country, region) VALUES (:id, :ref, :name, :seg, 'direct', 'retail', 'DE',"
                " 'EMEA')"
            ),
            {"id": cid, "ref": f"LIVE{cid}", "name": f"Live {cid}", "seg": "business"},
        )
        self._line(cid, f"LIVE-NEW-{cid}", 1)

    def install(self) -> None:
        self.conn.execute(
            text(
                "INSERT INTO installations (id, serial, customer_id, product_id, installed_on)"
                " VALUES (:id, :serial, :c, :p, :on)"
            ),
            {
                "id": (n := self._next("installations")),
                "serial": f"LIVE-SN-{n}",
                "c": self._pick("SELECT id FROM customers"),
                "p": self._pick("SELECT id FROM products WHERE installable"),
                "on": self._day(),
            },
        )

    def remove(self) -> None:
        unit = self._pick("SELECT id FROM installations WHERE removed_on IS NULL")
        self.conn.execute(
            text("UPDATE installations SET removed_on = :on WHERE id = :id"),
            {"on": self.anchor + timedelta(days=self.rng.choice((-1, 0, 1))), "id": unit},
        )

    def give_back(self) -> None:
        customer = self._pick("SELECT customer_id FROM purchases WHERE quantity > 0")
        self._line(customer, f"LIVE-RET-{self._next('purchases')}", 1, quantity=-1)

    def customer_moves(self) -> None:
        self.conn.execute(
            text("UPDATE customers SET segment = :s, region = :r WHERE id = :id"),
            {
                "s": self.rng.choice(("consumer", "government", None)),
                "r": self.rng.choice(("APAC", "EMEA", None)),
                "id": self._pick("SELECT id FROM customers"),
            },
        )

    def line_changes(self) -> None:
        self.conn.execute(
            text("UPDATE purchases SET quantity = quantity + 1, purchased_on = :on WHERE id = :id"),
            {"on": self._day(), "id": self._pick("SELECT id FROM purchases")},
        )

    def line_moves_to_another_customer(self) -> None:
        self.conn.execute(
            text("UPDATE purchases SET customer_id = :c WHERE id = :id"),
            {
                "c": self._pick("SELECT id FROM customers"),
                "id": self._pick("SELECT id FROM purchases"),
            },
        )

    def deletes(self) -> None:
        table = self.rng.choice(("purchases", "installations"))
        self.conn.execute(
            text(f"DELETE FROM {table} WHERE id = :id"),
            {"id": self._pick(f"SELECT id FROM {table}")},
        )

    def customer_goes(self) -> None:
        cid = self._pick("SELECT id FROM customers")
        for table in ("purchases", "installations"):
            self.conn.execute(text(f"DELETE FROM {table} WHERE customer_id = :c"), {"c": cid})
        self.conn.execute(text("DELETE FROM customers WHERE id = :c"), {"c": cid})

    def product_moves(self) -> None:
        self.conn.execute(
            text("UPDATE products SET category = :cat WHERE id = :id"),
            {
                "cat": self.rng.choice(("printers", "copiers", "scanners")),
                "id": self._pick("SELECT id FROM products WHERE kind = 'core'"),
            },
        )

    def product_changes_kind(self) -> None:
        self.conn.execute(
            text("UPDATE products SET installable = NOT installable, kind = :k WHERE id = :id"),
            {
                "k": self.rng.choice(("core", "accessory", "service")),
                "id": self._pick("SELECT id FROM products"),
            },
        )

    def product_renamed(self) -> None:
        self.conn.execute(
            text("UPDATE products SET name = name || ' II' WHERE id = :id"),
            {"id": self._pick("SELECT id FROM products")},
        )

    def kinds(self) -> list[Callable[[], None]]:
        return [
            self.order,
            self.new_customer,
            self.install,
            self.remove,
            self.give_back,
            self.customer_moves,
            self.line_changes,
            self.line_moves_to_another_customer,
            self.deletes,
            self.customer_goes,
            self.product_moves,
            self.product_changes_kind,
            self.product_renamed,
        ]


@pytest.fixture(params=SEEDS)
def world(
    request: pytest.FixtureRequest, engine: Engine, tmp_path: Path
) -> Iterator[tuple[Engine, randomdata.Dataset]]:
    ds = randomdata.generate(request.param)
    with committed_database(
        engine, tmp_path, f"live{request.param}", lambda s: randomdata.insert_dataset(s, ds)
    ) as db:
        yield db, ds


def test_every_answer_stays_exact_while_the_data_changes(
    world: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds = world
    factory = make_sessionmaker(db)
    reads = ReadPath(factory, _config(tmp_path / "live"), build=False)
    reads.refresh()
    commands = _commands([c["customer_ref"] for c in ds.customers])
    rng = random.Random(ds.seed)
    failures: list[str] = []
    try:
        for step in range(STEPS):
            with db.begin() as conn:
                writer = _Writer(conn, rng, ds.anchor)
                kinds = writer.kinds()
                done = [rng.choice(kinds) for _ in range(rng.randint(1, 3))]
                if step < len(kinds):  # every kind at least once, then at random
                    done[0] = kinds[(step * 3 + ds.seed) % len(kinds)]
                for change in done:
                    change()
            with reads.session() as live:
                assert live.get_bind().dialect.name == "duckdb", "the replica did not keep up"
                got = _answers(live, commands, ds.anchor)
            with factory() as primary:
                expected = _answers(primary, commands, ds.anchor)
            with snapshot(factory) as conn:
                _, path = build_replica(conn, _config(tmp_path / f"fresh{step}"))
            fresh_engine = open_replica(path, _config(tmp_path / f"fresh{step}"))
            try:
                with Session(fresh_engine) as fresh_session:
                    fresh = _answers(fresh_session, commands, ds.anchor)
            finally:
                fresh_engine.dispose()
            names = ", ".join(c.__name__ for c in done)
            for command in commands:
                if got[command] != expected[command]:
                    failures.append(f"step {step} ({names}): {command}: live != database")
                if fresh[command] != expected[command]:
                    failures.append(f"step {step} ({names}): {command}: fresh != database")
    finally:
        reads.close()
    assert not failures, "\n".join(failures)


@pytest.fixture()
def small(engine: Engine, tmp_path: Path) -> Iterator[tuple[Engine, randomdata.Dataset]]:
    ds = randomdata.generate(SEEDS[0])
    with committed_database(
        engine, tmp_path, "livesmall", lambda s: randomdata.insert_dataset(s, ds)
    ) as db:
        yield db, ds


def _ready(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path, *, build: bool
) -> tuple[Engine, randomdata.Dataset, sessionmaker[Session], ReadPath]:
    """The small world with a read path whose replica is ready (`build`: rebuilt as needed)."""
    db, ds = small
    factory = make_sessionmaker(db)
    reads = ReadPath(factory, _config(tmp_path / "r"), build=build)
    reads.refresh()
    return db, ds, factory, reads


def _change(db: Engine, ds: randomdata.Dataset, seed: int = 0) -> None:
    with db.begin() as conn:
        _Writer(conn, random.Random(seed), ds.anchor).order()


def _installed(session: Session, ds: randomdata.Dataset) -> Any:
    return ask_json(session, "installed", as_of=ds.anchor, settings=SETTINGS)


def _direct_until_rebuilt(reads: ReadPath, ds: randomdata.Dataset) -> Any:
    """`installed` now, read directly from the database; the same from a rebuilt replica."""
    with reads.session() as session:
        assert session.info[READ_FROM] == Source(DIRECT)
        answer = _installed(session, ds)
    deadline = time.monotonic() + 60
    while not reads.on_replica():
        assert time.monotonic() < deadline, "no replica within 60 s"
        time.sleep(0.05)
    with reads.session() as session:
        assert session.get_bind().dialect.name == "duckdb"
        assert _installed(session, ds) == answer
    return answer


def test_a_gap_in_the_logged_changes_forces_a_rebuild(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds, factory, reads = _ready(small, tmp_path, build=True)
    _change(db, ds)
    with db.begin() as conn:  # the change is committed, but its log entry is lost
        conn.execute(
            text("DELETE FROM data_changes WHERE seq = (SELECT max(seq) FROM data_changes)")
        )
    answer = _direct_until_rebuilt(reads, ds)
    with factory() as primary:
        assert answer == _installed(primary, ds)
    reads.close()


def test_a_log_that_went_back_in_time_forces_a_rebuild(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds, factory, reads = _ready(small, tmp_path, build=False)
    _change(db, ds, seed=1)
    with reads.session() as session:
        assert session.get_bind().dialect.name == "duckdb"  # applied in place
    # A backup from before that change is restored, and other changes follow: the numbers
    # the replica already applied now name other changes.
    with db.begin() as conn:
        last = conn.execute(text("SELECT max(seq) FROM data_changes")).scalar_one()
        conn.execute(text("DELETE FROM data_changes WHERE seq = :s"), {"s": last})
        conn.execute(text("UPDATE data_version SET seq = :s WHERE id = 1"), {"s": last - 1})
        conn.execute(text("DELETE FROM purchases WHERE order_ref LIKE 'LIVE-%'"))
    _change(db, ds, seed=2)
    with reads.session() as session:
        assert session.get_bind().dialect.name == db.dialect.name
        answer = _installed(session, ds)
    with factory() as primary:
        assert answer == _installed(primary, ds)
    reads.close()


def test_truncate_is_followed_by_a_rebuild(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds, _, reads = _ready(small, tmp_path, build=True)
    postgresql = db.dialect.name == "postgresql"
    with db.begin() as conn:
        # SQLite has no TRUNCATE: its unqualified DELETE is logged row by row, and applied.
        conn.execute(text("TRUNCATE installations" if postgresql else "DELETE FROM installations"))
    if postgresql:
        assert _direct_until_rebuilt(reads, ds)["units"] == 0
    else:
        with reads.session() as session:
            assert session.get_bind().dialect.name == "duckdb"
            assert _installed(session, ds)["units"] == 0
    reads.close()


def test_far_behind_the_answer_comes_from_the_database(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, _, _, reads = _ready(small, tmp_path, build=False)
    with db.begin() as conn:  # more logged changes than an answer waits for
        conn.execute(text("UPDATE data_version SET seq = seq + :n"), {"n": SYNC_CHANGES + 1})
    with reads.session() as session:
        assert session.get_bind().dialect.name == db.dialect.name
        assert session.info[READ_FROM] == Source(DIRECT)
    reads.close()


def test_leftovers_of_builds_whose_process_is_gone_are_removed(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, _ = small
    folder = tmp_path / "r"
    folder.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    gone = int(dead.stdout)
    leftovers = [
        folder / f"{PREFIX}abc-1.f4.{gone}.partial",
        folder / f"{PREFIX}abc-1.f4.{gone}.partial.wal",
        folder / f"{PREFIX}abc-1.f4.{gone}.csv",
    ]
    ours = folder / f"{PREFIX}abc-1.f4.{os.getpid()}.partial"
    for path in (*leftovers, ours):
        path.write_bytes(b"half a build")
    ReadPath(make_sessionmaker(db), _config(folder), build=False)
    assert [p for p in leftovers if p.exists()] == []
    assert ours.exists()  # a build of a live process is left alone


def test_two_processes_sharing_a_folder_never_see_half_a_change(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds = small
    factory = make_sessionmaker(db)
    folder = tmp_path / "shared"
    ReadPath(factory, _config(folder)).refresh()
    with factory() as session:
        units = _installed(session, ds)["units"]
    url = db.url.render_as_string(hide_password=False)
    day = ds.anchor.isoformat()
    readers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.queries.live_reader", url, str(folder), day, "8"],
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    # Each commit moves a unit in use from one customer to another in two statements: an
    # answer that saw one without the other would count one unit more or less.
    rng = random.Random(7)
    deadline = time.monotonic() + 7
    moves = 0
    while time.monotonic() < deadline:
        with db.begin() as conn:
            unit = conn.execute(
                text(
                    "SELECT id, customer_id, product_id, installed_on FROM installations"
                    " WHERE installed_on <= :d AND (removed_on IS NULL OR removed_on > :d)"
                    " ORDER BY id LIMIT 1 OFFSET :n"
                ),
                {"d": ds.anchor, "n": rng.randrange(10)},
            ).one()
            other = conn.execute(
                text("SELECT id FROM customers WHERE id <> :c ORDER BY id LIMIT 1 OFFSET :n"),
                {"c": unit.customer_id, "n": rng.randrange(10)},
            ).scalar_one()
            conn.execute(text("DELETE FROM installations WHERE id = :id"), {"id": unit.id})
            conn.execute(
                text(
                    "INSERT INTO installations (id, serial, customer_id, product_id, installed_on)"
                    " VALUES (:id, :serial, :c, :p, :on)"
                ),
                {
                    "id": unit.id,
                    "serial": f"MOVED-{moves}",
                    "c": other,
                    "p": unit.product_id,
                    "on": unit.installed_on,
                },
            )
        moves += 1
        time.sleep(0.05)
    results = []
    for reader in readers:
        out, _ = reader.communicate(timeout=60)
        assert reader.returncode == 0
        results.append(json.loads(out))
    assert moves > 10
    for result in results:
        assert result["units"] == [units], result  # never one more, never one less
        assert result["answers"] > 10 and result["replica"] == result["answers"], result


def test_the_words_a_command_may_use_follow_the_data(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds, factory, reads = _ready(small, tmp_path, build=False)

    def both(command: str) -> tuple[Any, Any]:
        answers = []
        for opened in (reads.session, factory):
            with opened() as session:
                try:
                    answers.append(ask_json(session, command, as_of=ds.anchor, settings=SETTINGS))
                except ParseError as exc:
                    answers.append(exc.message)
        return answers[0], answers[1]

    with db.begin() as conn:  # a region nobody had, and a product of a new category
        conn.execute(text("UPDATE customers SET region = 'LATAM' WHERE id = 1"))
        conn.execute(text("UPDATE products SET category = 'plotters' WHERE id = 1"))
    live, primary = both("installed plotters in LATAM")
    assert live == primary and isinstance(live, dict)
    with db.begin() as conn:  # and gone again
        conn.execute(text("UPDATE customers SET region = 'EMEA' WHERE id = 1"))
    live, primary = both("installed in LATAM")
    assert live == primary and isinstance(live, str)  # "no such value" on both
    reads.close()


def test_a_serving_process_applies_changes_before_anyone_asks(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path
) -> None:
    db, ds, factory, reads = _ready(small, tmp_path, build=True)
    reads.start()  # as `basebot serve` does: it follows the database's changes
    try:
        _change(db, ds, seed=3)
        with factory() as session:
            head = data_state(session)
        assert head is not None
        deadline = time.monotonic() + 10
        while (live := reads._live) is None or live.state != head:
            assert time.monotonic() < deadline, "the change was not applied within 10 s"
            time.sleep(0.01)
    finally:
        reads.close()


def test_a_replica_out_of_memory_reads_the_database_instead(
    small: tuple[Engine, randomdata.Dataset], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ds, factory, reads = _ready(small, tmp_path, build=False)
    real_run = guard.run

    def tight(session: Session, request: Any, settings: Settings) -> Any:
        if session.get_bind().dialect.name == "duckdb":
            raise OperationalError("SELECT", {}, duckdb.OutOfMemoryException("Out of Memory"))
        return real_run(session, request, settings)

    monkeypatch.setattr(guard, "run", tight)
    with reads.session() as session:
        request = parse_command(session, "installed", as_of=ds.anchor, settings=SETTINGS)
        answer = guard._run_or_read_directly(session, factory, request, SETTINGS)
    assert answer.request.source == Source(DIRECT)  # the reply says where it was read
    with factory() as primary:
        assert answer.to_json() == _installed(primary, ds)
    reads.close()
