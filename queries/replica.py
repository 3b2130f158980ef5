"""The read replica: a columnar copy (DuckDB) of the four data tables, for fast answers.

Every predefined query is plain SQLAlchemy Core, so the same statements run on the primary
database or on the replica; the replica only changes how fast they run. A replica file
`replica-<version>-<seq>.f5.duckdb` holds exactly the rows of that data state
(queries/freshness.py); each process keeps it current with the changes logged since
(queries/capture.py, queries/overlay.py) and answers from it only once it has applied every
change committed before the question. A replica can make an answer slower, never different.
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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Engine, create_engine, delete, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from queries import lines, timeline
from queries.capture import CHANNEL
from queries.freshness import DataState, change_at, changes_between, data_state
from queries.models import DataChange
from queries.overlay import Overlay, TooLarge
from queries.progress import SILENT, Progress, Step, named
from queries.request import DIRECT, OFFLINE, READ_FROM, Source
from queries.vocabulary import FROZEN, VOCABULARY

log = logging.getLogger(__name__)

PREFIX = "replica-"
# What a replica file holds; a file written by code of another format is never opened.
FORMAT = "f5"
# DuckDB's buffer pool and working memory; what it needs beyond that it spills to disk.
DEFAULT_REPLICA_MEMORY = "128MB"
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
            ("owner", "VARCHAR"),
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


# The changes a process applies before answering; more, and the answer comes from the
# database while a new file is built. Logged changes are kept well beyond that for other
# processes and machines that are behind, then pruned by the next build.
SYNC_CHANGES = 5_000
KEEP_CHANGES = 200_000
# How long the follower waits for a notification before asking anyway; SQLite's poll.
FOLLOW_SECONDS = 0.5
SQLITE_POLL_SECONDS = 0.1
# Customers an overlay holds before a new file is built to replace it (it answers meanwhile).
CONSOLIDATE_AT = 20_000
_NAME = re.compile(rf"^{PREFIX}([0-9a-f]+)-(\d+)\.{FORMAT}{re.escape(SUFFIX)}$")
_LEFTOVER = re.compile(rf"^{PREFIX}.*\.(\d+)\.(partial|partial\.wal|csv)$")


def replica_path(folder: Path, state: DataState) -> Path:
    return folder / f"{PREFIX}{state.version}-{state.seq}.{FORMAT}{SUFFIX}"


def newest_file(folder: Path, version: str, *, upto: int) -> tuple[DataState, Path] | None:
    """The newest replica file of lineage `version` built at or before change `upto`."""
    found: list[tuple[DataState, Path]] = []
    for path in folder.glob(f"{PREFIX}{version}-*{SUFFIX}"):
        match = _NAME.match(path.name)
        if match and match[1] == version and int(match[2]) <= upto:
            found.append((DataState(version, int(match[2])), path))
    return max(found, default=None)


def remove_leftovers(folder: Path) -> list[Path]:
    """Half-written files of builds whose process is gone (killed, or the machine stopped)."""
    removed = []
    for path in folder.glob(f"{PREFIX}*"):
        match = _LEFTOVER.match(path.name)
        if match and not _alive(int(match[1])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)

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
) -> tuple[DataState, Path]:
    """Copy the four tables as `conn` sees them into a new replica file; (state, path).

    The caller gives a connection whose reads form one snapshot (a REPEATABLE READ
    transaction on PostgreSQL, one open transaction on SQLite), so the rows and the state
    belong together. An existing file for that state is reused.
    """
    state = data_state(conn)
    if state is None:
        raise RuntimeError("the database has no data_version row: run `basebot init-db`")
    # A full copy of the data (contact fields included): for this user's eyes only.
    config.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = replica_path(config.folder, state)
    with _lock(config.folder):
        if path.exists():
            return state, path
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        try:
            at = change_at(conn, state.seq)
            _write(conn, partial, config, cancel or Cancel(), progress, state, at)
            partial.chmod(0o600)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
            partial.with_suffix(".csv").unlink(missing_ok=True)
    return state, path


def prune_changes(factory: sessionmaker[Session], upto: int) -> None:
    """Forget logged changes far behind `upto`; a replica that still needed them is rebuilt."""
    try:
        with factory() as session, session.begin():
            session.execute(delete(DataChange).where(DataChange.seq <= upto - KEEP_CHANGES))
    except SQLAlchemyError as exc:  # e.g. a read-only serving user: the log just grows
        log.warning("old logged changes could not be pruned: %s", type(exc).__name__)


def build_elsewhere(
    database_url: str,
    config: ReplicaConfig,
    *,
    cancel: Cancel | None = None,
    progress: Progress = SILENT,
) -> tuple[DataState, Path]:
    """`build_replica` in a process of its own (`python -m queries.replica`); (state, path).

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
    return DataState(done["version"], done["seq"]), Path(done["path"])


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
        factory = make_sessionmaker(engine)
        with snapshot(factory) as conn:
            state, path = build_replica(conn, config, progress=named(job["progress"]))
        prune_changes(factory, state.seq)
    finally:
        engine.dispose()
    print(json.dumps({"version": state.version, "seq": state.seq, "path": str(path)}))


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
    conn: Connection,
    path: Path,
    config: ReplicaConfig,
    cancel: Cancel,
    progress: Progress,
    state: DataState,
    at: str | None,
) -> None:
    db = duckdb.connect(str(path), config=_duckdb_config(config, path.parent))
    cancel.watch(db)
    try:
        # Which state the file holds, and when its last change was made (see Overlay.apply).
        db.execute("CREATE TABLE replica_meta (version VARCHAR, seq BIGINT, last_at VARCHAR)")
        db.execute("INSERT INTO replica_meta VALUES (?, ?, ?)", [state.version, state.seq, at])
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


class Gap(Exception):
    """The logged changes do not lead from the replica's state to the database's."""


class ReadPath:
    """Where answers are read: the replica, once it has applied every change committed before
    the question; else the primary.

    Each `session()` reads the primary's data state (one indexed single-row read). A replica
    a few changes behind applies them first (queries/overlay.py); one further behind, or of
    another lineage, answers nothing until a background thread has built a new file (in a
    process of its own, `build_elsewhere`) or opened one another process built. While the
    primary cannot be reached at all, the replica answers with the state it last knew, and
    says so.
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
        self._lock = threading.Lock()  # guards _live and _builder
        self._switching = threading.Lock()  # one thread opens a file at a time
        self._live: Overlay | None = None
        self._builder: threading.Thread | None = None
        self._follower: threading.Thread | None = None
        self._cancel = Cancel()
        if config is not None and config.folder.is_dir():
            for path in remove_leftovers(config.folder):
                log.info("removed %s, left by a build that did not finish", path.name)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session to read from; the caller must not write through it."""
        try:
            head = self._head()
        except OperationalError:
            live = self._live
            if live is None:
                raise
            log.warning("the database cannot be reached: answering from the read replica")
            with self._session_on(live, Source(OFFLINE, live.checked_at)) as session:
                yield session
            return
        live = self._current_for(head)
        if live is not None:
            with self._session_on(live, None) as session:
                yield session
            return
        with self.primary() as session:
            if self.config is not None:
                session.info[READ_FROM] = Source(DIRECT)
            yield session

    def start(self) -> None:
        """Open or start building the replica, and keep it current in the background as
        changes are committed, so that questions seldom wait for one (serving processes)."""
        self._current_for(self._head())
        if self.config is not None and self._follower is None:
            self._follower = threading.Thread(
                target=self._follow, name="basebot-follow", daemon=True
            )
            self._follower.start()

    def _follow(self) -> None:
        waiter = _Waiter(self.primary)
        try:
            while not self._cancel.cancelled:
                try:
                    waiter.wait(FOLLOW_SECONDS)
                    head = self._head()
                    live = self._live
                    if live is not None and head is not None and _within(live.state, head):
                        self._catch_up(live, head)
                except Exception:  # e.g. the database is away: try again later
                    log.debug("following the database's changes failed", exc_info=True)
                    waiter.close()
                    self._cancel.wait(FOLLOW_SECONDS)
        finally:
            waiter.close()

    def on_replica(self) -> bool:
        """Whether the next read would be answered from a replica (opening the newest file
        there is if this process has none yet; for reports, the CLI and tests)."""
        head = self._head()
        if head is None:
            return False
        live = self._live
        return (live is not None and _within(live.state, head)) or self._open_file(head) is not None

    def _head(self) -> DataState | None:
        if self.config is None:
            return None
        with self.primary() as session:
            return data_state(session)

    @contextmanager
    def _session_on(self, live: Overlay, source: Source | None) -> Iterator[Session]:
        session = Session(live.engine)
        try:
            with live.publish:  # the snapshot and the vocabulary belong together
                session.execute(text("SELECT count(*) FROM ov_batch"))
                session.info[VOCABULARY] = live.vocabulary
            if source is not None:
                session.info[READ_FROM] = source
            yield session
        finally:
            session.close()

    def _current_for(self, head: DataState | None) -> Overlay | None:
        if self.config is None or head is None:
            return None
        live = self._live
        if live is None or not _within(live.state, head):
            live = self._open_file(head)
            if live is None:
                if self.build:
                    self._start_build()
                return None
        if live.state.seq < head.seq and not self._catch_up(live, head):
            return None
        live.checked_at = datetime.now(UTC)
        return live

    def _open_file(self, head: DataState) -> Overlay | None:
        """The newest file this lineage has, if few enough changes lead from it to `head`."""
        assert self.config is not None
        with self._switching:
            live = self._live
            if live is not None and _within(live.state, head):
                return live  # another thread opened it meanwhile
            found = newest_file(self.config.folder, head.version, upto=head.seq)
            if found is None or not _within(found[0], head):
                return None
            try:
                opened = self._overlay(*found)
            except Exception:  # a damaged file: answer from the database, build it again
                log.exception("the read replica %s could not be opened", found[1].name)
                found[1].unlink(missing_ok=True)
                return None
            with self.primary() as session:
                logged = change_at(session, opened.state.seq)
            if logged != opened.state_at:  # built before a backup was restored
                log.info("the read replica %s is of another history", found[1].name)
                opened.close()
                found[1].unlink(missing_ok=True)
                return None
            self._install(opened)
            return opened

    def _overlay(self, state: DataState, path: Path) -> Overlay:
        assert self.config is not None
        columns = {t: tuple(name for name, _ in cols) for t, (cols, _) in _TABLES.items()}
        return Overlay(path, state, _duckdb_config(self.config, path.parent), columns)

    def _install(self, live: Overlay) -> None:
        assert self.config is not None
        with self._lock:
            old, self._live = self._live, live
        if old is not None and old is not live:
            old.close()
        # Older files are of no use to this process (another still reading one keeps it open).
        _remove_others(self.config.folder, keep=live.path)

    def _catch_up(self, live: Overlay, head: DataState, *, limit: int = SYNC_CHANGES) -> bool:
        """Apply the changes up to `head` at least; False (and a new build) when they cannot
        be applied in place."""
        with live.lock:
            if live.state.seq >= head.seq:
                return True
            try:
                with snapshot(self.primary) as conn:
                    target = data_state(conn)
                    if target is None or target.version != live.state.version:
                        raise Gap("the data took on a new version")
                    if target.seq < live.state.seq:
                        raise Gap("the database went back to an earlier state")
                    changes = changes_between(conn, live.state.seq, target.seq)
                    if not changes.complete:
                        raise Gap("logged changes are missing")
                    if changes.since_at != live.state_at:
                        raise Gap("the change log was rewritten (a restored backup?)")
                    live.apply(conn, target, changes, limit=limit)
            except (Gap, TooLarge) as exc:
                log.info("the read replica cannot follow (%s): building a new one", exc)
                self._discard(live)  # of no further use: do not try again per question
                if self.build:
                    self._start_build()
                return False
        if live.masked > CONSOLIDATE_AT and self.build:
            self._start_build()
        return True

    def _discard(self, live: Overlay) -> None:
        """Stop using a replica that cannot follow, and remove its file: no process could
        catch up from it (those that have it open go on until they find so too)."""
        with self._lock:
            if self._live is live:
                self._live = None
        live.close()
        live.path.unlink(missing_ok=True)

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
            state = self._rebuild(self._cancel)
            log.info("read replica ready for data state %s", state.name)
        except BuildCancelled:
            log.info("read replica build cancelled")
        except Exception:
            log.exception("building the read replica failed; answers come from the database")

    def refresh(self, *, progress: Progress = SILENT) -> DataState | None:
        """Build (or open) the replica for the primary's current state now; that state."""
        if self.config is None:
            return None
        return self._rebuild(Cancel(), progress)

    def _rebuild(self, cancel: Cancel, progress: Progress = SILENT) -> DataState:
        state, path = self._built(cancel, progress)
        live = self._overlay(state, path)
        head = self._head()
        # Changes committed during the build: applied here, where no answer waits for them.
        if head is not None and head.seq > state.seq:
            self._catch_up(live, head, limit=KEEP_CHANGES)
        self._install(live)
        return live.state

    def _built(self, cancel: Cancel, progress: Progress = SILENT) -> tuple[DataState, Path]:
        assert self.config is not None
        url = _shared_url(self.primary)
        if url is not None:
            return build_elsewhere(url, self.config, cancel=cancel, progress=progress)
        with snapshot(self.primary) as conn:
            return build_replica(conn, self.config, cancel=cancel, progress=progress)

    def close(self) -> None:
        """Stop a build in progress and close the replica (answers then read the database)."""
        self._cancel.set()
        for thread in (self._builder, self._follower):
            if thread is not None:
                thread.join()
        with self._lock:
            current, self._live = self._live, None
        if current:
            current.close()


class _Waiter:
    """Waits until the database may have new changes: PostgreSQL notifies at each commit
    that logged some (LISTEN); SQLite, a file on this machine, is asked again."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        bind = factory.kw.get("bind")
        self._engine = bind if isinstance(bind, Engine) else None
        self._listen = self._engine is not None and self._engine.dialect.name == "postgresql"
        self._raw: Any = None  # a pooled connection of the engine's, kept for LISTEN

    def wait(self, seconds: float) -> None:
        if not self._listen or self._engine is None:
            time.sleep(SQLITE_POLL_SECONDS)
            return
        if self._raw is None:
            self._raw = self._engine.raw_connection()
            self._raw.driver_connection.autocommit = True
            self._raw.driver_connection.execute(f"LISTEN {CHANNEL}")
        for _ in self._raw.driver_connection.notifies(timeout=seconds, stop_after=1):
            pass

    def close(self) -> None:
        if self._raw is not None:
            self._raw.invalidate()  # closed, not handed back to the pool still listening
            self._raw = None


def _within(state: DataState, head: DataState) -> bool:
    """Whether the changes from `state` to `head` are few enough to apply before answering."""
    return state.version == head.version and 0 <= head.seq - state.seq <= SYNC_CHANGES


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
    """Remove every replica file older than `keep` (a newer one another process built stays)."""
    kept = _NAME.match(keep.name)
    for path in folder.glob(f"{PREFIX}*{SUFFIX}"):
        found = _NAME.match(path.name)
        newer = kept and found and found[1] == kept[1] and int(found[2]) > int(kept[2])
        if path != keep and not newer:
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)


if __name__ == "__main__":
    _build_from_stdin()
