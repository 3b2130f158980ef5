"""The live bench's writer: the company's other systems changing the data, one commit at a time.

Plain SQL through the database driver (psycopg, sqlite3), none of basebot's code: basebot
must notice these changes the way it would notice an ERP or a CRM writing to its database.
Every change is dated the data set's today, so each one moves the answers as of today.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.datagen import CATALOG, CORE_CATEGORIES
from queries.db import normalize_url

# Kinds of change and how often each comes, per hundred commits.
MIX: tuple[tuple[str, int], ...] = (
    ("order", 40),
    ("new customer", 10),
    ("installation", 20),
    ("removal", 10),
    ("return", 10),
    ("customer update", 10),
)
_SEGMENTS = ("business", "consumer", "government", "nonprofit")
_PLACES = (("US", "AMER"), ("CA", "AMER"), ("DE", "EMEA"), ("FR", "EMEA"), ("JP", "APAC"))
SQLITE_BUSY_MS = 30_000


@dataclass(frozen=True)
class _Product:
    id: int
    category: str
    kind: str
    for_category: str | None
    installable: bool
    price: float


class _Connection:
    """One driver connection; statements are written with `?` placeholders."""

    def __init__(self, url: str) -> None:
        parsed = make_url(normalize_url(url))
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self._raw: Any
        if self.sqlite:
            # Made here, used on the writer's thread only.
            self._raw = sqlite3.connect(
                parsed.database or "",
                timeout=SQLITE_BUSY_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            self._raw.execute("PRAGMA journal_mode=WAL")
            self._raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            self._raw.execute("PRAGMA foreign_keys=ON")
        else:
            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self._raw = psycopg.connect(conninfo)

    def begin(self) -> None:
        if self.sqlite:
            # Take the write lock at once: a deferred transaction that reads first could be
            # refused the upgrade when the server writes its audit row meanwhile.
            self._raw.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        if self.sqlite:
            self._raw.execute("COMMIT")
        else:
            self._raw.commit()

    def rollback(self) -> None:
        if self.sqlite:
            if self._raw.in_transaction:
                self._raw.execute("ROLLBACK")
        else:
            self._raw.rollback()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self._raw.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return list(cursor.fetchall()) if cursor.description else []

    def one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        found = self.rows(sql, *params)
        return found[0] if found else None

    def close(self) -> None:
        self._raw.close()


@dataclass(frozen=True)
class Change:
    kind: str
    customer_ref: str | None  # the customer it touched


@dataclass
class WriterStats:
    kinds: Counter[str] = field(default_factory=Counter)
    commit_s: list[float] = field(default_factory=list)

    @property
    def commits(self) -> int:
        return len(self.commit_s)


class LiveWriter:
    """Commits one realistic change per `commit()` call, in a transaction of its own."""

    def __init__(self, url: str, *, today: date, customers: int, seed: int) -> None:
        self.db = _Connection(url)
        self.today = today
        self.customers = customers
        self.rnd = random.Random(seed)
        # Unique across runs on one database: refs carry the run's start time.
        self.tag = f"{int(time.time()):x}"
        self.made = 0
        self.stats = WriterStats()
        self._changes: dict[str, Callable[[], int | None]] = {
            "order": self._existing_customer_order,
            "new customer": self._new_customer,
            "installation": self._installation,
            "removal": self._removal,
            "return": self._return,
            "customer update": self._customer_update,
        }
        self._kinds = [kind for kind, _ in MIX]
        self._weights = [weight for _, weight in MIX]
        by_sku = {p.sku: p for p in CATALOG}
        self.products: list[_Product] = []
        for product_id, sku in self.db.rows("SELECT id, sku FROM products"):
            row = by_sku.get(sku)
            if row is not None:
                self.products.append(
                    _Product(
                        int(product_id),
                        row.category,
                        row.kind,
                        row.for_category,
                        row.installable,
                        row.list_price,
                    )
                )
        if not any(p.kind == "core" for p in self.products):
            raise RuntimeError("the database holds none of the bench's products")
        found = self.db.one("SELECT max(id) FROM purchases")
        self.max_purchase = int(found[0] or 1) if found else 1
        found = self.db.one("SELECT max(id) FROM installations")
        self.max_installation = int(found[0] or 1) if found else 1
        self.db.rollback()
        # Units sold by this writer and not installed yet: the next installations.
        self.pending: list[tuple[int, int, str]] = []

    def close(self) -> None:
        self.db.close()

    def commit(self) -> Change:
        """Make one change and commit it."""
        kind = self.rnd.choices(self._kinds, self._weights)[0]
        began = time.perf_counter()
        self.db.begin()
        try:
            customer_id = self._changes[kind]()
            found = None
            if customer_id is not None:
                found = self.db.one("SELECT customer_ref FROM customers WHERE id = ?", customer_id)
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        self.stats.commit_s.append(time.perf_counter() - began)
        self.stats.kinds[kind] += 1
        return Change(kind, None if found is None else str(found[0]))

    # ------------------------------------------------------------------ the changes

    def _next(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix}{self.tag}-{self.made}"

    def _day(self, offset: int = 0) -> str:
        return (self.today + timedelta(days=offset)).isoformat()

    def _customer_id(self) -> int:
        ref = f"C{self.rnd.randint(1, self.customers):07d}"
        found = self.db.one("SELECT id FROM customers WHERE customer_ref = ?", ref)
        if found is None:
            raise RuntimeError(f"customer {ref} is not in the database")
        return int(found[0])

    def _pick(self, kind: str, category: str | None = None) -> _Product:
        choices = [
            p
            for p in self.products
            if p.kind == kind and (category is None or category in (p.category, p.for_category))
        ]
        return self.rnd.choice(choices or [p for p in self.products if p.kind == "core"])

    def _order(self, customer_id: int) -> int:
        """An order of 1 to 5 lines: a core unit first, then what goes with it."""
        order = self._next("W")
        category = self.rnd.choice(CORE_CATEGORIES)
        lines = [self._pick("core", category)]
        for _ in range(self.rnd.randint(0, 4)):
            extra = self.rnd.choice(("consumable", "service", "accessory", "core"))
            lines.append(self._pick(extra, category))
        for line_no, product in enumerate(lines, 1):
            quantity = self.rnd.randint(1, 3) if product.kind != "service" else 1
            covered = product.kind in ("service", "subscription")
            self.db.rows(
                "INSERT INTO purchases (order_ref, line_no, customer_id, product_id, quantity,"
                " unit_price, purchased_on, coverage_start, coverage_end)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                order,
                line_no,
                customer_id,
                product.id,
                quantity,
                round(product.price * self.rnd.uniform(0.8, 1.0), 2),
                self._day(),
                self._day() if covered else None,
                self._day(364) if covered else None,
            )
            if product.installable:
                self.pending.extend([(customer_id, product.id, order)] * quantity)
        return customer_id

    def _existing_customer_order(self) -> int:
        return self._order(self._customer_id())

    def _new_customer(self) -> int:
        ref = self._next("CW")
        country, region = self.rnd.choice(_PLACES)
        found = self.db.one(
            "INSERT INTO customers (customer_ref, name, segment, channel, industry, country,"
            " region, email, created_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            ref,
            f"Live Customer {ref}",
            self.rnd.choice(_SEGMENTS),
            self.rnd.choice(("direct", "indirect")),
            self.rnd.choice(("commercial", "retail", "industrial", "wholesale")),
            country,
            region,
            None,
            self._day(),
        )
        assert found is not None
        return self._order(int(found[0]))

    def _installation(self) -> int:
        if self.pending:
            customer_id, product_id, order = self.pending.pop(0)
        else:
            customer_id, product_id, order = (
                self._customer_id(),
                self._pick("core").id,
                None,
            )
        self.db.rows(
            "INSERT INTO installations (serial, customer_id, product_id, order_ref, site,"
            " installed_on) VALUES (?, ?, ?, ?, ?, ?)",
            self._next("SNW"),
            customer_id,
            product_id,
            order,
            "HQ",
            self._day(),
        )
        return customer_id

    def _removal(self) -> int | None:
        active = (
            "SELECT id, customer_id FROM installations WHERE id >= ? AND removed_on IS NULL"
            " AND installed_on < ? ORDER BY id LIMIT 1"
        )
        found = self.db.one(active, self.rnd.randint(1, self.max_installation), self._day())
        if found is None:  # past the last active unit: the first one
            found = self.db.one(active, 1, self._day())
        if found is None:
            return None
        self.db.rows("UPDATE installations SET removed_on = ? WHERE id = ?", self._day(), found[0])
        return int(found[1])

    def _return(self) -> int | None:
        found = self.db.one(
            "SELECT order_ref, customer_id, product_id, unit_price FROM purchases"
            " WHERE id >= ? AND quantity > 0 AND purchased_on < ? ORDER BY id LIMIT 1",
            self.rnd.randint(1, self.max_purchase),
            self._day(),
        )
        if found is None:
            return None
        order, customer_id, product_id, price = found
        last = self.db.one("SELECT max(line_no) FROM purchases WHERE order_ref = ?", order)
        self.db.rows(
            "INSERT INTO purchases (order_ref, line_no, customer_id, product_id, quantity,"
            " unit_price, purchased_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
            order,
            int(last[0] if last else 0) + 1,
            customer_id,
            product_id,
            -1,
            price,
            self._day(),
        )
        return int(customer_id)

    def _customer_update(self) -> int:
        """A move to another segment, or to a country of another region."""
        customer_id = self._customer_id()
        found = self.db.one("SELECT segment, region FROM customers WHERE id = ?", customer_id)
        segment, region = found if found is not None else (None, None)
        if self.rnd.random() < 0.5:
            self.db.rows(
                "UPDATE customers SET segment = ? WHERE id = ?",
                self.rnd.choice([s for s in _SEGMENTS if s != segment]),
                customer_id,
            )
        else:
            country, region = self.rnd.choice([p for p in _PLACES if p[1] != region])
            self.db.rows(
                "UPDATE customers SET country = ?, region = ? WHERE id = ?",
                country,
                region,
                customer_id,
            )
        return customer_id
