"""Small seeded random data sets, concentrated on the boundaries SPEC.md names around a date D.

Each data set is plain dicts with explicit ids (inserted with Core `insert`), so a seed always
gives the same rows. The data stays "healthy" where the SPEC is ambiguous about unhealthy data
(every return follows a purchase of the same product; every service or subscription line for a
category follows a purchase of that category and starts no earlier than it was bought), but
deliberately includes the unhealthy cases the SPEC does define: installations without any
purchase (also for prospects), returns that make the net quantity 0 or negative, installable
units never installed, NULL and empty dimension values.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product, Purchase

ANCHORS = (
    date(2028, 2, 29),
    date(2029, 3, 1),
    date(2024, 6, 15),
    date(2025, 1, 1),
    date(2027, 2, 28),
    date(2024, 3, 1),
    date(2026, 12, 31),
    date(2029, 2, 28),
    date(2025, 7, 31),
)

# sku, name, category, kind, for_category, installable, list_price
CATALOG: tuple[tuple[str, str, str, str, str | None, bool, float], ...] = (
    ("PR-100", "Office Laser 100", "printers", "core", None, True, 400.0),
    ("PR-200", "Wide Format 200", "printers", "core", None, True, 2500.0),
    ("CP-300", "Copystar 300", "copiers", "core", None, True, 6000.0),
    ("FN-10", "Stapler finisher", "finishers", "accessory", "copiers", True, 800.0),
    ("LT-14", "Notebook 14", "laptops", "core", None, False, 1200.0),
    ("TN-1", "Black toner", "supplies", "consumable", "printers", False, 80.0),
    ("DR-3", "Copier drum", "supplies", "consumable", "copiers", False, 150.0),
    ("CB-1", "USB cable", "cables", "accessory", "printers", False, 10.0),
    ("SV-PR", "Printer care pack", "maintenance", "service", "printers", False, 300.0),
    ("SV-CP", "Copier care pack", "maintenance", "service", "copiers", False, 900.0),
    ("SUB-C", "Cloud print", "software", "subscription", "printers", False, 120.0),
    ("SUB-F", "Fleet insights", "software", "subscription", None, False, 200.0),
)
SKU = {row[0]: row for row in CATALOG}
CORE_FOR = {"printers": ("PR-100", "PR-200"), "copiers": ("CP-300", "FN-10")}
SERVICE_FOR = {"printers": "SV-PR", "copiers": "SV-CP"}
CONSUMABLE_FOR = {"printers": "TN-1", "copiers": "DR-3"}

# Day offsets from D the SPEC makes boundaries of (and their neighbours).
PURCHASE_OFFSETS = (
    0, -1, 1, -7, -8, -9, -13, -14, -15, -89, -90, -91, -92, -181, -182, -183,
    -272, -273, -274, -363, -364, -365, -366,
)  # fmt: skip
COVERAGE_END_OFFSETS = (0, -1, 1, 2, 29, 30, 31, 32, 59, 60, 61, 62)
REMOVAL_OFFSETS = (0, 1, -1, 2, -6, -7, -8, -9, -363, -364, -365, -366)

NAMES = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
    "Soylent", "Wonka", "Cyberdyne", "Gringotts", "Oceanic", "Monarch", "Nakatomi",
)  # fmt: skip
SUFFIXES = ("Ltd", "GmbH", "Inc", "SA", "KK", "Pty", "LLC", "Group", "Partners", "Holdings")
# Account owners (SPEC §9): emails (one in two spellings) and Slack ids; None: no owner.
OWNERS = ("ann@acme.example", "U0BOB", "cara@acme.example", None, "U0DAN", "ANN@Acme.example", None)

PLACES = (
    ("AMER", "US"), ("AMER", "US"), ("AMER", "US"), ("AMER", "CA"), ("EMEA", "DE"),
    ("EMEA", "FR"), ("EMEA", "GB"), ("APAC", "JP"), ("APAC", "AU"), (None, None),
    ("EMEA", None), (None, "US"), ("AMER", "MX"),
)  # fmt: skip


@dataclass
class Dataset:
    seed: int
    anchor: date
    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    purchases: list[dict[str, Any]] = field(default_factory=list)
    installations: list[dict[str, Any]] = field(default_factory=list)
    lookup_refs: list[str] = field(default_factory=list)
    lookup_emails: list[str] = field(default_factory=list)
    lookup_names: list[str] = field(default_factory=list)

    @property
    def as_of_dates(self) -> list[date]:
        return [self.anchor - timedelta(days=1), self.anchor, self.anchor + timedelta(days=1)]


def five_years_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 5)
    except ValueError:
        return day.replace(year=day.year - 5, day=28)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ds = Dataset(seed=seed, anchor=ANCHORS[seed % len(ANCHORS)])
        self.D = self.ds.anchor
        self._order = itertools.count(1)
        self._serial = itertools.count(1)
        self._pid = {sku: i + 1 for i, sku in enumerate(SKU)}
        for sku, (_, name, cat, kind, for_cat, inst, price) in SKU.items():
            self.ds.products.append(
                {
                    "id": self._pid[sku],
                    "sku": sku,
                    "name": name,
                    "category": cat,
                    "kind": kind,
                    "for_category": for_cat,
                    "installable": inst,
                    "list_price": price,
                }
            )

    def day(self, offset: int) -> date:
        return self.D + timedelta(days=offset)

    def purchase_day(self) -> date:
        if self.rng.random() < 0.55:
            return self.day(self.rng.choice(PURCHASE_OFFSETS))
        return self.day(self.rng.randint(-1200, 45))

    def order_ref(self) -> str:
        return f"O{self.ds.seed:02d}-{next(self._order):05d}"

    def line(
        self,
        cid: int,
        sku: str,
        on: date,
        quantity: int,
        price: float,
        *,
        order_ref: str | None = None,
        line_no: int = 1,
        coverage: tuple[date, date] | None = None,
    ) -> dict[str, Any]:
        row = {
            "id": len(self.ds.purchases) + 1,
            "order_ref": order_ref or self.order_ref(),
            "line_no": line_no,
            "customer_id": cid,
            "product_id": self._pid[sku],
            "quantity": quantity,
            "unit_price": price,
            "purchased_on": on,
            "coverage_start": coverage[0] if coverage else None,
            "coverage_end": coverage[1] if coverage else None,
        }
        self.ds.purchases.append(row)
        return row

    def install(self, cid: int, sku: str, on: date, removed: date | None) -> None:
        self.ds.installations.append(
            {
                "id": len(self.ds.installations) + 1,
                "serial": f"S{self.ds.seed:02d}-{next(self._serial):05d}",
                "customer_id": cid,
                "product_id": self._pid[sku],
                "order_ref": None,
                "site": self.rng.choice([None, "HQ", "Plant 2", "Branch"]),
                "installed_on": on,
                "removed_on": removed,
            }
        )

    def removal(self, installed_on: date) -> date | None:
        r = self.rng.random()
        if r < 0.6:
            return None
        if r < 0.85:
            candidate = self.day(self.rng.choice(REMOVAL_OFFSETS))
        else:
            candidate = installed_on + timedelta(days=self.rng.randint(1, 900))
        return candidate if candidate > installed_on else None

    def price(self, sku: str) -> float:
        return round(SKU[sku][6] * self.rng.uniform(0.7, 1.1), 2)

    # ------------------------------------------------------------------ customers

    def customers(self) -> None:
        rng = self.rng
        n = rng.randint(30, 80)
        for i in range(1, n + 1):
            region, country = rng.choice(PLACES)
            self.ds.customers.append(
                {
                    "id": i,
                    "customer_ref": f"C{i:03d}",
                    "name": f"{rng.choice(NAMES)} {rng.choice(SUFFIXES)} {i * 7 % 97}",
                    "segment": rng.choices(
                        ["business", "consumer", "government", "nonprofit", None, ""],
                        [8, 4, 2, 2, 2, 1],
                    )[0],
                    "channel": rng.choices(["direct", "indirect", None], [6, 4, 1])[0],
                    "industry": rng.choices(
                        ["retail", "wholesale", "commercial", "industrial", None], [3, 2, 3, 2, 1]
                    )[0],
                    "country": country,
                    "region": region,
                    "email": f"ops{i}@example.com" if rng.random() < 0.7 else None,
                    "created_on": None,
                    # Not drawn from rng: every other column of every data set stays as it was.
                    "owner": OWNERS[i * 3 % len(OWNERS)],
                }
            )
        # Duplicate names (health check fodder): one name shared by 3 customers, one by 2.
        a, b, c, e, f = rng.sample(range(n), 5)
        for src, dst in ((a, b), (a, c), (e, f)):
            self.ds.customers[dst]["name"] = self.ds.customers[src]["name"]

    # ------------------------------------------------------------------ activity

    def activity(self, cid: int) -> None:
        rng = self.rng
        core_lines: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 6)):
            on = self.purchase_day()
            ref = self.order_ref()
            for line_no in range(1, rng.randint(1, 3) + 1):
                sku = rng.choices(
                    ["PR-100", "PR-200", "CP-300", "FN-10", "LT-14", "TN-1", "DR-3", "CB-1"],
                    [6, 2, 4, 1, 2, 4, 2, 1],
                )[0]
                qty = rng.randint(1, 3) if SKU[sku][5] else rng.randint(1, 6)
                row = self.line(cid, sku, on, qty, self.price(sku), order_ref=ref, line_no=line_no)
                if SKU[sku][5]:
                    core_lines.append(row)
                    self.installs_for(row)
                if rng.random() < 0.12:
                    self.return_of(row)
        for cat, skus in CORE_FOR.items():
            mine = [r for r in core_lines if self._sku(r) in skus]
            if mine and rng.random() < 0.55:
                self.services(cid, cat, mine)
        if rng.random() < 0.15:
            on = self.purchase_day()
            end = self.day(rng.choice((*COVERAGE_END_OFFSETS, rng.randint(-300, 300))))
            start = min(on, end - timedelta(days=rng.choice([0, 30, 364])))
            self.line(cid, "SUB-F", start, 1, self.price("SUB-F"), coverage=(start, end))

    def _sku(self, row: dict[str, Any]) -> str:
        return next(s for s, i in self._pid.items() if i == row["product_id"])

    def installs_for(self, row: dict[str, Any]) -> None:
        rng = self.rng
        qty = row["quantity"]
        count = max(0, rng.choice([qty, qty, qty, qty - 1, 0, qty + 1]))
        for _ in range(count):
            if rng.random() < 0.25:
                on = self.day(rng.choice([0, 1, -1, 2]))
                on = max(on, row["purchased_on"])
            else:
                on = row["purchased_on"] + timedelta(
                    days=rng.choice([0, 13, 14, 15, rng.randint(1, 60)])
                )
            self.install(row["customer_id"], self._sku(row), on, self.removal(on))

    def return_of(self, row: dict[str, Any]) -> None:
        rng = self.rng
        on = max(row["purchased_on"], self.day(rng.choice(PURCHASE_OFFSETS)))
        if rng.random() < 0.5:
            on = row["purchased_on"] + timedelta(days=rng.choice([0, 1, rng.randint(2, 120)]))
        qty = -rng.randint(1, row["quantity"] + 1)
        self.line(
            row["customer_id"],
            self._sku(row),
            on,
            qty,
            row["unit_price"],
            coverage=(
                (row["coverage_start"], row["coverage_end"]) if row["coverage_start"] else None
            ),
        )

    def services(self, cid: int, cat: str, core_lines: list[dict[str, Any]]) -> None:
        """Service (and printer subscription) lines that never precede a purchase of `cat`."""
        rng = self.rng
        first = min(r["purchased_on"] for r in core_lines)
        for _ in range(rng.randint(1, 3)):
            sku = SERVICE_FOR[cat] if (cat != "printers" or rng.random() < 0.8) else "SUB-C"
            end = self.day(rng.choice((*COVERAGE_END_OFFSETS, rng.randint(-400, 400))))
            if rng.random() < 0.2:
                start = self.day(rng.choice([0, 1, -1]))
            else:
                start = end - timedelta(days=rng.choice([364, 365, 180, rng.randint(0, 30)]))
            if start > end:
                start, end = end, start
            bought = start - timedelta(days=rng.choice([0, 0, rng.randint(1, 20)]))
            if bought < first:
                continue
            row = self.line(cid, sku, bought, 1, self.price(sku), coverage=(start, end))
            if rng.random() < 0.1:
                self.return_of(row)

    def consumable_boundaries(self, cid: int) -> None:
        for sku in CONSUMABLE_FOR.values():
            if self.rng.random() < 0.3:
                on = self.day(self.rng.choice([-89, -90, -91, 0, 1, -88]))
                self.line(cid, sku, on, self.rng.randint(1, 4), self.price(sku))

    def aging(self, cid: int) -> None:
        rng = self.rng
        days_ = [
            five_years_before(self.day(k)) + timedelta(days=j)
            for k in (-1, 0, 1)
            for j in (-1, 0, 1)
        ]
        if self.D.month in (2, 3):
            days_ += [date(y, m, dd) for (y, m, dd) in (
                (2023, 2, 28), (2023, 3, 1), (2024, 2, 28), (2024, 2, 29), (2024, 3, 1),
            )]  # fmt: skip
        sku = rng.choice(["PR-100", "CP-300", "PR-200"])
        for on in rng.sample(days_, rng.randint(1, 3)):
            if rng.random() < 0.8:
                self.line(cid, sku, on - timedelta(days=rng.randint(0, 20)), 1, self.price(sku))
            self.install(cid, sku, on, self.removal(on))

    def stray_installs(self, cid: int) -> None:
        sku = self.rng.choice(["PR-100", "CP-300", "FN-10", "LT-14"])
        for _ in range(self.rng.randint(1, 2)):
            on = self.day(self.rng.choice([0, 1, -1, -400, -30]))
            self.install(cid, sku, on, self.removal(on))

    def clone(self, src: int, dst: int) -> None:
        """Give `dst` exactly `src`'s purchases and installations: ties broken by customer_ref."""
        orders: dict[str, str] = {}
        for row in [r for r in self.ds.purchases if r["customer_id"] == src]:
            ref = orders.setdefault(row["order_ref"], self.order_ref())
            copy = dict(row, id=len(self.ds.purchases) + 1, customer_id=dst, order_ref=ref)
            self.ds.purchases.append(copy)
        for row in [r for r in self.ds.installations if r["customer_id"] == src]:
            serial = f"S{self.ds.seed:02d}-{next(self._serial):05d}"
            copy = dict(row, id=len(self.ds.installations) + 1, customer_id=dst, serial=serial)
            self.ds.installations.append(copy)

    def build(self) -> Dataset:
        rng = self.rng
        self.customers()
        ids = [c["id"] for c in self.ds.customers]
        prospects = set(rng.sample(ids, max(2, len(ids) // 10)))
        clones = [i for i in ids if i not in prospects]
        rng.shuffle(clones)
        pairs = [(clones[0], clones[1]), (clones[2], clones[3])]
        copied = {dst for _, dst in pairs}
        for cid in ids:
            if cid in prospects:
                if rng.random() < 0.4:
                    self.stray_installs(cid)
                continue
            if cid in copied:
                continue
            self.activity(cid)
            if rng.random() < 0.35:
                self.consumable_boundaries(cid)
            if rng.random() < 0.2:
                self.aging(cid)
            if rng.random() < 0.06:
                self.stray_installs(cid)
        for src, dst in pairs:
            self.clone(src, dst)
        if self.ds.seed % 4 == 3:
            # A whale: one customer with most of the window's revenue (a tall base).
            self.line(clones[4], "CP-300", self.day(-30), 300, 6000.0)
        busiest = max(ids, key=lambda i: sum(p["customer_id"] == i for p in self.ds.purchases))
        installed = sorted({r["customer_id"] for r in self.ds.installations})
        picks = [busiest, min(prospects), rng.choice(installed), pairs[0][1]]
        self.ds.lookup_refs = sorted({f"C{i:03d}" for i in picks})
        by_ref = {c["customer_ref"]: c for c in self.ds.customers}
        self.ds.lookup_emails = [
            by_ref[r]["email"] for r in self.ds.lookup_refs if by_ref[r]["email"]
        ]
        names = [c["name"] for c in self.ds.customers]
        for name in sorted(set(names), key=names.count, reverse=True)[:2]:
            # Only names no other customer's name contains, so any matching rule agrees.
            if sum(name.lower() in other.lower() for other in names) == names.count(name):
                self.ds.lookup_names.append(name)
        return self.ds


@lru_cache(maxsize=64)
def generate(seed: int) -> Dataset:
    return _Builder(seed).build()


def insert_dataset(session: Session | Connection, ds: Dataset) -> None:
    for model, rows in (
        (Customer, ds.customers),
        (Product, ds.products),
        (Purchase, ds.purchases),
        (Installation, ds.installations),
    ):
        if rows:
            session.execute(insert(model), rows)
    if isinstance(session, Session):
        session.flush()
