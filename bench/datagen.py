"""A fast, seeded generator of the four import CSV files (SPEC §6) at any scale.

Rows are streamed to the files customer by customer, so memory stays flat whatever the size.
The shape follows a company selling office equipment: core units (printers, copiers, scanners,
plotters) that get installed, ageing and removed; consumables bought while units run; service
plans with coverage dates, some renewed; subscriptions; returns; units never installed; a
sales team owning the accounts by territory (SPEC §9); and a sprinkle of the unhealthy rows
the data-quality report looks for.
"""

from __future__ import annotations

import json
import math
import random
import time
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

# Part of the data folder's name: a folder of an older generator is never reused.
GENERATOR_VERSION = 2
MANIFEST = "manifest.json"
HISTORY_YEARS = 8
_FUTURE_DAYS = 60
_BUFFER = 1 << 20
_FLUSH_EVERY = 2_000

CUSTOMERS_HEADER = (
    "customer_ref,name,segment,channel,industry,country,region,email,created_on,owner"
)
PRODUCTS_HEADER = "sku,name,category,kind,for_category,installable,list_price"
PURCHASES_HEADER = (
    "order_ref,line_no,customer_ref,sku,quantity,unit_price,purchased_on,"
    "coverage_start,coverage_end"
)
INSTALLATIONS_HEADER = "serial,customer_ref,sku,order_ref,site,installed_on,removed_on"

CORE_CATEGORIES = ("printers", "copiers", "scanners", "plotters")


@dataclass(frozen=True)
class ProductRow:
    sku: str
    name: str
    category: str
    kind: str
    for_category: str | None
    installable: bool
    list_price: float

    def csv(self) -> str:
        installable = "true" if self.installable else "false"
        return (
            f"{self.sku},{self.name},{self.category},{self.kind},{self.for_category or ''},"
            f"{installable},{self.list_price:.2f}"
        )


def _catalog() -> tuple[ProductRow, ...]:
    rows: list[ProductRow] = []
    models = {
        "printers": ("PR", "Office Laser", (249, 399, 599, 899, 1290, 1990, 3490, 4990)),
        "copiers": ("CP", "Workgroup Copier", (2490, 4990, 8990, 14900, 24900)),
        "scanners": ("SC", "Document Scanner", (290, 690, 1490, 2990)),
        "plotters": ("PL", "Wide Plotter", (2990, 6990, 14900)),
    }
    for category, (prefix, label, prices) in models.items():
        for n, price in enumerate(prices, 1):
            sku = f"{prefix}-{n * 100}"
            rows.append(ProductRow(sku, f"{label} {n * 100}", category, "core", None, True, price))
    extras = (
        ("TN-BLK", "Black toner", "consumables", "consumable", "printers", False, 89),
        ("TN-CLR", "Colour toner set", "consumables", "consumable", "printers", False, 239),
        ("PP-A4", "Paper A4 box", "consumables", "consumable", "printers", False, 39),
        ("CT-BLK", "Copier toner", "consumables", "consumable", "copiers", False, 149),
        ("CT-DRUM", "Copier drum", "consumables", "consumable", "copiers", False, 329),
        ("SR-KIT", "Scanner roller kit", "consumables", "consumable", "scanners", False, 59),
        ("PI-INK", "Plotter ink set", "consumables", "consumable", "plotters", False, 279),
        ("PL-ROLL", "Plotter paper roll", "consumables", "consumable", "plotters", False, 69),
        ("PR-TRAY", "Printer paper tray", "accessories", "accessory", "printers", True, 199),
        ("PR-NET", "Printer network card", "accessories", "accessory", "printers", False, 129),
        ("CP-FIN", "Copier finisher", "accessories", "accessory", "copiers", True, 1490),
        ("CP-STAND", "Copier stand", "accessories", "accessory", "copiers", False, 249),
        ("SC-FEED", "Scanner sheet feeder", "accessories", "accessory", "scanners", False, 189),
        ("PL-STAND", "Plotter stand", "accessories", "accessory", "plotters", False, 349),
        ("SV-PR-1Y", "Printer care 1 year", "services", "service", "printers", False, 120),
        ("SV-PR-3Y", "Printer care 3 years", "services", "service", "printers", False, 299),
        ("SV-CP-1Y", "Copier care 1 year", "services", "service", "copiers", False, 890),
        ("SV-CP-3Y", "Copier care 3 years", "services", "service", "copiers", False, 2290),
        ("SV-SC-1Y", "Scanner care 1 year", "services", "service", "scanners", False, 99),
        ("SV-PL-1Y", "Plotter care 1 year", "services", "service", "plotters", False, 690),
        ("SV-PL-3Y", "Plotter care 3 years", "services", "service", "plotters", False, 1790),
        ("SUB-FLEET", "Print fleet cloud", "subscriptions", "subscription", "printers", False, 480),
        ("SUB-SCAN", "Scan to cloud", "subscriptions", "subscription", "scanners", False, 240),
        ("SUB-DOCS", "Document workflow suite", "subscriptions", "subscription", None, False, 960),
    )
    rows.extend(ProductRow(*extra) for extra in extras)
    return tuple(rows)


CATALOG = _catalog()


@dataclass(frozen=True)
class Owners:
    """Who owns the generated accounts, and the rep the bench asks `mine` as."""

    reps: int
    owned: int  # customers with an owner
    asker: str  # the rep's email
    asker_accounts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "reps": self.reps,
            "owned": self.owned,
            "asker": self.asker,
            "asker_accounts": self.asker_accounts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Owners:
        return cls(
            reps=int(data["reps"]),
            owned=int(data["owned"]),
            asker=str(data["asker"]),
            asker_accounts=int(data["asker_accounts"]),
        )


@dataclass(frozen=True)
class Dataset:
    """A generated folder: where it is and what it holds."""

    folder: Path
    customers: int
    seed: int
    today: date
    rows: dict[str, int]
    seconds: float
    owners: Owners
    reused: bool = False

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def dataset_folder(root: Path, customers: int, seed: int, today: date) -> Path:
    return root / f"c{customers}-s{seed}-{today.isoformat()}-v{GENERATOR_VERSION}"


def ensure_dataset(root: Path, *, customers: int, seed: int, today: date) -> Dataset:
    """The data set for this scale and seed: reused when complete, generated otherwise."""
    folder = dataset_folder(root, customers, seed, today)
    manifest = folder / MANIFEST
    if manifest.is_file():
        meta = json.loads(manifest.read_text())
        return Dataset(
            folder=folder,
            customers=customers,
            seed=seed,
            today=today,
            rows={k: int(v) for k, v in meta["rows"].items()},
            seconds=float(meta["seconds"]),
            owners=Owners.from_json(meta["owners"]),
            reused=True,
        )
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, owners = generate(folder, customers=customers, seed=seed, today=today)
    seconds = time.perf_counter() - started
    meta = {
        "generator_version": GENERATOR_VERSION,
        "customers": customers,
        "seed": seed,
        "today": today.isoformat(),
        "rows": rows,
        "owners": owners.to_json(),
        "seconds": round(seconds, 2),
    }
    # Written last: a folder without it is an interrupted run and gets regenerated.
    manifest.write_text(json.dumps(meta, indent=2) + "\n")
    return Dataset(folder, customers, seed, today, rows, seconds, owners)


class _Weighted:
    """Fast weighted choice from a fixed table."""

    def __init__(self, items: Sequence[tuple[Any, float]]) -> None:
        self.values = [value for value, _ in items]
        self.weights = [weight for _, weight in items]
        self.cumulative = list(accumulate(weight for _, weight in items))
        self.total = self.cumulative[-1]

    def pick(self, rnd: random.Random) -> Any:
        return self.values[bisect(self.cumulative, rnd.random() * self.total)]


_SEGMENTS = _Weighted([("business", 58), ("consumer", 22), ("government", 12), ("nonprofit", 8)])
_CHANNELS = _Weighted([("direct", 55), ("indirect", 45)])
_INDUSTRIES = _Weighted(
    [
        ("commercial", 34),
        ("retail", 22),
        ("industrial", 20),
        ("wholesale", 14),
        ("education", 5),
        ("healthcare", 4),
        ("", 1),
    ]
)
_COUNTRIES = _Weighted(
    [
        (("US", "AMER"), 38),
        (("CA", "AMER"), 6),
        (("MX", "AMER"), 3),
        (("BR", "AMER"), 3),
        (("DE", "EMEA"), 10),
        (("GB", "EMEA"), 8),
        (("FR", "EMEA"), 6),
        (("NL", "EMEA"), 3),
        (("ES", "EMEA"), 3),
        (("IT", "EMEA"), 3),
        (("SE", "EMEA"), 2),
        (("JP", "APAC"), 6),
        (("AU", "APAC"), 4),
        (("IN", "APAC"), 3),
        (("SG", "APAC"), 1),
        (("", ""), 1),
    ]
)
_FIRST_WORDS = (
    "Acme Apex Atlas Beacon Blue Bright Cedar Civic Clear Coastal Crown Delta Eagle Echo "
    "Everest Falcon First Global Golden Granite Harbor Horizon Iron Keystone Lake "
    "Liberty Lumen Maple Meridian Metro Nordic North Oak Orbit Pacific Peak Pine Pioneer "
    "Prime Quantum Red River Rock Sierra Silver Summit Sun Swift Titan Union Valley "
    "Vertex West"
)
_NAME_FIRST = tuple(_FIRST_WORDS.split())
_SECOND_WORDS = (
    "Analytics Bakery Builders Clinic Consulting Design Dynamics Engineering Foods "
    "Freight Goods Group Health Holdings Industries Labs Legal Logistics Media Medical "
    "Motors Partners Print Properties Retail School Services Solutions Studio Supply "
    "Systems Technologies Textiles Trading Transport Ventures Works"
)
_NAME_SECOND = tuple(_SECOND_WORDS.split())
_NAME_SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "SA", "BV", "Co", "Corp", "AG", "Pty")

_CORE = {
    cat: [p for p in CATALOG if p.category == cat and p.kind == "core"] for cat in CORE_CATEGORIES
}
_CORE_CATEGORY = _Weighted([("printers", 55), ("copiers", 15), ("scanners", 20), ("plotters", 10)])
_CONSUMABLES = {
    cat: [p for p in CATALOG if p.kind == "consumable" and p.for_category == cat]
    for cat in CORE_CATEGORIES
}
_ACCESSORIES = {
    cat: [p for p in CATALOG if p.kind == "accessory" and p.for_category == cat]
    for cat in CORE_CATEGORIES
}
_SERVICES = {
    cat: [p for p in CATALOG if p.kind == "service" and p.for_category == cat]
    for cat in CORE_CATEGORIES
}
_SUBSCRIPTIONS = [p for p in CATALOG if p.kind == "subscription"]
_UNITS = _Weighted([(1, 62), (2, 16), (3, 9), (4, 5), (5, 3), (8, 3), (12, 1.5), (25, 0.5)])
_QTY_BIG = {"business": 1.0, "government": 1.3, "nonprofit": 0.6, "consumer": 0.2}

SALES_DOMAIN = "sales.example"
CUSTOMERS_PER_REP = 500
# Accounts no rep has taken yet; with those of no region (no territory) about one in twenty.
_UNOWNED = 0.04
_SLACK_ID_EVERY = 10
# Inside sales: few reps for many small accounts, so one of them owns a book of the size
# issue #13 asks `mine` to answer for.
ASKER_TERRITORY = ("AMER", "consumer")


@dataclass(frozen=True)
class SalesTeam:
    """The reps of each territory (region, segment), as `customers.owner` writes them."""

    territories: dict[tuple[str, str], tuple[str, ...]]

    @property
    def reps(self) -> int:
        return sum(len(owners) for owners in self.territories.values())

    @property
    def asker(self) -> str:
        """The rep the bench asks `mine` as: the first of the asker's territory."""
        return self.territories[ASKER_TERRITORY][0]


def sales_team(customers: int) -> SalesTeam:
    """One rep per `CUSTOMERS_PER_REP` customers, shared out by the business each territory
    brings (customers times order size), at least one each; the same for every seed."""
    regions: dict[str, float] = {}
    for (_, region), weight in zip(_COUNTRIES.values, _COUNTRIES.weights, strict=True):
        if region:
            regions[region] = regions.get(region, 0.0) + weight
    shares = {
        (region, segment): r * s * _QTY_BIG[segment]
        for region, r in regions.items()
        for segment, s in zip(_SEGMENTS.values, _SEGMENTS.weights, strict=True)
    }
    total = sum(shares.values())
    wanted = customers / CUSTOMERS_PER_REP
    territories: dict[tuple[str, str], tuple[str, ...]] = {}
    number = 0
    for territory, share in shares.items():
        owners = []
        for index in range(max(1, round(wanted * share / total))):
            number += 1
            # Some reps are known by their Slack user id alone, never a territory's first: the
            # asker needs an email, which is how Slack tells basebot who asks.
            slack_id = number % _SLACK_ID_EVERY == 0 and index > 0
            owners.append(f"U0REP{number:04d}" if slack_id else f"rep{number:04d}@{SALES_DOMAIN}")
        territories[territory] = tuple(owners)
    return SalesTeam(territories)


class _Owners:
    """Draws each account's owner from a generator of its own, so that every other value
    stays what the same seed gave before owners were generated."""

    def __init__(self, team: SalesTeam, seed: int) -> None:
        self.team = team
        self.rnd = random.Random(f"{seed}:owners")
        self.owned = 0
        self.asker_accounts = 0

    def pick(self, region: str, segment: str) -> str:
        reps = self.team.territories.get((region, segment))
        if not reps or self.rnd.random() < _UNOWNED:
            return ""
        owner = reps[int(self.rnd.random() * len(reps))]
        self.owned += 1
        if owner == self.team.asker:
            self.asker_accounts += 1
        return owner

    def result(self) -> Owners:
        return Owners(self.team.reps, self.owned, self.team.asker, self.asker_accounts)


class _Writer:
    """The four files and the running counters (order refs, serials)."""

    def __init__(self, folder: Path) -> None:
        self.files: dict[str, IO[str]] = {
            name: (folder / f"{name}.csv").open("w", encoding="utf-8", buffering=_BUFFER)
            for name in ("customers", "products", "purchases", "installations")
        }
        self.lines: dict[str, list[str]] = {name: [] for name in self.files}
        self.counts = dict.fromkeys(self.files, 0)
        self.orders = 0
        self.serials = 0

    def header(self, name: str, header: str) -> None:
        self.files[name].write(header + "\n")

    def flush(self) -> None:
        for name, lines in self.lines.items():
            if lines:
                self.files[name].write("\n".join(lines) + "\n")
                self.counts[name] += len(lines)
                lines.clear()

    def close(self) -> None:
        self.flush()
        for handle in self.files.values():
            handle.close()


def generate(
    folder: Path, *, customers: int, seed: int, today: date
) -> tuple[dict[str, int], Owners]:
    """Write the four CSV files into `folder`; return the rows written per file and who owns
    the accounts."""
    out = _Writer(folder)
    owners = _Owners(sales_team(customers), seed)
    try:
        out.header("customers", CUSTOMERS_HEADER)
        out.header("products", PRODUCTS_HEADER)
        out.header("purchases", PURCHASES_HEADER)
        out.header("installations", INSTALLATIONS_HEADER)
        out.lines["products"].extend(p.csv() for p in CATALOG)
        gen = _Generator(out, random.Random(seed), today, owners)
        for number in range(1, customers + 1):
            gen.customer(number)
            if number % _FLUSH_EVERY == 0:
                out.flush()
    finally:
        out.close()
    return {f"{name}.csv": count for name, count in out.counts.items()}, owners.result()


class _Generator:
    def __init__(self, out: _Writer, rnd: random.Random, today: date, owners: _Owners) -> None:
        self.out = out
        self.rnd = rnd
        self.owners = owners
        self.today = today.toordinal()
        self.first_day = (today - timedelta(days=365 * HISTORY_YEARS)).toordinal()
        # ISO strings of every day the data can use, looked up by ordinal (formatting is slow).
        self.base = self.first_day - 400
        last = self.today + _FUTURE_DAYS + 3 * 366 + 1
        self.iso = [date.fromordinal(o).isoformat() for o in range(self.base, last + 1)]

    def day(self, ordinal: int) -> str:
        return self.iso[ordinal - self.base]

    def customer(self, number: int) -> None:
        rnd = self.rnd
        ref = f"C{number:07d}"
        segment = _SEGMENTS.pick(rnd)
        country, region = _COUNTRIES.pick(rnd)
        first = _NAME_FIRST[int(rnd.random() * len(_NAME_FIRST))]
        second = _NAME_SECOND[int(rnd.random() * len(_NAME_SECOND))]
        suffix = _NAME_SUFFIX[int(rnd.random() * len(_NAME_SUFFIX))]
        # Most names carry the number; the rest collide, as real customer lists do.
        name = (
            f"{first} {second} {suffix}"
            if rnd.random() < 0.03
            else (f"{first} {second} {number} {suffix}")
        )
        email = f"info@{first.lower()}{number}.example.com" if rnd.random() < 0.75 else ""
        # Older customers are fewer: the square pulls first purchases towards today.
        span = self.today - self.first_day
        started = self.today - int(span * rnd.random() ** 1.6)
        created = started - int(rnd.random() * 60)
        prospect = rnd.random() < 0.08
        self.out.lines["customers"].append(
            f"{ref},{name},{segment},{_CHANNELS.pick(rnd)},{_INDUSTRIES.pick(rnd)},"
            f"{country},{region},{email},{self.day(created)},{self.owners.pick(region, segment)}"
        )
        if prospect:
            if rnd.random() < 0.005:
                self.stray_installation(ref, started)
            return
        size = _QTY_BIG[segment]
        orders = 1 + int(-1.3 * size * _log(rnd.random()))
        for n in range(orders):
            on = started if n == 0 else started + int((self.today - started) * rnd.random())
            self.core_order(ref, on, size)
        if rnd.random() < 0.10:
            self.subscription(ref, started + int((self.today - started) * rnd.random()))
        if rnd.random() < 0.002:
            self.stray_installation(ref, started)

    def order_ref(self) -> str:
        self.out.orders += 1
        return f"O{self.out.orders:08d}"

    def purchase(
        self,
        order: str,
        line: int,
        ref: str,
        product: ProductRow,
        quantity: int,
        on: int,
        coverage: tuple[int, int] | None = None,
    ) -> None:
        price = product.list_price * (0.78 + 0.22 * self.rnd.random())
        cover = f"{self.day(coverage[0])},{self.day(coverage[1])}" if coverage else ","
        self.out.lines["purchases"].append(
            f"{order},{line},{ref},{product.sku},{quantity},{price:.2f},{self.day(on)},{cover}"
        )

    def core_order(self, ref: str, on: int, size: float) -> None:
        rnd = self.rnd
        today = self.today
        category = _CORE_CATEGORY.pick(rnd)
        models = _CORE[category]
        product = models[int(rnd.random() * len(models))]
        units = _UNITS.pick(rnd)
        if units > 2 and rnd.random() > size:
            units = 1
        if on > today and rnd.random() < 0.999:
            on = today
        elif rnd.random() < 0.0002:
            on = today + 1 + int(rnd.random() * _FUTURE_DAYS)  # mistyped date: health check
        order = self.order_ref()
        line = 1
        self.purchase(order, line, ref, product, units, on)
        returned = 0
        if rnd.random() < 0.025:
            returned = 1 if units == 1 else 1 + int(rnd.random() * units)
            line += 1
            back = on + 7 + int(rnd.random() * 30)
            if back <= today:
                self.purchase(order, line, ref, product, -returned, back)
            else:
                returned = 0
        if rnd.random() < 0.3:
            accessories = _ACCESSORIES[category]
            accessory = accessories[int(rnd.random() * len(accessories))]
            line += 1
            self.purchase(order, line, ref, accessory, units, on)
            if accessory.installable:
                for _ in range(units):
                    self.install(ref, accessory, order, on, rnd.random() < 0.85)
        if rnd.random() < 0.45:
            services = _SERVICES[category]
            service = services[int(rnd.random() * len(services))]
            line += 1
            self.service(order, line, ref, service, on)
        for _ in range(units - returned):
            self.install(ref, product, order, on, rnd.random() < 0.93)
        self.consumables(ref, category, on, size)

    def service(self, order: str, line: int, ref: str, service: ProductRow, on: int) -> None:
        rnd = self.rnd
        years = 3 if service.sku.endswith("3Y") else 1
        start = on
        while True:
            end = start + 365 * years - 1
            self.purchase(order, line, ref, service, 1, start, (start, end))
            # Renewals: a new one-year line from the day after, bought around the end date.
            if end >= self.today or rnd.random() > 0.55:
                return
            start = end + 1
            years = 1
            order = self.order_ref()
            line = 1

    def subscription(self, ref: str, on: int) -> None:
        rnd = self.rnd
        product = _SUBSCRIPTIONS[int(rnd.random() * len(_SUBSCRIPTIONS))]
        start = on
        while start <= self.today:
            self.purchase(self.order_ref(), 1, ref, product, 1, start, (start, start + 364))
            if rnd.random() < 0.2:
                return
            start += 365

    def consumables(self, ref: str, category: str, on: int, size: float) -> None:
        rnd = self.rnd
        span = self.today - on
        if span < 30:
            return
        count = int(rnd.random() * (1.0 + min(span, 1460) / 365.0) * 1.1)
        products = _CONSUMABLES[category]
        for _ in range(count):
            product = products[int(rnd.random() * len(products))]
            when = on + 20 + int((span - 20) * rnd.random())
            quantity = 1 + int(rnd.random() * 4 * (0.5 + size))
            self.purchase(self.order_ref(), 1, ref, product, quantity, when)

    def install(
        self, ref: str, product: ProductRow, order: str | None, on: int, installed: bool
    ) -> None:
        if not installed:
            return
        rnd = self.rnd
        today = self.today
        when = on + int(rnd.random() * 21)
        if when > today:
            return  # bought lately, not installed yet
        age = today - when
        removed = ""
        # Units wear out: the older, the likelier they are gone (never younger than 180 days).
        if age > 180 and rnd.random() < min(0.65, age / 3650.0):
            removed = self.day(when + 180 + int((age - 180) * rnd.random()))
        self.out.serials += 1
        site = _SITES[int(rnd.random() * len(_SITES))]
        self.out.lines["installations"].append(
            f"SN{self.out.serials:09d},{ref},{product.sku},{order or ''},{site},"
            f"{self.day(when)},{removed}"
        )

    def stray_installation(self, ref: str, on: int) -> None:
        """A unit with no matching purchase (a data-quality finding)."""
        category = _CORE_CATEGORY.pick(self.rnd)
        models = _CORE[category]
        product = models[int(self.rnd.random() * len(models))]
        self.install(ref, product, None, min(on, self.today), True)


_SITES = ("", "HQ", "Main office", "Warehouse", "Branch 1", "Branch 2", "Plant")


def _log(x: float) -> float:
    return math.log(max(x, 1e-12))
