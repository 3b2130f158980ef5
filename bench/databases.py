"""The benchmark's databases: a SQLite file beside the data, or a PostgreSQL database it owns.

A PostgreSQL database is only wiped when it is empty or carries the benchmark's comment, and
databases named test* are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from queries.db import make_engine, make_sessionmaker, normalize_url, transaction
from queries.importer import import_folder
from queries.models import Customer, Installation, Product, Purchase
from queries.schema import upgrade

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/bench"
BENCH_COMMENT = "basebot benchmark data (python -m bench); wiped on every run"
SQLITE_FILE = "basebot-bench.db"


class BenchDatabaseError(RuntimeError):
    """A database the benchmark refuses to use, or cannot reach."""


@dataclass(frozen=True)
class ImportStats:
    rows: int
    seconds: float
    maintenance_seconds: float
    reused: bool = False

    @property
    def rows_per_s(self) -> float | None:
        return None if self.reused or self.seconds <= 0 else self.rows / self.seconds


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / SQLITE_FILE}"


def _pg_url(url: str) -> URL:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise BenchDatabaseError(f"--pg-url is not a PostgreSQL URL: {url}")
    name = parsed.database or ""
    if not name:
        raise BenchDatabaseError(f"--pg-url names no database: {url}")
    if name.lower().startswith("test"):
        raise BenchDatabaseError(
            f"refusing to use database {name!r}: test* databases are off limits"
        )
    return parsed


def ensure_pg_database(url: str) -> None:
    """Create the database (through the `postgres` maintenance database) when it is missing."""
    parsed = _pg_url(url)
    name = parsed.database or ""
    admin = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not found:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                conn.exec_driver_sql(f"COMMENT ON DATABASE {quoted} IS '{BENCH_COMMENT}'")
    finally:
        admin.dispose()


def _pg_wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        name = conn.scalar(text("SELECT current_database()"))
        if str(name).lower().startswith("test"):
            raise BenchDatabaseError(f"refusing to wipe {name!r}")
        comment = conn.scalar(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                " WHERE datname = current_database()"
            )
        )
        tables = conn.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
        if comment != BENCH_COMMENT and tables:
            raise BenchDatabaseError(
                f"database {name!r} has tables and was not created by the benchmark;"
                " point --pg-url at an empty or benchmark database"
            )
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
        quoted = conn.dialect.identifier_preparer.quote(str(name))
        conn.exec_driver_sql(f"COMMENT ON DATABASE {quoted} IS '{BENCH_COMMENT}'")


def _sqlite_wipe(url: str) -> None:
    path = Path(make_url(url).database or "")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            f"{model.__tablename__}.csv": int(
                conn.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (Customer, Product, Purchase, Installation)
        }


def load(
    backend: str, url: str, folder: Path, expected: dict[str, int], *, owned: int, reuse: bool
) -> ImportStats:
    """Fresh schema, then `basebot import` of the folder, timed; or reuse a matching load
    (the same rows per table and `owned` customers with an owner)."""
    rows = sum(expected.values())
    if backend == "postgresql":
        ensure_pg_database(url)
    engine = make_engine(url)
    try:
        if reuse and _loaded(engine, expected, owned):
            return ImportStats(rows, 0.0, 0.0, reused=True)
        if backend == "postgresql":
            _pg_wipe(engine)
        else:
            engine.dispose()
            _sqlite_wipe(url)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        started = time.perf_counter()
        with transaction(factory) as session:
            import_folder(session, folder)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        _maintain(engine, backend)
        return ImportStats(rows, seconds, time.perf_counter() - started)
    finally:
        engine.dispose()


def _loaded(engine: Engine, expected: dict[str, int], owned: int) -> bool:
    try:
        if table_counts(engine) != expected:
            return False
        # A data set of an older generator has the same rows without their owners.
        with engine.connect() as conn:
            return conn.scalar(select(func.count(Customer.owner))) == owned
    except SQLAlchemyError:  # no tables yet, or none of the owner column
        return False


def _maintain(engine: Engine, backend: str) -> None:
    # PostgreSQL's autovacuum would analyze and vacuum these tables within minutes of the
    # import; doing it now makes the timings reproducible. SQLite has no such daemon and
    # basebot never runs ANALYZE, so its planner is left as users get it.
    if backend != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def server_settings(url: str, backend: str) -> dict[str, str]:
    """Version and the settings that shape query plans, for the report."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                out = {"version": str(conn.scalar(text("SHOW server_version")))}
                for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather"):
                    out[name] = str(conn.scalar(text(f"SHOW {name}")))
                return out
            return {"version": str(conn.scalar(text("SELECT sqlite_version()")))}
    finally:
        engine.dispose()
