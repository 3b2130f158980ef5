"""Change capture: database triggers that log which customers and products each commit touched.

Every write to the four data tables, whoever makes it (basebot, psql, an ETL job), adds rows to
`data_changes` in the writer's own transaction: one per customer (or product) the statement
touched, numbered by `data_version.seq`. Because each writing statement first updates that
one row, writers queue on its lock until commit, so the numbers are gapless and in commit
order: a reader that has applied every change up to n has seen every commit up to n.

A statement touching more than `BULK_ROWS` rows (a bulk import, a mass update) and TRUNCATE
log nothing and renew `data_version.version` instead: the change is too large to apply in
place, and every read replica is rebuilt from scratch.

PostgreSQL: statement-level triggers with transition tables (one set-based INSERT per
statement). SQLite has no statement triggers: row triggers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from queries.freshness import renew_epoch

BULK_ROWS = 50_000
# PostgreSQL: a notification on this channel at every commit that logged changes, so replicas
# can apply them before the next question comes (queries/replica.py, ReadPath.start).
CHANNEL = "basebot_changes"

# table -> (the data_changes column it touches, the table's column holding that key)
_KEYS = {
    "customers": ("customer_id", "id"),
    "products": ("product_id", "id"),
    "purchases": ("customer_id", "customer_id"),
    "installations": ("customer_id", "customer_id"),
}
_OPS = ("insert", "update", "delete")
_RENEW = (
    "UPDATE data_version SET version = md5(random()::text || clock_timestamp()::text),"
    " seq = seq + 1 WHERE id = 1"
)


def _pg_keys(op: str, column: str) -> str:
    sources = {"insert": ("new_rows",), "delete": ("old_rows",), "update": ("old_rows", "new_rows")}
    return " UNION ".join(f"SELECT {column} AS k FROM {rows}" for rows in sources[op])  # noqa: S608


def postgresql_capture(*, drop: bool = False) -> Iterator[str]:
    """The statements creating (or dropping) the PostgreSQL capture functions and triggers."""
    if not drop:
        yield (
            "CREATE OR REPLACE FUNCTION basebot_capture_renew() RETURNS trigger LANGUAGE plpgsql"
            f" AS $$ BEGIN {_RENEW}; RETURN NULL; END $$"
        )
    for table, (key, column) in _KEYS.items():
        for op in _OPS:
            name = f"basebot_capture_{table}_{op}"
            if drop:
                yield f"DROP TRIGGER IF EXISTS {name} ON {table}"
                yield f"DROP FUNCTION IF EXISTS {name}()"
                continue
            counted = "new_rows" if op != "delete" else "old_rows"
            yield f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n bigint; s bigint; stamp timestamptz := clock_timestamp();
BEGIN
    IF current_setting('basebot.bulk', true) = 'on' THEN RETURN NULL; END IF;
    SELECT count(*) INTO n FROM (SELECT 1 FROM {counted} LIMIT {BULK_ROWS + 1}) r;
    IF n = 0 THEN RETURN NULL; END IF;
    IF n > {BULK_ROWS} THEN
        {_RENEW};
        RETURN NULL;
    END IF;
    SELECT count(*) INTO n FROM ({_pg_keys(op, column)}) t;
    UPDATE data_version SET seq = seq + n WHERE id = 1 RETURNING seq - n INTO s;
    INSERT INTO data_changes (seq, {key}, at)
    SELECT s + row_number() OVER (ORDER BY k), k, stamp FROM ({_pg_keys(op, column)}) keys;
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$"""  # noqa: S608 -- fixed names, no user text
            transition = {
                "insert": "NEW TABLE AS new_rows",
                "delete": "OLD TABLE AS old_rows",
                "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            }[op]
            yield (
                f"CREATE TRIGGER {name} AFTER {op.upper()} ON {table} REFERENCING {transition}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        truncate = f"basebot_capture_{table}_truncate"
        if drop:
            yield f"DROP TRIGGER IF EXISTS {truncate} ON {table}"
        else:
            yield (
                f"CREATE TRIGGER {truncate} AFTER TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION basebot_capture_renew()"
            )
    if drop:
        yield "DROP FUNCTION IF EXISTS basebot_capture_renew()"


def _sqlite_log(key: str, value: str, when: str = "") -> str:
    return (
        f"UPDATE data_version SET seq = seq + 1 WHERE id = 1{when};"  # noqa: S608
        f" INSERT INTO data_changes (seq, {key}, at)"
        f" SELECT seq, {value}, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM data_version"
        f" WHERE id = 1{when};"
    )


def sqlite_capture() -> Iterator[str]:
    """The statements creating the SQLite capture triggers (row triggers)."""
    for table, (key, column) in _KEYS.items():
        for op in _OPS:
            if op == "insert":
                body = _sqlite_log(key, f"NEW.{column}")
            elif op == "delete":
                body = _sqlite_log(key, f"OLD.{column}")
            else:
                moved = f" AND NEW.{column} IS NOT OLD.{column}"
                body = (
                    _sqlite_log(key, f"OLD.{column}")
                    + " "
                    + _sqlite_log(key, f"NEW.{column}", moved)
                )
            yield (
                f"CREATE TRIGGER IF NOT EXISTS basebot_capture_{table}_{op}"
                f" AFTER {op.upper()} ON {table} BEGIN {body} END"
            )


def sqlite_capture_drop() -> Iterator[str]:
    for table in _KEYS:
        for op in _OPS:
            yield f"DROP TRIGGER IF EXISTS basebot_capture_{table}_{op}"


@contextmanager
def bulk_load(session: Session) -> Iterator[None]:
    """Write millions of rows without logging each: the replicas are rebuilt afterwards.

    On SQLite the row triggers are dropped for the caller's transaction and created again at
    its end (DDL is transactional there, and the write lock keeps other writers out
    meanwhile); PostgreSQL's triggers see `basebot.bulk` set for the transaction and log
    nothing. Either way the version is renewed, in the same transaction.
    """
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        for statement in sqlite_capture_drop():
            conn.exec_driver_sql(statement)
    else:
        conn.exec_driver_sql("SET LOCAL basebot.bulk = 'on'")
    yield
    if sqlite:
        for statement in sqlite_capture():
            conn.exec_driver_sql(statement)
    else:
        conn.exec_driver_sql("SET LOCAL basebot.bulk = 'off'")
    renew_epoch(session)
