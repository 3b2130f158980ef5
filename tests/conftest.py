"""Real databases for every test: SQLite always, PostgreSQL when TEST_DATABASE_URL is set.

Each test runs in a transaction that is rolled back afterwards (the session joins it through
savepoints), so tests can commit-free write whatever fixture rows they need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from queries.db import make_engine
from queries.models import Base
from queries.schema import upgrade

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _fresh_postgres(url: str) -> Engine:
    engine = make_engine(url)
    # Fails loudly when the server is down: a configured PostgreSQL must never be skipped.
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return engine


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("db")) / "test.db"
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = _fresh_postgres(os.environ["TEST_DATABASE_URL"])
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture()
def world_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The hand-built world (tests/queries/world.py) in a SQLite file that DATABASE_URL names."""
    from tests.committed import sqlite_file
    from tests.queries.world import build_world

    url = sqlite_file(tmp_path / "world.db", build_world)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    with engine.connect() as conn:
        trans = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as sess:
            yield sess
        trans.rollback()
