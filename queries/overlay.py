"""A replica file kept in step with the database: the file, and the changes since, in memory.

A replica file never changes once built, so every process on the machine may open it
read-only at once (DuckDB allows one writing process per file). Each process lays its own
in-memory overlay over it: for every customer a change has touched since the file was built,
the overlay holds that customer's current rows (fetched from the database) and the state rows
and date-ordered copies derived from them; views of the tables' usual names show the file's
rows of all other customers plus the overlay. So the queries run unchanged, and a change of a
few rows costs a few indexed reads and a recomputation for one customer, not a rebuild.

An overlay is changed in one DuckDB transaction: a session, which reads in one transaction
too, sees it before or after a change, never half-way.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from duckdb_engine import ConnectionWrapper
from sqlalchemy import Connection, Engine, bindparam, create_engine, select
from sqlalchemy.pool import QueuePool

from queries import lines, timeline
from queries.freshness import Changes, DataState
from queries.models import Base
from queries.request import CUSTOMER_DIMENSIONS
from queries.timeline import RAW
from queries.vocabulary import FROZEN, ProductWord, Vocabulary, vocabulary_of

# The tables whose rows belong to one customer: table -> its customer column.
_BY_CUSTOMER = {"customers": "id", "purchases": "customer_id", "installations": "customer_id"}
_DERIVED = (*timeline.STATES, *lines.COPIES)
# The product columns derived rows depend on: a change of any other leaves them as they are.
_SHAPING = ("category", "kind", "installable")
_CHUNK = 1000


class TooLarge(Exception):
    """The change touches too many customers to apply in place: build a new file."""


class Overlay:
    """One replica file (`base`) and the changes applied over it (`state`)."""

    def __init__(self, path: Path, base: DataState, config: dict[str, Any], columns: Any) -> None:
        self.path = path
        self.base = base
        self.state = base
        self.checked_at = datetime.now(UTC)  # when the state was last known to be current
        self.masked = 0  # customers whose rows come from the overlay
        self._columns: dict[str, tuple[str, ...]] = columns
        self._root = duckdb.connect(":memory:", config=config)
        self._root.execute("ATTACH ? AS base (READ_ONLY)", [str(path)])
        meta = self._root.execute("SELECT last_at FROM base.replica_meta").fetchone()
        self.state_at: str | None = meta[0] if meta else None  # see freshness.stamp
        self._define()
        self._values = {
            dim: Counter(
                {
                    str(value): int(n)
                    for value, n in self._root.execute(
                        f"SELECT {dim}, count(*) FROM customers"  # noqa: S608
                        f" WHERE {dim} IS NOT NULL AND {dim} <> '' GROUP BY 1"
                    ).fetchall()
                }
            )
            for dim in CUSTOMER_DIMENSIONS
        }
        self.vocabulary = self._vocabulary(self._root)
        root = self._root
        self.engine: Engine = create_engine(
            "duckdb:///:memory:",
            creator=lambda: ConnectionWrapper(root.cursor()),
            poolclass=QueuePool,
            pool_size=4,
            max_overflow=12,
            execution_options={FROZEN: True},
        )
        self.lock = threading.Lock()  # one change applied at a time
        # Held while a change is made visible, and while a session starts: a session's DuckDB
        # snapshot, `state` and `vocabulary` always belong together.
        self.publish = threading.Lock()

    def _define(self) -> None:
        db = self._root
        db.execute("CREATE TABLE ov_masked (customer_id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE ov_batch (customer_id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE ov_products AS SELECT * FROM base.products")
        db.execute("CREATE VIEW products AS SELECT * FROM ov_products")
        for table, key in (*_BY_CUSTOMER.items(), *((name, "customer_id") for name in _DERIVED)):
            db.execute(f"CREATE TABLE ov_{table} AS SELECT * FROM base.{table} LIMIT 0")  # noqa: S608
            db.execute(
                f"CREATE VIEW {table} AS SELECT b.* FROM base.{table} b"  # noqa: S608
                f" ANTI JOIN ov_masked m ON b.{key} = m.customer_id"
                f" UNION ALL SELECT * FROM ov_{table}"
            )

    def close(self) -> None:
        self.engine.dispose()

    def apply(self, conn: Connection, target: DataState, changes: Changes, *, limit: int) -> None:
        """Bring the overlay to `target`, reading the touched rows through `conn`, which must
        see the database at exactly `target` (one snapshot). Raises TooLarge past `limit`
        customers."""
        customers = set(changes.customers)
        products: list[tuple[Any, ...]] | None = None
        if changes.products:
            products = self._fetch(conn, "products", None, ())
            customers |= self._reshaped(products)
        if len(customers) > limit:
            raise TooLarge(f"{len(customers)} customers changed")
        batch = sorted(customers)
        fetched = {t: self._fetch(conn, t, key, batch) for t, key in _BY_CUSTOMER.items()}
        db = self._root.cursor()
        db.begin()
        try:
            if products is not None:
                db.execute("DELETE FROM ov_products")
                self._insert(db, "ov_products", products)
            db.execute("DELETE FROM ov_batch")
            self._insert(db, "ov_batch", [(c,) for c in batch])
            in_batch = "IN (SELECT customer_id FROM ov_batch)"
            # Their values as they were, before the overlay takes them over.
            dims = ", ".join(CUSTOMER_DIMENSIONS)
            old = db.execute(f"SELECT {dims} FROM customers WHERE id {in_batch}")  # noqa: S608
            self._count(old.fetchall(), -1)
            db.execute("INSERT OR IGNORE INTO ov_masked SELECT customer_id FROM ov_batch")
            for table, key in _BY_CUSTOMER.items():
                db.execute(f"DELETE FROM ov_{table} WHERE {key} {in_batch}")  # noqa: S608
                self._insert(db, f"ov_{table}", fetched[table])
            sources = dict(RAW)
            for table, key in _BY_CUSTOMER.items():
                sources[table] = f"(SELECT * FROM ov_{table} WHERE {key} {in_batch})"  # noqa: S608
            for name, keys in timeline.STATES.items():
                db.execute(f"DELETE FROM ov_{name} WHERE customer_id {in_batch}")  # noqa: S608
                db.execute(f"INSERT INTO ov_{name} {timeline.state_select(keys, sources)}")
            for name, (select_rows, _order) in lines.COPIES.items():
                db.execute(f"DELETE FROM ov_{name} WHERE customer_id {in_batch}")  # noqa: S608
                db.execute(f"INSERT INTO ov_{name} {select_rows(sources)}")
            at = [self._columns["customers"].index(dim) for dim in CUSTOMER_DIMENSIONS]
            self._count([tuple(row[i] for i in at) for row in fetched["customers"]], +1)
            vocabulary = self._vocabulary(db)
            masked = db.execute("SELECT count(*) FROM ov_masked").fetchone()
            with self.publish:
                db.commit()
                self.state = target
                self.state_at = changes.until_at
                if vocabulary != self.vocabulary:
                    self.vocabulary = vocabulary
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()
        self.masked = int(masked[0]) if masked else 0
        self.checked_at = datetime.now(UTC)

    def _count(self, rows: Iterable[Sequence[Any]], step: int) -> None:
        """Count customers' dimension values in (step 1) or out (-1) of the vocabulary."""
        for row in rows:
            for dim, value in zip(CUSTOMER_DIMENSIONS, row, strict=True):
                if value is not None and value != "":
                    self._values[dim][str(value)] += step

    def _vocabulary(self, db: duckdb.DuckDBPyConnection) -> Vocabulary:
        products = db.execute("SELECT sku, name, category FROM ov_products").fetchall()
        return vocabulary_of(
            (ProductWord(*row) for row in products),
            {dim: (v for v, n in counts.items() if n > 0) for dim, counts in self._values.items()},
        )

    def _reshaped(self, products: Sequence[tuple[Any, ...]]) -> set[int]:
        """Customers with rows of a product whose category, kind or installable changed."""
        names = self._columns["products"]
        at = [names.index(c) for c in ("id", *_SHAPING)]
        new = {row[at[0]]: tuple(row[i] for i in at[1:]) for row in products}
        old = {
            row[0]: tuple(row[1:])
            for row in self._root.cursor()
            .execute(f"SELECT id, {', '.join(_SHAPING)} FROM ov_products")  # noqa: S608
            .fetchall()
        }
        changed = [p for p in old.keys() | new.keys() if old.get(p) != new.get(p)]
        if not changed:
            return set()
        found = self._root.cursor().execute(
            "SELECT customer_id FROM purchases WHERE list_contains(?, product_id)"
            " UNION SELECT customer_id FROM installations WHERE list_contains(?, product_id)",
            [changed, changed],
        )
        return {int(row[0]) for row in found.fetchall()}

    def _fetch(
        self, conn: Connection, table: str, key: str | None, ids: Sequence[int]
    ) -> list[tuple[Any, ...]]:
        """The current rows of `table` (of the customers `ids`; all rows when key is None)."""
        t = Base.metadata.tables[table]
        query = select(*(t.c[name] for name in self._columns[table]))
        if key is None:
            return [tuple(row) for row in conn.execute(query)]
        query = query.where(t.c[key].in_(bindparam("ids", expanding=True)))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            rows += [tuple(row) for row in conn.execute(query, {"ids": chunk})]
        return rows

    @staticmethod
    def _insert(db: duckdb.DuckDBPyConnection, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        rows = list(rows)
        if not rows:
            return
        width = len(rows[0])
        one = "(" + ", ".join("?" * width) + ")"
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            values = ", ".join([one] * len(chunk))
            db.execute(
                f"INSERT INTO {table} VALUES {values}",  # noqa: S608 -- fixed names
                [v for row in chunk for v in row],
            )
