"""The read replica: a columnar copy (DuckDB) of the four data tables, for fast answers.

Every predefined query is plain SQLAlchemy Core, so the same statements run on the primary
database or on the replica; the replica only changes how fast they run. A replica is a file
`replica-<data version>.duckdb`: it holds exactly the rows of that version and is used only
while the primary still reports that version (queries/freshness.py). Until a fresh one is
built, answers come from the primary, so a stale replica can slow an answer but never
change it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from queries import lines, timeline
from queries.freshness import data_version
from queries.progress import SILENT, Progress, Step, named
from queries.vocabulary import FROZEN

log = logging.getLogger(__name__)

PREFIX = "replica-"
# What a replica file holds; a file written by code of another format is never opened.
FORMAT = "f3"
# DuckDB's buffer pool and working memory; what it needs beyond that it spills to disk.
DEFAULT_REPLICA_MEMORY = "96MB"
SUFFIX = ".duckdb"
BUILD_MEMORY = "2GB"
_ROWS_REPORTED = 10_000

Columns = tuple[tuple[str, str], ...]

# Column lists and DuckDB types of the four tables (SPEC §2). Purchases and installations are
# stored in customer order: nearly every figure aggregates per customer first, and DuckDB's
# hash aggregation runs about twice as fast on keys that arrive clustered.
_TABLES: dict[str, tuple[Columns, str]] = {
    "customers": (
        (
            ("id", "INTEGER"),
            ("customer_ref", "VARCHAR"),
            ("name", "VARCHAR"),
            ("segment", "VARCHAR"),
            ("channel", "VARCHAR"),
            ("industry", "VARCHAR"),
            ("country", "VARCHAR"),
            ("region", "VARCHAR"),
            ("email", "VARCHAR"),
            ("created_on", "DATE"),
        ),
        "id",
    ),
    "products": (
        (
            ("id", "INTEGER"),
            ("sku", "VARCHAR"),
            ("name", "VARCHAR"),
            ("category", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("for_category", "VARCHAR"),
            ("installable", "BOOLEAN"),
            ("list_price", "DECIMAL(18,4)"),
        ),
        "id",
    ),
    "purchases": (
        (
            ("id", "INTEGER"),
            ("order_ref", "VARCHAR"),
            ("line_no", "INTEGER"),
            ("customer_id", "INTEGER"),
            ("product_id", "INTEGER"),
            ("quantity", "INTEGER"),
            ("unit_price", "DECIMAL(18,4)"),
            ("purchased_on", "DATE"),
            ("coverage_start", "DATE"),
            ("coverage_end", "DATE"),
        ),
        "customer_id, purchased_on",
    ),
    "installations": (
        (
            ("id", "INTEGER"),
            ("serial", "VARCHAR"),
            ("customer_id", "INTEGER"),
            ("product_id", "INTEGER"),
            ("order_ref", "VARCHAR"),
            ("site", "VARCHAR"),
            ("installed_on", "DATE"),
            ("removed_on", "DATE"),
        ),
        "customer_id, installed_on",
    ),
}


@dataclass(frozen=True, kw_only=True)
class ReplicaConfig:
    """Where replicas live and what one may use of the machine."""

    folder: Path
    memory_limit: str = DEFAULT_REPLICA_MEMORY
    threads: int = 2


def replica_path(folder: Path, version: str) -> Path:
    return folder / f"{PREFIX}{version}.{FORMAT}{SUFFIX}"


class BuildCancelled(Exception):
    """The process is stopping: the half-built replica was thrown away."""


class Cancel:
    """Stops a build from another thread: between chunks, inside a DuckDB statement, or by
    ending the process that builds it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._db: duckdb.DuckDBPyConnection | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def set(self) -> None:
        self._event.set()
        if self._db is not None:
            self._db.interrupt()
        if self._child is not None:
            self._child.kill()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise BuildCancelled

    def watch(self, db: duckdb.DuckDBPyConnection | None) -> None:
        self._db = db
        self.check()

    def watch_child(self, child: subprocess.Popen[bytes] | None) -> None:
        self._child = child
        if child is not None and self._event.is_set():
            child.kill()


def build_replica(
    conn: Connection,
    config: ReplicaConfig,
    *,
    cancel: Cancel | None = None,
    progress: Progress = SILENT,
) -> tuple[str, Path]:
    """Copy the four tables as `conn` sees them into a new replica file; (version, path).

    The caller gives a connection whose reads form one snapshot (a REPEATABLE READ
    transaction on PostgreSQL, one open transaction on SQLite), so the rows and the version
    belong together. An existing file for that version is reused.
    """
    version = data_version(conn)
    if version is None:
        raise RuntimeError("the database has no data_version row: run `basebot init-db`")
    # A full copy of the data (contact fields included): for this user's eyes only.
    config.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = replica_path(config.folder, version)
    with _lock(config.folder):
        if path.exists():
            return version, path
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        try:
            _write(conn, partial, config, cancel or Cancel(), progress)
            partial.chmod(0o600)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
            partial.with_suffix(".csv").unlink(missing_ok=True)
    return version, path


def build_elsewhere(
    database_url: str,
    config: ReplicaConfig,
    *,
    cancel: Cancel | None = None,
    progress: Progress = SILENT,
) -> tuple[str, Path]:
    """`build_replica` in a process of its own (`python -m queries.replica`); (version, path).

    The build reads every row once and needs DuckDB's working memory for sorting them: done
    in the serving process, that memory would stay its peak for good. The URL goes to the
    child on stdin, never on its command line (where `ps` would show a password).
    """
    cancel = cancel or Cancel()
    job = {
        "database_url": database_url,
        "folder": str(config.folder),
        "memory_limit": config.memory_limit,
        "threads": config.threads,
        # The child reports on its stderr, which is this process's.
        "progress": progress.kind,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "queries.replica"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    cancel.watch_child(child)
    try:
        out, _ = child.communicate(json.dumps(job).encode())
    finally:
        cancel.watch_child(None)
    if cancel.cancelled:
        # Killed mid-build: its half-written file is this parent's to remove.
        for leftover in config.folder.glob(f"{PREFIX}*.{child.pid}.partial*"):
            leftover.unlink(missing_ok=True)
        raise BuildCancelled
    if child.returncode != 0:
        raise RuntimeError(f"the replica build failed (exit {child.returncode}; see its log)")
    done = json.loads(out)
    return done["version"], Path(done["path"])


def _shared_url(factory: sessionmaker[Session]) -> str | None:
    """The URL another process opens to see the same database; None for an in-memory one."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        return None
    url = bind.url
    if url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    ):
        return None
    return url.render_as_string(hide_password=False)


def _build_from_stdin() -> None:
    from queries.db import make_engine, make_sessionmaker

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    job = json.loads(sys.stdin.read())
    config = ReplicaConfig(
        folder=Path(job["folder"]), memory_limit=job["memory_limit"], threads=job["threads"]
    )
    engine = make_engine(job["database_url"])
    try:
        with snapshot(make_sessionmaker(engine)) as conn:
            version, path = build_replica(conn, config, progress=named(job["progress"]))
    finally:
        engine.dispose()
    print(json.dumps({"version": version, "path": str(path)}))


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    # One builder at a time per folder, across processes (two servers, `basebot import`).
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(
    conn: Connection, path: Path, config: ReplicaConfig, cancel: Cancel, progress: Progress
) -> None:
    db = duckdb.connect(str(path), config=_duckdb_config(config, path.parent))
    cancel.watch(db)
    try:
        for table, (columns, order) in _TABLES.items():
            with progress.phase(f"replica: {table}", total=_counter(conn, table)) as step:
                definition = ", ".join(f"{name} {kind}" for name, kind in columns)
                db.execute(f"CREATE TABLE staged ({definition})")
                if conn.dialect.name == "postgresql":
                    staging = path.with_suffix(".csv")
                    _copy_postgresql(conn, db, table, columns, staging, cancel, step)
                else:
                    _copy_rows(conn, db, table, columns, cancel, step)
            with progress.phase(f"replica: {table} sorted", unit=None):
                db.execute(f"CREATE TABLE {table} AS SELECT * FROM staged ORDER BY {order}")  # noqa: S608
                db.execute("DROP TABLE staged")
        # The state timelines sort every event per customer, which DuckDB cannot fully spill:
        # they get more working memory (the build runs in its own process; see build_elsewhere).
        db.execute(f"SET memory_limit = '{BUILD_MEMORY}'")
        for statement in (*timeline.BUILDS, *lines.BUILDS):
            cancel.check()
            with progress.phase(f"replica: {_created(statement)}", unit=None):
                db.execute(statement)
        with progress.phase("replica: saved", unit=None):
            db.execute("CHECKPOINT")
    except duckdb.InterruptException:
        raise BuildCancelled from None
    finally:
        cancel.watch(None)
        db.close()


def _counter(conn: Connection, table: str) -> Callable[[], int]:
    return lambda: int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())  # noqa: S608


def _created(statement: str) -> str:
    """The table a derived-table build creates, to name its phase."""
    found = re.search(r"CREATE TABLE (\w+)", statement)
    return found[1] if found else "derived table"


def _select(table: str, columns: Columns) -> str:
    names = ", ".join(name for name, _ in columns)
    return f"SELECT {names} FROM {table}"  # noqa: S608 -- fixed names, no user text


def _copy_postgresql(
    conn: Connection,
    db: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    staging: Path,
    cancel: Cancel,
    step: Step,
) -> None:
    """COPY out as CSV (NULL: an unquoted empty field; '': a quoted one), then into DuckDB."""
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with (
            open(staging, "wb") as out,
            raw.cursor() as cursor,
            cursor.copy(f"COPY ({_select(table, columns)}) TO STDOUT WITH (FORMAT csv)") as copy,
        ):
            rows = 0
            for chunk in copy:  # a row each
                out.write(chunk)
                rows += 1
                if rows % _ROWS_REPORTED == 0:
                    step.advance(_ROWS_REPORTED)
                cancel.check()
            step.advance(rows % _ROWS_REPORTED)
        types = ", ".join(f"'{name}': '{kind}'" for name, kind in columns)
        db.execute(
            "INSERT INTO staged SELECT * FROM read_csv(?, header = false, "  # noqa: S608
            f"columns = {{{types}}}, allow_quoted_nulls = false, auto_detect = false)",
            [str(staging)],
        )
    finally:
        staging.unlink(missing_ok=True)


def _copy_rows(
    conn: Connection,
    db: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    cancel: Cancel,
    step: Step,
) -> None:
    """Any other database: rows in chunks through a DataFrame (None stays NULL, '' stays '')."""
    import pandas as pd  # only here: it costs a serving process ~65 MB

    names = [name for name, _ in columns]
    casts = ", ".join(f"CAST({name} AS {kind})" for name, kind in columns)
    result = conn.exec_driver_sql(_select(table, columns))
    while rows := result.fetchmany(100_000):
        cancel.check()
        db.register("batch", pd.DataFrame.from_records(rows, columns=names))
        db.execute(f"INSERT INTO staged SELECT {casts} FROM batch")  # noqa: S608
        db.unregister("batch")
        step.advance(len(rows))


def _duckdb_config(config: ReplicaConfig, folder: Path) -> dict[str, Any]:
    return {
        "threads": config.threads,
        "memory_limit": config.memory_limit,
        "temp_directory": str(folder / "spill"),
        # Give freed memory back to the system soon: the serving process stays small.
        "allocator_flush_threshold": "16MB",
        "allocator_bulk_deallocation_flush_threshold": "16MB",
        # Answers sort what they need themselves; unordered scans need less memory.
        "preserve_insertion_order": False,
    }


def open_replica(path: Path, config: ReplicaConfig) -> Engine:
    """A read-only engine on one replica file; each pooled connection is a DuckDB cursor."""
    return create_engine(
        f"duckdb:///{path}",
        connect_args={"read_only": True, "config": _duckdb_config(config, path.parent)},
        pool_size=4,
        max_overflow=12,
        execution_options={FROZEN: True},
    )


class ReadPath:
    """Where answers are read: the replica when it is at the primary's version, else the primary.

    Each `session()` checks the primary's version (one indexed single-row read). When the
    replica is behind, the answer comes from the primary and a background thread builds the
    replica for the new version (or opens one another process built). Builds run in a
    separate process (`build_elsewhere`) on the primary engine's URL; only an in-memory
    database, which no other process can open, is copied in this one.
    """

    def __init__(
        self,
        primary: sessionmaker[Session],
        config: ReplicaConfig | None,
        *,
        build: bool = True,
    ) -> None:
        self.primary = primary
        self.config = config
        self.build = build
        self._lock = threading.Lock()
        self._current: tuple[str, sessionmaker[Session], Engine] | None = None
        self._builder: threading.Thread | None = None
        self._cancel = Cancel()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session to read from; the caller must not write through it."""
        replica = self._replica_for(self._primary_version())
        with (replica or self.primary)() as session:
            yield session

    def start(self) -> None:
        """Start building the replica in the background if it is behind (e.g. at start-up)."""
        self._replica_for(self._primary_version())

    def on_replica(self) -> bool:
        """Whether the next read would be answered from a replica (for reports and tests)."""
        return self._replica_for(self._primary_version(), start=False) is not None

    def _primary_version(self) -> str | None:
        if self.config is None:
            return None
        with self.primary() as session:
            return data_version(session)

    def _replica_for(
        self, version: str | None, *, start: bool = True
    ) -> sessionmaker[Session] | None:
        if self.config is None or version is None:
            return None
        with self._lock:
            if self._current and self._current[0] == version:
                return self._current[1]
        path = replica_path(self.config.folder, version)
        if path.exists():
            try:
                return self._switch(version, path)
            except Exception:  # a damaged file: answer from the database, build it again
                log.exception("the read replica %s could not be opened", path.name)
                path.unlink(missing_ok=True)
        if start and self.build:
            self._start_build()
        return None

    def _switch(self, version: str, path: Path) -> sessionmaker[Session]:
        assert self.config is not None
        with self._lock:
            if self._current and self._current[0] == version:
                return self._current[1]
            engine = open_replica(path, self.config)
            try:  # fail here, not in an answer, if the file is bad
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT count(*) FROM products").all()
            except Exception:
                engine.dispose()
                raise
            factory = sessionmaker(engine, expire_on_commit=False)
            old, self._current = self._current, (version, factory, engine)
        if old:
            old[2].dispose()
        # Older versions are of no use to anyone (a process still reading one keeps it open).
        _remove_others(self.config.folder, keep=path)
        return factory

    def _start_build(self) -> None:
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return
            if not self._builder:
                # A thread still inside DuckDB when the interpreter exits aborts the process.
                atexit.register(self.close)
            self._builder = threading.Thread(
                target=self._build, name="basebot-replica", daemon=True
            )
            self._builder.start()

    def _build(self) -> None:
        try:
            version, path = self._built(self._cancel)
            self._switch(version, path)
            log.info("read replica ready for data version %s", version)
        except BuildCancelled:
            log.info("read replica build cancelled")
        except Exception:
            log.exception("building the read replica failed; answers come from the database")

    def refresh(self, *, progress: Progress = SILENT) -> str | None:
        """Build (or open) the replica for the primary's current version now; its version."""
        if self.config is None:
            return None
        version, path = self._built(Cancel(), progress)
        self._switch(version, path)
        return version

    def _built(self, cancel: Cancel, progress: Progress = SILENT) -> tuple[str, Path]:
        assert self.config is not None
        url = _shared_url(self.primary)
        if url is not None:
            return build_elsewhere(url, self.config, cancel=cancel, progress=progress)
        with snapshot(self.primary) as conn:
            return build_replica(conn, self.config, cancel=cancel, progress=progress)

    def close(self) -> None:
        """Stop a build in progress and close the replica (answers then read the database)."""
        self._cancel.set()
        if self._builder is not None:
            self._builder.join()
        with self._lock:
            current, self._current = self._current, None
        if current:
            current[2].dispose()


@contextmanager
def snapshot(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection whose reads all see one committed state of the database."""
    with factory() as session:
        conn = session.connection(
            execution_options={"isolation_level": "REPEATABLE READ"}
            if session.get_bind().dialect.name == "postgresql"
            else {}
        )
        if conn.dialect.name == "sqlite":
            # pysqlite starts no transaction for SELECTs; BEGIN pins one WAL snapshot.
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            session.rollback()


def _remove_others(folder: Path, *, keep: Path) -> None:
    for path in folder.glob(f"{PREFIX}*{SUFFIX}"):
        if path != keep:
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)


if __name__ == "__main__":
    _build_from_stdin()
