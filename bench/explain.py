"""Query plans of a verb: every SQL statement basebot sends for it, explained.

Each statement is charged the wall time from its start to the next statement's (or the
answer's end), so fetching and Python work on its rows count too. PostgreSQL adds
EXPLAIN (ANALYZE, BUFFERS) of each statement (run again); SQLite gets EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

from bench.guard import deadline
from bot.ask import ask_json
from bot.settings import Settings
from queries.db import make_engine, make_sessionmaker
from queries.request import Me

_EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


@dataclass(frozen=True)
class Statement:
    sql: str
    ms: float  # wall time inside basebot's run
    plan: str
    execution_ms: float | None = None  # PostgreSQL's own figure, from EXPLAIN ANALYZE


@dataclass(frozen=True)
class VerbPlans:
    label: str
    command: str
    statements: tuple[Statement, ...]  # slowest first

    @property
    def total_ms(self) -> float:
        return sum(s.ms for s in self.statements)


def explain_verbs(
    url: str,
    backend: str,
    commands: list[tuple[str, str, bool]],
    as_of: date,
    timeout_s: float,
    me: Me | None = None,
) -> list[VerbPlans]:
    """Plans of each (label, command, warm_up first) in turn, asked by `me`."""
    engine = make_engine(url)
    try:
        return [
            VerbPlans(
                label, command, _explain(engine, backend, command, as_of, timeout_s, warm_up, me)
            )
            for label, command, warm_up in commands
        ]
    finally:
        engine.dispose()


def _explain(
    engine: Engine,
    backend: str,
    command: str,
    as_of: date,
    timeout_s: float,
    warm_up: bool,
    me: Me | None,
) -> tuple[Statement, ...]:
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False))
    factory = make_sessionmaker(engine)

    def answer() -> None:
        with factory() as session, deadline(session, timeout_s) as limit:
            try:
                ask_json(session, command, as_of=as_of, settings=settings, me=me)
            except DBAPIError:
                if not limit.fired:
                    raise

    if warm_up:  # first-use costs would otherwise land on the first statement
        answer()
    captured: list[tuple[float, str, Any]] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((time.perf_counter(), statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        answer()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ends = [began for began, _, _ in captured[1:]] + [time.perf_counter()]
    out = []
    with engine.connect() as conn:
        for (began, statement, parameters), end in zip(captured, ends, strict=True):
            ms = (end - began) * 1000
            if backend == "postgresql":
                out.append(_postgres_plan(conn, statement, parameters, ms, timeout_s))
            elif backend == "duckdb":
                out.append(_duckdb_plan(conn, statement, parameters, ms))
            else:
                out.append(_sqlite_plan(conn, statement, parameters, ms))
            conn.rollback()
    return tuple(sorted(out, key=lambda s: -s.ms))


def _postgres_plan(
    conn: Connection, statement: str, parameters: Any, ms: float, timeout_s: float
) -> Statement:
    # A statement that ran past the timeout gets its estimated plan: ANALYZE would rerun it.
    analyze = ms < timeout_s * 1000
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    plan = "\n".join(str(r[0]) for r in rows)
    found = _EXECUTION.search(plan)
    return Statement(statement, ms, plan, float(found.group(1)) if found else None)


def _duckdb_plan(conn: Connection, statement: str, parameters: Any, ms: float) -> Statement:
    rows = conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters).all()
    return Statement(statement, ms, "\n".join(str(r[-1]) for r in rows))


def _sqlite_plan(conn: Connection, statement: str, parameters: Any, ms: float) -> Statement:
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    depth: dict[int, int] = {0: 0}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, 0) + 1
        lines.append("  " * (depth[node] - 1) + str(detail))
    return Statement(statement, ms, "\n".join(lines))
