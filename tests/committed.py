"""A committed test database, for code that opens its own sessions (the app's worker threads).

SQLite: a file of its own. PostgreSQL: a schema of its own inside TEST_DATABASE_URL, dropped
afterwards. (The per-test rolled-back `session` fixture cannot serve other threads.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from queries.db import make_engine, make_sessionmaker, normalize_url
from queries.schema import upgrade


def schema_engine(schema: str) -> Engine:
    """An engine on TEST_DATABASE_URL whose tables live in `schema`."""
    # In the URL, not connect_args: a replica build in another process opens the same URL.
    url = make_url(normalize_url(os.environ["TEST_DATABASE_URL"]))
    return make_engine(
        url.update_query_dict({"options": f"-c search_path={schema}"}).render_as_string(
            hide_password=False
        )
    )


@contextmanager
def committed_database(
    engine: Engine, folder: Path, name: str, build: Callable[[Session], object]
) -> Iterator[Engine]:
    """A migrated database named `name` on `engine`'s backend, filled by `build` and committed."""
    schema = f"basebot_{name}"
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        db = make_engine(f"sqlite:///{folder / f'{name}.db'}")
    else:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        db = schema_engine(schema)
    try:
        upgrade(db)
        with make_sessionmaker(db)() as session:
            build(session)
            session.commit()
        yield db
    finally:
        db.dispose()
        if not sqlite:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def sqlite_file(path: Path, build: Callable[[Session], object]) -> str:
    """A migrated SQLite file filled by `build` and committed; returns its URL (for the CLI)."""
    url = f"sqlite:///{path}"
    db = make_engine(url)
    try:
        upgrade(db)
        with make_sessionmaker(db)() as session:
            build(session)
            session.commit()
    finally:
        db.dispose()
    return url
