"""The read path: a replica answers exactly as the database does, and only while it is fresh."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import ask_json
from bot.settings import Settings
from queries.capture import bulk_load
from queries.db import make_sessionmaker, transaction
from queries.freshness import changes_between, data_state
from queries.importer import import_folder
from queries.models import Customer
from queries.replica import (
    PREFIX,
    BuildCancelled,
    Cancel,
    ReadPath,
    ReplicaConfig,
    build_elsewhere,
    build_replica,
    replica_path,
)
from queries.request import DIRECT, READ_FROM, Source
from queries.vocabulary import load_vocabulary
from tests.builders import Fixture
from tests.committed import committed_database
from tests.queries.world import D, build_world

SETTINGS = Settings(home_country="US")
COMMANDS = (
    "installed",
    "installed printers by region",
    "customers by quarter",
    "compare",
    "upsell printers",
    "customer acme",
    "top 3 by units",
    "loyal",
    "concentration",
    "digest",
    "health",
)


def _world_with_blanks(session: Session) -> None:
    f = build_world(session)
    # An empty string and a NULL are different values and must stay so in the replica.
    f.customer("BLANK", "Empty Fields", segment="", region=None, email="")


@pytest.fixture()
def db(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    with committed_database(engine, tmp_path, "replica", _world_with_blanks) as committed:
        yield committed


def _config(tmp_path: Path) -> ReplicaConfig:
    return ReplicaConfig(folder=tmp_path / "replica", memory_limit="256MB", threads=1)


def _reads(db: Engine, config: ReplicaConfig, *, build: bool = True) -> ReadPath:
    """The serving processes' read path (replicas built by a child process on db's URL)."""
    return ReadPath(make_sessionmaker(db), config, build=build)


def _answers(reads: ReadPath) -> dict[str, object]:
    with reads.session() as session:
        return {c: ask_json(session, c, as_of=D, settings=SETTINGS) for c in COMMANDS}


def _backend(reads: ReadPath) -> str:
    with reads.session() as session:
        return session.get_bind().dialect.name


def test_the_replica_answers_every_verb_exactly_as_the_database(db: Engine, tmp_path: Path) -> None:
    reads = _reads(db, _config(tmp_path), build=False)
    assert not reads.on_replica()
    assert _backend(reads) == db.dialect.name
    live = _answers(reads)

    reads.refresh()
    assert reads.on_replica()
    assert _backend(reads) == "duckdb"
    assert _answers(reads) == live
    reads.close()


def test_empty_strings_and_nulls_are_copied_as_they_are(db: Engine, tmp_path: Path) -> None:
    reads = _reads(db, _config(tmp_path), build=False)
    reads.refresh()
    query = select(Customer.segment, Customer.region, Customer.email).where(
        Customer.customer_ref == "BLANK"
    )
    with reads.session() as replica:
        assert replica.get_bind().dialect.name == "duckdb"
        assert replica.execute(query).one() == ("", None, "")
    reads.close()


def _import_one_installation(factory: sessionmaker[Session], folder: Path) -> None:
    folder.mkdir()
    (folder / "installations.csv").write_text(
        "serial,customer_ref,sku,order_ref,site,installed_on,removed_on\n"
        "NEW-1,A,PRN-1,,HQ,2026-06-01,\n"
    )
    with transaction(factory) as session:
        import_folder(session, folder)


def test_a_small_import_is_applied_to_the_replica_in_place(db: Engine, tmp_path: Path) -> None:
    factory = make_sessionmaker(db)
    reads = _reads(db, _config(tmp_path), build=False)
    reads.refresh()
    before = _answers(reads)["installed"]
    _import_one_installation(factory, tmp_path / "csv")

    # The very next answer counts it, from the replica: no rebuild, no detour.
    with reads.session() as session:
        assert session.get_bind().dialect.name == "duckdb"
        after = ask_json(session, "installed", as_of=D, settings=SETTINGS)
    assert after["units"] == before["units"] + 1  # type: ignore[index]
    assert _answers(reads) == _answers(ReadPath(factory, None))
    reads.close()


def test_a_bulk_change_makes_the_replica_stale_until_it_is_rebuilt(
    db: Engine, tmp_path: Path
) -> None:
    factory = make_sessionmaker(db)
    reads = _reads(db, _config(tmp_path))
    reads.refresh()
    before = _answers(reads)["installed"]
    with transaction(factory) as session, bulk_load(session):
        Fixture(session).install("A", "PRN-1", "2026-06-01", serial="BULK-1")

    # Stale: this answer comes from the database (one more unit), and a rebuild starts.
    with reads.session() as session:
        assert session.get_bind().dialect.name == db.dialect.name
        assert session.info[READ_FROM] == Source(DIRECT)
        after = ask_json(session, "installed", as_of=D, settings=SETTINGS)
    assert after["units"] == before["units"] + 1  # type: ignore[index]

    deadline = time.monotonic() + 60
    while not reads.on_replica():
        assert time.monotonic() < deadline, "the replica was not rebuilt within 60 s"
        time.sleep(0.05)
    with reads.session() as session:
        assert session.get_bind().dialect.name == "duckdb"
        assert ask_json(session, "installed", as_of=D, settings=SETTINGS) == after
    reads.close()
    # The old version's file is gone; only the fresh one is kept.
    assert len(list((tmp_path / "replica").glob(f"{PREFIX}*.duckdb"))) == 1


def test_any_write_is_logged_whoever_writes(db: Engine) -> None:
    factory = make_sessionmaker(db)
    with factory() as session:
        before = data_state(session)
        a = session.scalar(select(Customer.id).where(Customer.customer_ref == "A"))
    with db.begin() as conn:  # a writer that is not basebot
        conn.execute(text("UPDATE customers SET name = 'Renamed' WHERE customer_ref = 'A'"))
    with factory() as session:
        after = data_state(session)
        assert before is not None and after is not None
        assert after.version == before.version and after.seq == before.seq + 1
        changes = changes_between(session, before.seq, after.seq)
    assert changes.customers == {a} and changes.complete


def test_a_cancelled_build_leaves_no_file_behind(db: Engine, tmp_path: Path) -> None:
    cancel = Cancel()
    cancel.set()
    with make_sessionmaker(db)() as session, pytest.raises(BuildCancelled):
        build_replica(session.connection(), _config(tmp_path), cancel=cancel)
    assert [p.name for p in (tmp_path / "replica").iterdir() if p.name != ".lock"] == []


def test_a_build_in_a_child_process_can_be_cancelled(db: Engine, tmp_path: Path) -> None:
    cancel = Cancel()
    cancel.set()  # the child is killed as soon as it starts
    url = db.url.render_as_string(hide_password=False)
    with pytest.raises(BuildCancelled):
        build_elsewhere(url, _config(tmp_path), cancel=cancel)
    folder = tmp_path / "replica"
    assert not folder.exists() or [p.name for p in folder.iterdir() if p.name != ".lock"] == []


def test_a_failed_build_in_a_child_process_is_an_error_here(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a database without basebot's tables
    with pytest.raises(RuntimeError, match="replica build failed"):
        build_elsewhere(f"sqlite:///{empty}", _config(tmp_path))


def test_a_replicas_vocabulary_is_read_once(db: Engine, tmp_path: Path) -> None:
    reads = _reads(db, _config(tmp_path), build=False)
    with reads.session() as first, reads.session() as second:
        assert load_vocabulary(first).categories  # not empty
        assert load_vocabulary(first) is not load_vocabulary(second)  # the database: each time
    reads.refresh()
    with reads.session() as first, reads.session() as second:
        assert second.get_bind().dialect.name == "duckdb"
        assert load_vocabulary(first) is load_vocabulary(second)  # one file, one vocabulary
    reads.close()


def test_without_a_replica_every_answer_reads_the_database(db: Engine) -> None:
    reads = ReadPath(make_sessionmaker(db), None)
    assert not reads.on_replica()
    assert _backend(reads) == db.dialect.name
    with reads.session() as session:
        Fixture(session)  # the session is an ordinary one
        assert ask_json(session, "installed", as_of=D, settings=SETTINGS)["units"] > 0


def test_a_damaged_replica_file_is_passed_over_and_rebuilt(db: Engine, tmp_path: Path) -> None:
    factory = make_sessionmaker(db)
    config = _config(tmp_path)
    with factory() as session:
        state = data_state(session)
    assert state is not None
    config.folder.mkdir(parents=True)
    replica_path(config.folder, state).write_bytes(b"not a database" * 100)
    reads = _reads(db, config, build=False)
    assert _backend(reads) == db.dialect.name  # answered, from the database
    reads.refresh()
    assert _backend(reads) == "duckdb"
    assert _answers(reads) == _answers(ReadPath(factory, None))
    reads.close()
