"""A synthetic office-equipment company: demo data that makes every /base command interesting.

`seed_demo` streams customers one at a time through a seeded generator and bulk-inserts their
rows in chunks, so memory stays flat whatever the size. Each customer gets a life story: created,
first order, expansions, units installed (or left in storage), aged and replaced, consumables
bought while units run, service plans renewed or lapsed, subscriptions, returns. Accounts
belong to the reps of `SALES_TEAM` by territory, but for a few that no rep has yet.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from queries.capture import bulk_load
from queries.models import Base, Customer, Installation, Product, Purchase
from queries.progress import SILENT, Progress

__all__ = [
    "PRODUCTS",
    "SALES_DOMAIN",
    "SALES_TEAM",
    "DemoSummary",
    "ProductSpec",
    "SalesRep",
    "seed_demo",
]

CHUNK_ROWS = 10_000
HISTORY_YEARS = 7


@dataclass(frozen=True)
class DemoSummary:
    """Row counts inserted by `seed_demo`."""

    customers: int
    products: int
    purchases: int
    installations: int

    def __str__(self) -> str:
        return (
            f"{self.customers:,} customers, {self.products:,} products, "
            f"{self.purchases:,} purchase lines, {self.installations:,} installations"
        )


@dataclass(frozen=True)
class ProductSpec:
    """One row of the demo catalogue."""

    sku: str
    name: str
    category: str
    kind: str
    for_category: str | None
    list_price: float
    installable: bool = False


def _core(sku: str, name: str, category: str, price: float) -> ProductSpec:
    return ProductSpec(sku, name, category, "core", None, price, installable=True)


def _accessory(sku: str, name: str, for_category: str, price: float) -> ProductSpec:
    return ProductSpec(sku, name, "accessories", "accessory", for_category, price)


def _supply(sku: str, name: str, category: str, for_category: str, price: float) -> ProductSpec:
    return ProductSpec(sku, name, category, "consumable", for_category, price)


def _service(code: str, label: str, for_category: str, per_year: float) -> list[ProductSpec]:
    return [
        ProductSpec(
            f"SVC-{code}-{years}Y",
            f"Apex Care {label}, {years} year{'s' * (years > 1)}",
            "service",
            "service",
            for_category,
            price,
        )
        for years, price in ((1, per_year), (3, round(per_year * 2.5) - 1.0))
    ]


def _subscription(sku: str, name: str, for_category: str, price: float) -> ProductSpec:
    return ProductSpec(sku, name, "subscriptions", "subscription", for_category, price)


PRODUCTS: tuple[ProductSpec, ...] = (
    _core("PRN-200", "Apex LaserPro 200", "printers", 329.0),
    _core("PRN-400", "Apex LaserPro 400", "printers", 689.0),
    _core("PRN-600", "Apex LaserPro 600 MFP", "printers", 1290.0),
    _core("PRN-900", "Apex ColorJet 900", "printers", 2450.0),
    _core("CPY-30", "Apex CopyStation 30", "copiers", 4900.0),
    _core("CPY-45", "Apex CopyStation 45", "copiers", 7900.0),
    _core("CPY-65", "Apex CopyStation 65 Pro", "copiers", 12900.0),
    _core("SCN-100", "Apex DocScan 100", "scanners", 279.0),
    _core("SCN-500", "Apex DocScan 500 Duplex", "scanners", 890.0),
    _core("SCN-900", "Apex BookScan 900", "scanners", 2900.0),
    _core("PLT-24", "Apex WidePlot 24", "plotters", 3900.0),
    _core("PLT-44", "Apex WidePlot 44", "plotters", 8900.0),
    _accessory("ACC-TRAY", "Apex 550-Sheet Paper Tray", "printers", 149.0),
    _accessory("ACC-NET", "Apex Wireless Network Card", "printers", 99.0),
    # The one accessory with a serial number and an installation of its own.
    replace(
        _accessory("ACC-FIN", "Apex Booklet Finisher BF-2", "copiers", 1890.0), installable=True
    ),
    _accessory("ACC-ADF", "Apex DocScan Sheet Feeder", "scanners", 249.0),
    _accessory("ACC-STAND", "Apex WidePlot Stand", "plotters", 399.0),
    _supply("TNR-BK", "Apex LaserPro Toner Black", "toner", "printers", 89.0),
    _supply("TNR-CL", "Apex ColorJet Toner Colour Set", "toner", "printers", 259.0),
    _supply("TNR-CPY", "Apex CopyStation Toner", "toner", "copiers", 139.0),
    _supply("PAP-A4", "Apex Premium Paper A4, 5 reams", "paper", "copiers", 39.0),
    _supply("INK-PLT", "Apex WidePlot Ink Set", "ink", "plotters", 320.0),
    _supply("PAP-ROLL", "Apex Plot Roll 914 mm", "paper", "plotters", 65.0),
    _supply("KIT-SCN", "Apex DocScan Roller Kit", "parts", "scanners", 49.0),
    *_service("PRN", "Printers", "printers", 119.0),
    *_service("CPY", "Copiers", "copiers", 690.0),
    *_service("SCN", "Scanners", "scanners", 79.0),
    *_service("PLT", "Plotters", "plotters", 590.0),
    _subscription("SUB-MPS", "Apex Managed Print, per device and month", "printers", 35.0),
    _subscription("SUB-CLOUD", "Apex CloudScan, annual", "scanners", 240.0),
)

_CATEGORIES = ("printers", "copiers", "scanners", "plotters")
_SERVICE_CODE = {"printers": "PRN", "copiers": "CPY", "scanners": "SCN", "plotters": "PLT"}
# Per category: models, then weights for consumers and for organisations.
_MODELS: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]] = {
    "printers": (("PRN-200", "PRN-400", "PRN-600", "PRN-900"), (6, 3, 1, 0), (2, 4, 3, 1)),
    "copiers": (("CPY-30", "CPY-45", "CPY-65"), (1, 0, 0), (4, 3, 1)),
    "scanners": (("SCN-100", "SCN-500", "SCN-900"), (8, 2, 0), (3, 4, 1)),
    "plotters": (("PLT-24", "PLT-44"), (1, 0), (3, 1)),
}
_CONSUMABLES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "printers": (("TNR-BK", "TNR-CL"), (3, 1)),
    "copiers": (("TNR-CPY", "PAP-A4"), (2, 1)),
    "plotters": (("INK-PLT", "PAP-ROLL"), (2, 1)),
    "scanners": (("KIT-SCN",), (1,)),
}
_ACCESSORIES: dict[str, tuple[str, ...]] = {
    "printers": ("ACC-TRAY", "ACC-NET"),
    "copiers": ("ACC-FIN",),
    "scanners": ("ACC-ADF",),
    "plotters": ("ACC-STAND",),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(","))


_SEGMENTS = ("business", "consumer", "government", "nonprofit")
_SEGMENT_WEIGHTS = (50, 33, 9, 8)
_CATEGORY_WEIGHTS = {"consumer": (80, 0, 20, 0), "organisation": (50, 20, 18, 12)}
# No industry spells like a segment, channel or region: `in <value>` stays unambiguous.
_INDUSTRIES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "business": (
        _words("commercial, industrial, wholesale, retail, healthcare, education, hospitality"),
        (32, 20, 14, 14, 10, 5, 5),
    ),
    "government": (("public administration", "education"), (7, 3)),
    "nonprofit": (("social services", "healthcare", "education"), (4, 3, 3)),
}
# ISO 3166 alpha-2 → (region, weight, legal suffixes, cities).
_COUNTRIES: dict[str, tuple[str, int, tuple[str, ...], tuple[str, ...]]] = {
    "US": (
        "AMER",
        45,
        _words("Inc., LLC, Corp."),
        _words(
            "Chicago, Denver, Austin, Boston, Seattle, Atlanta, Portland, Phoenix, Columbus, "
            "Nashville, Omaha, Tampa, Madison, Raleigh, Sacramento, Pittsburgh"
        ),
    ),
    "CA": (
        "AMER",
        5,
        _words("Inc., Ltd."),
        _words("Toronto, Montreal, Vancouver, Calgary, Ottawa"),
    ),
    "BR": ("AMER", 3, _words("Ltda., S.A."), _words("São Paulo, Curitiba, Recife, Porto Alegre")),
    "MX": ("AMER", 2, ("S.A. de C.V.",), _words("Monterrey, Guadalajara, Puebla, Mérida")),
    "DE": (
        "EMEA",
        9,
        _words("GmbH, AG, KG"),
        _words("Berlin, Hamburg, München, Köln, Leipzig, Dresden, Bremen, Stuttgart, Münster"),
    ),
    "GB": (
        "EMEA",
        7,
        _words("Ltd, plc"),
        _words("London, Manchester, Leeds, Bristol, Glasgow, Cardiff, York, Norwich"),
    ),
    "FR": ("EMEA", 5, _words("SA, SARL, SAS"), _words("Paris, Lyon, Lille, Nantes, Rennes, Nice")),
    "NL": ("EMEA", 3, _words("B.V., N.V."), _words("Amsterdam, Rotterdam, Utrecht, Eindhoven")),
    "ES": ("EMEA", 3, _words("S.L., S.A."), _words("Madrid, Barcelona, Valencia, Sevilla")),
    "IT": ("EMEA", 3, _words("S.r.l., S.p.A."), _words("Milano, Torino, Bologna, Napoli")),
    "SE": ("EMEA", 2, ("AB",), _words("Stockholm, Göteborg, Malmö, Uppsala")),
    "CH": ("EMEA", 2, _words("AG, GmbH, SA"), _words("Zürich, Basel, Genève, Bern")),
    "JP": ("APAC", 4, ("K.K.",), _words("Tokyo, Osaka, Nagoya, Sapporo, Fukuoka")),
    "AU": ("APAC", 3, ("Pty Ltd",), _words("Sydney, Melbourne, Brisbane, Perth, Adelaide")),
    "IN": ("APAC", 2, ("Pvt Ltd",), _words("Bengaluru, Pune, Chennai, Hyderabad")),
    "SG": ("APAC", 2, ("Pte Ltd",), ("Singapore",)),
}
_COUNTRY_CODES = tuple(_COUNTRIES)
_COUNTRY_WEIGHTS = tuple(v[1] for v in _COUNTRIES.values())

_FIRST_NAMES = _words(
    "Maria, James, Anna, Lukas, Sofia, Oliver, Emma, Noah, Mia, Liam, Hannah, Lucas, Chloe, "
    "Mateo, Elena, Daniel, Laura, David, Sara, Thomas, Julia, Ethan, Aiko, Kenji, Priya, "
    "Arjun, Wei, Mei, Lars, Ingrid, Pierre, Camille, Giulia, Marco, Carmen, Pablo, Fatima, "
    "Omar, Grace, Henry, Isabel, Jack, Katarina, Leon, Nina, Oscar, Paula, Rafael, Sven, Tara, "
    "Ursula, Victor, Wendy, Yusuf, Zoe, Amelia, Felix, Clara, Hugo, Lena"
)
_LAST_NAMES = _words(
    "Schmidt, Smith, Johnson, Müller, Garcia, Rossi, Martin, Brown, Dubois, Jansen, Fernández, "
    "Tanaka, Sato, Patel, Sharma, Chen, Wang, Nguyen, Andersson, Larsen, Keller, Weber, "
    "Fischer, Becker, Moreau, Lefebvre, Bianchi, Romano, de Vries, Bakker, Wilson, Taylor, "
    "Davies, Evans, Thomas, Roberts, Walker, Wright, Clarke, Hughes, Lopez, Silva, Santos, "
    "Costa, Kowalski, Novak, Horvat, Ivanova, Hansen, Berg, Lindqvist, Kim, Park, Lee, Singh, "
    "Gupta, Okafor, Mensah, O'Brien, Murphy, Kelly, Fraser, Campbell, Stewart, Meyer, Wagner, "
    "Hoffmann, Schulz, Koch, Richter, Klein, Wolf, Neumann, Schwarz, Zimmermann, Braun, "
    "Krüger, Hartmann, Lange, Werner"
)
_PREFIXES = _words(
    "Acme, Northwind, Bluebird, Summit, Redwood, Silverline, Ironbridge, Harbor, Evergreen, "
    "Keystone, Pinnacle, Cobalt, Granite, Lakeside, Meridian, Atlas, Beacon, Cedar, Crescent, "
    "Falcon, Frontier, Golden Gate, Highland, Horizon, Juniper, Lighthouse, Maple, Nova, "
    "Orion, Pacific, Polar, Prairie, Quantum, Riverside, Sapphire, Sequoia, Sterling, Sunrise, "
    "Tidewater, Trident, Unity, Vanguard, Vertex, Westfield, Willow, Zenith, Alpine, Aurora, "
    "Brightwater, Copperfield, Driftwood, Eastgate, Foxglove, Greenleaf, Hawthorn, Kingfisher, "
    "Larkspur, Moonstone, Oakridge, Stonebridge"
)
_TRADES = _words(
    "Logistics, Dental, Architects, Engineering, Consulting, Legal, Printing, Publishing, "
    "Manufacturing, Foods, Motors, Construction, Pharmacy, Clinic, Insurance, Realty, "
    "Accounting, Design, Textiles, Tools, Plastics, Metals, Electronics, Software, Media, "
    "Hotels, Travel, Outfitters, Supply, Distribution, Trading, Packaging, Laboratories, "
    "Veterinary, Optics, Furniture, Bakery, Brewing, Marine, Aviation, Energy, Solar, Water, "
    "Freight, Imports, Partners, Holdings, Group, Studios, Works"
)
_GOVERNMENT = _words(
    "City of {city}, {city} Public Library, {city} School District {n}, {city} County Clerk, "
    "{city} Water Authority, {city} Police Precinct {n}, {city} Fire Station {n}, "
    "{city} Tax Office, Ministry of {dept}, Department of {dept}, {city} Housing Authority, "
    "{city} Public School {n}, {city} Court Office, {city} Transit Depot {n}"
)
_DEPARTMENTS = _words(
    "Transport, Health, Education, Finance, Justice, Agriculture, Environment, Culture, "
    "Labour, Defence"
)
_NONPROFIT = _words(
    "{prefix} Foundation, {city} Food Bank, {prefix} Children's Trust, {city} Animal Shelter, "
    "{prefix} Arts Society, {city} Community Hospital, {prefix} Relief Fund, "
    "{city} Youth Club"
)
_SITES = _words(
    "Warehouse {n}, {city} office, Branch {n}, Plant {n}, Lab, Front desk, Finance, Print room"
)

_SLUG = re.compile(r"[^a-z0-9]+")


def _slug(text: str, sep: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _SLUG.sub(sep, plain).strip(sep)


@dataclass(frozen=True)
class SalesRep:
    """A member of the demo company's sales team and the accounts their territory takes.

    `owner` is what `customers.owner` holds for their accounts. Empty `countries` or
    `industries` mean all of them.
    """

    name: str
    owner: str
    region: str
    segments: tuple[str, ...]
    countries: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()

    def covers(
        self, region: str | None, segment: str | None, country: str | None, industry: str | None
    ) -> bool:
        return (
            region == self.region
            and segment in self.segments
            and (not self.countries or country in self.countries)
            and (not self.industries or industry in self.industries)
        )


SALES_DOMAIN = "apex.example"
_PUBLIC_SECTOR = ("government", "nonprofit")


def _rep(name: str, region: str, segments: tuple[str, ...], **where: tuple[str, ...]) -> SalesRep:
    return SalesRep(name, f"{_slug(name, '.')}@{SALES_DOMAIN}", region, segments, **where)


SALES_TEAM: tuple[SalesRep, ...] = (
    _rep(
        "Rachel Moore",
        "AMER",
        ("business",),
        countries=("US",),
        industries=("commercial", "retail", "hospitality"),
    ),
    _rep(
        "Marcus Reed",
        "AMER",
        ("business",),
        countries=("US",),
        industries=("industrial", "wholesale", "healthcare", "education"),
    ),
    _rep("Sofia Alvarez", "AMER", ("business",), countries=("CA", "BR", "MX")),
    _rep("Daniel Brooks", "AMER", _PUBLIC_SECTOR),
    _rep("Jenna Patel", "AMER", ("consumer",)),
    _rep("Lukas Weber", "EMEA", ("business",), countries=("DE", "CH", "NL", "SE")),
    _rep("Charlotte Evans", "EMEA", ("business",), countries=("GB", "FR", "ES", "IT")),
    _rep("Claire Dubois", "EMEA", _PUBLIC_SECTOR),
    _rep("Marco Bianchi", "EMEA", ("consumer",)),
    # Known to basebot by the Slack user id alone, the other form an owner takes.
    SalesRep("Aiko Tanaka", "U05JQ8RT2LM", "APAC", ("business", "consumer", *_PUBLIC_SECTOR)),
)
# One account in each run of this many has no rep yet (besides those without a region or a
# segment to route them by): a steady share however small the demo.
_UNOWNED_EVERY = 15


def _rep_for(
    region: str | None, segment: str | None, country: str, industry: str
) -> SalesRep | None:
    return next((r for r in SALES_TEAM if r.covers(region, segment, country, industry)), None)


@dataclass(slots=True)
class _Line:
    product_id: int
    quantity: int
    unit_price: float
    coverage: tuple[int, int] | None = None


@dataclass(slots=True)
class _Order:
    day: int
    is_return: bool
    lines: list[_Line] = field(default_factory=list)
    ref: str = ""


@dataclass(slots=True)
class _Batch:
    """Units of one purchase line installed together (and removed together)."""

    product_id: int
    category: str
    order: _Order | None
    units: int
    installed: int
    removed: int | None
    site: str | None = None


@dataclass(slots=True)
class _Account:
    """One customer's life story while it is being written."""

    cid: int
    segment: str | None
    consumer: bool
    scale: float
    discount: float
    first: int
    churn: int
    sites: list[str]
    categories: list[str] = field(default_factory=list)
    orders: list[_Order] = field(default_factory=list)
    batches: list[_Batch] = field(default_factory=list)
    replacements: list[tuple[int, str, int, int]] = field(default_factory=list)
    has_mps: bool = False
    has_cloud: bool = False


class _Company:
    """Writes customers one by one from a single seeded `random.Random` (hence deterministic)."""

    def __init__(self, customers: int, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        # Owners came later than the rest: their own generator leaves every other row as it was.
        self.owner_rng = random.Random(f"{seed}:owners")
        self.unowned_at = 0
        self.n = customers
        self.today = today.toordinal()
        self.yesterday = self.today - 1
        self.start = self.today - HISTORY_YEARS * 365
        self.pid = {spec.sku: i for i, spec in enumerate(PRODUCTS, start=1)}
        self.specs = {i: spec for i, spec in enumerate(PRODUCTS, start=1)}
        self.serial_prefix = {i: spec.sku.replace("-", "") for i, spec in self.specs.items()}
        self.serials = dict.fromkeys(self.specs, 0)
        self.recent_names: deque[str] = deque(maxlen=64)
        self.removals_due = 0
        self.last_order = 0
        self.last_return = 0
        self.last_purchase = 0
        self.last_installation = 0
        self._dates: dict[int, date] = {}
        self.customers: list[dict[str, Any]] = []
        self.purchases: list[dict[str, Any]] = []
        self.installations: list[dict[str, Any]] = []

    # -- dates -----------------------------------------------------------------------------

    def date(self, day: int) -> date:
        # A few thousand distinct days serve millions of rows: cache the conversions.
        found = self._dates.get(day)
        if found is None:
            found = self._dates[day] = date.fromordinal(day)
        return found

    @staticmethod
    def plus_months(day: int, months: int) -> int:
        d = date.fromordinal(day)
        month0 = d.month - 1 + months
        return date(d.year + month0 // 12, month0 % 12 + 1, min(d.day, 28)).toordinal()

    # -- customers -------------------------------------------------------------------------

    def customer(self, cid: int) -> None:
        rng = self.rng
        n = self.n
        # Customer numbers follow creation time; the company grows, so recent years see more.
        x = (cid - 1 + rng.random()) / n
        created = self.start + int((self.yesterday - self.start) * x ** (2 / 3))
        segment: str | None = rng.choices(_SEGMENTS, _SEGMENT_WEIGHTS)[0]
        consumer = segment == "consumer"
        country = rng.choices(_COUNTRY_CODES, _COUNTRY_WEIGHTS)[0]
        region: str | None = _COUNTRIES[country][0]
        name, address = self.identity(segment, country)
        # Oddities sit at fixed customer numbers, so even a small demo shows each of them.
        if cid % 97 == 48 and self.recent_names:
            name = rng.choice(self.recent_names)  # the same company registered twice
        self.recent_names.append(name)
        if cid % 199 == 17:
            segment = None
        if cid % 241 == 101:
            region = None
        email = None if rng.random() < 0.1 else address
        if consumer:
            industry = "retail"
            channel = "direct" if rng.random() < 0.3 else "indirect"
        else:
            names, weights = _INDUSTRIES[segment or "business"]
            industry = rng.choices(names, weights)[0]
            direct = rng.random() < (0.7 if segment == "government" else 0.5)
            channel = "direct" if direct else "indirect"

        first = created + (rng.randint(0, 3) if consumer else rng.randint(0, 60))
        prospect = rng.random() < 0.05
        install_yesterday = False
        # The daily digest needs yesterday's activity however few customers there are.
        if cid == n:  # a brand-new customer
            first, prospect = self.yesterday, False
        elif cid == n - 1:  # a unit installed yesterday
            first, prospect, install_yesterday = self.yesterday - rng.randint(3, 10), False, True
        for k in (n // 3, n // 2, 2 * n // 3):
            if cid == max(1, k):
                self.removals_due += 1  # a unit removed yesterday, here or at the next customer
        self.customers.append(
            {
                "id": cid,
                "customer_ref": f"C{cid:06d}",
                "name": name,
                "segment": segment,
                "channel": channel,
                "industry": industry,
                "country": country,
                "region": region,
                "email": email,
                "created_on": self.date(min(created, first, self.yesterday)),
                "owner": self.owner(cid, region, segment, country, industry),
            }
        )
        if prospect or first > self.yesterday:
            return

        account = self.account(cid, segment, country, consumer, first)
        self.story(account, install_yesterday)
        if cid % 499 == 250:
            self.stray_installation(account)
        self.remove_yesterday(account)
        self.emit(account)

    def owner(
        self, cid: int, region: str | None, segment: str | None, country: str, industry: str
    ) -> str | None:
        at = (cid - 1) % _UNOWNED_EVERY
        if at == 0:
            self.unowned_at = self.owner_rng.randrange(_UNOWNED_EVERY)
        if at == self.unowned_at:
            return None
        rep = _rep_for(region, segment, country, industry)
        return rep.owner if rep is not None else None

    def identity(self, segment: str | None, country: str) -> tuple[str, str]:
        """A name and an email address (email.example domains never resolve)."""
        rng = self.rng
        cities = _COUNTRIES[country][3]
        if segment == "consumer":
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            initial = rng.choice("ABCDEFGHJKLMNPRSTW")
            name = f"{first} {initial}. {last}" if rng.random() < 0.3 else f"{first} {last}"
            local = _slug(f"{first} {last}", ".")
            return name, f"{local}{rng.randint(1, 99)}@mail.example"
        if segment == "government":
            name = rng.choice(_GOVERNMENT).format(
                city=rng.choice(cities), dept=rng.choice(_DEPARTMENTS), n=rng.randint(2, 60)
            )
            base = name
        elif segment == "nonprofit":
            name = rng.choice(_NONPROFIT).format(
                city=rng.choice(cities), prefix=rng.choice(_PREFIXES)
            )
            base = name
        else:
            form = rng.random()
            trade = rng.choice(_TRADES)
            if form < 0.45:
                base = f"{rng.choice(_PREFIXES)} {trade}"
            elif form < 0.75:
                base = f"{rng.choice(_LAST_NAMES)} & {rng.choice(_LAST_NAMES)} {trade}"
            else:
                base = f"{rng.choice(_LAST_NAMES)} {trade}"
            suffixes = _COUNTRIES[country][2]
            name = f"{base} {rng.choice(suffixes)}" if rng.random() < 0.6 else base
        mailbox = rng.choice(("info", "purchasing", "it", "office"))
        return name, f"{mailbox}@{_slug(base, '-')[:40].strip('-')}.example"

    def account(
        self, cid: int, segment: str | None, country: str, consumer: bool, first: int
    ) -> _Account:
        rng = self.rng
        if consumer:
            scale = 1.0
            discount = 0.0
        else:
            # Pareto-sized organisations: a few big accounts carry most of the revenue.
            scale = min(300.0, rng.paretovariate(1.0))
            if segment == "government":
                scale = min(300.0, scale * 1.5)
            elif segment == "nonprofit":
                scale = max(1.0, scale * 0.6)
            discount = min(0.25, 0.04 * math.log2(1 + scale) + rng.uniform(0.0, 0.03))
        one_off = rng.random() < (0.4 if consumer else 0.15)
        churn = first + 1 if one_off else first + int(rng.expovariate(1 / (8 * 365)))
        cities = _COUNTRIES[country][3]
        sites = ["Home"] if consumer else ["HQ"]
        for k in range(2, 2 + int(math.log2(scale))):
            sites.append(rng.choice(_SITES).format(n=k, city=rng.choice(cities)))
        return _Account(
            cid,
            segment,
            consumer,
            scale,
            discount,
            first,
            churn,
            list(dict.fromkeys(sites)),
        )

    # -- a customer's history --------------------------------------------------------------

    def story(self, a: _Account, install_yesterday: bool) -> None:
        rng = self.rng
        weights = _CATEGORY_WEIGHTS["consumer" if a.consumer else "organisation"]
        a.categories.append(rng.choices(_CATEGORIES, weights)[0])
        if not a.consumer:
            extra = min(0.8, 0.12 * math.log2(1 + a.scale))
            for category in _CATEGORIES:
                if category not in a.categories and rng.random() < extra:
                    a.categories.append(category)
        for i, category in enumerate(a.categories):
            self.core_order(
                a,
                a.first,
                category,
                self.quantity(a),
                install_on=self.yesterday if install_yesterday and i == 0 else None,
            )

        interval = 1400.0 if a.consumer else max(60.0, 1400.0 / math.sqrt(a.scale))
        day = a.first + 1 + int(rng.expovariate(1 / interval))
        while day <= min(self.yesterday, a.churn - 1):
            if rng.random() < 0.1:
                category = rng.choices(_CATEGORIES, weights)[0]
                if category not in a.categories:
                    a.categories.append(category)
            else:
                category = rng.choice(a.categories)
            self.core_order(a, day, category, self.quantity(a))
            day += 1 + int(rng.expovariate(1 / interval))

        # Worn-out units are replaced on the day they are removed, while the customer stays.
        while a.replacements:
            removed, category, units, ordered = a.replacements.pop(0)
            self.core_order(a, ordered, category, units, install_on=removed)

        for category in _CATEGORIES:
            self.consumables(a, category)

    def quantity(self, a: _Account) -> int:
        rng = self.rng
        if a.consumer:
            return 2 if rng.random() < 0.05 else 1
        cap = 5 if a.scale < 20 else 25
        return min(cap, 1 + int(rng.expovariate(1 / max(0.4, a.scale / 10))))

    def price(self, a: _Account, product_id: int, day: int) -> float:
        years_ago = (self.today - day) / 365
        factor = (1 - a.discount) * (1 - 0.02 * years_ago) * self.rng.uniform(0.97, 1.03)
        return round(self.specs[product_id].list_price * factor, 2)

    def order(self, a: _Account, day: int, *, is_return: bool = False) -> _Order:
        o = _Order(day, is_return)
        a.orders.append(o)
        return o

    def line(
        self,
        a: _Account,
        order: _Order,
        sku: str,
        quantity: int,
        coverage: tuple[int, int] | None = None,
    ) -> _Line:
        pid = self.pid[sku]
        ln = _Line(pid, quantity, self.price(a, pid, order.day), coverage)
        order.lines.append(ln)
        return ln

    def maybe_return(self, a: _Account, ln: _Line, day: int, rate: float) -> int:
        """Books a return of part of a line a few days later; the returned quantity."""
        rng = self.rng
        if rng.random() >= rate:
            return 0
        back = day + rng.randint(3, 30)
        if back > self.yesterday:
            return 0
        quantity = rng.randint(1, max(1, ln.quantity // 3))
        self.order(a, back, is_return=True).lines.append(
            _Line(ln.product_id, -quantity, ln.unit_price)
        )
        return quantity

    def install_delay(self) -> int:
        r = self.rng.random()
        if r < 0.55:
            return self.rng.randint(0, 3)
        return self.rng.randint(4, 14) if r < 0.9 else self.rng.randint(15, 30)

    def core_order(
        self,
        a: _Account,
        day: int,
        category: str,
        quantity: int,
        *,
        install_on: int | None = None,
    ) -> None:
        """An order of core units; `install_on` pins the installation of all of them."""
        rng = self.rng
        models, consumer_w, org_w = _MODELS[category]
        sku = rng.choices(models, consumer_w if a.consumer else org_w)[0]
        o = self.order(a, day)
        ln = self.line(a, o, sku, quantity)
        installable = quantity
        if install_on is None:
            installable -= self.maybe_return(a, ln, day, 0.025)
            if installable > 0 and rng.random() < 0.04:  # some units stay in storage
                installable -= rng.randint(1, installable)
        batch = self.install(a, o, ln.product_id, category, installable, day, install_on)
        if batch is not None and batch.removed is not None and batch.removed < a.churn:
            a.replacements.append(
                (batch.removed, category, batch.units, batch.removed - rng.randint(0, 14))
            )

        if rng.random() < (0.15 if a.consumer else 0.3):
            acc = rng.choice(_ACCESSORIES[category])
            acc_line = self.line(a, o, acc, rng.randint(1, quantity))
            kept = acc_line.quantity - self.maybe_return(a, acc_line, day, 0.02)
            if self.specs[acc_line.product_id].installable and batch is not None and kept > 0:
                a.batches.append(
                    _Batch(
                        acc_line.product_id,
                        "accessories",
                        o,
                        min(kept, batch.units),
                        batch.installed,
                        batch.removed,
                        batch.site,
                    )
                )
        self.service(a, o, category, quantity, batch)
        self.subscriptions(a, day, category, quantity)

    def install(
        self,
        a: _Account,
        o: _Order,
        product_id: int,
        category: str,
        units: int,
        day: int,
        install_on: int | None,
    ) -> _Batch | None:
        rng = self.rng
        if units <= 0:
            return None
        installed = install_on if install_on is not None else day + self.install_delay()
        if installed > self.yesterday:
            return None  # still waiting for its installation
        # 15% run for ever; the rest wear out after 3 to 11 years.
        life = None if rng.random() < 0.15 else int(rng.uniform(3.0, 11.0) * 365)
        removed = installed + life if life is not None else None
        if removed is not None and removed > self.yesterday:
            removed = None
        batch = _Batch(product_id, category, o, units, installed, removed, rng.choice(a.sites))
        a.batches.append(batch)
        return batch

    def service(
        self, a: _Account, o: _Order, category: str, quantity: int, batch: _Batch | None
    ) -> None:
        rng = self.rng
        take = 0.15 if a.consumer else (0.5 if a.segment == "government" else 0.4)
        if rng.random() >= take:
            return
        years = 3 if rng.random() < 0.3 else 1
        sku = f"SVC-{_SERVICE_CODE[category]}-{years}Y"
        end = self.plus_months(o.day, 12 * years) - 1
        self.line(a, o, sku, quantity, (o.day, end))
        while rng.random() < 0.75:
            if (
                end >= a.churn
                or batch is None
                or (batch.removed is not None and batch.removed <= end)
            ):
                return
            bought = end - rng.randint(-10, 30)
            start = max(end + 1, bought)
            if bought > self.yesterday or start > self.today:
                return  # renewal not booked yet: it ends soon, or has just lapsed
            end = self.plus_months(start, 12 * years) - 1
            self.line(a, self.order(a, bought), sku, quantity, (start, end))

    def subscriptions(self, a: _Account, day: int, category: str, quantity: int) -> None:
        rng = self.rng
        if category == "printers" and not a.consumer and not a.has_mps and rng.random() < 0.04:
            a.has_mps = True
            month = 0
            while True:
                start = self.plus_months(day, month)
                if start > self.yesterday or start >= a.churn:
                    return
                end = self.plus_months(day, month + 1) - 1
                self.line(a, self.order(a, start), "SUB-MPS", quantity, (start, end))
                if rng.random() < 0.03:
                    return
                month += 1
        if category == "scanners" and not a.has_cloud and rng.random() < 0.15:
            a.has_cloud = True
            start = day
            while start <= self.yesterday and start < a.churn:
                end = self.plus_months(start, 12) - 1
                self.line(a, self.order(a, start), "SUB-CLOUD", 1, (start, end))
                if rng.random() < 0.2:
                    return
                start = end + 1

    def consumables(self, a: _Account, category: str) -> None:
        rng = self.rng
        batches = [b for b in a.batches if b.category == category]
        if not batches:
            return
        if rng.random() >= (0.45 if a.consumer else 0.65):
            return  # buys its supplies elsewhere
        stop = min(a.churn, self.yesterday + 1)
        if rng.random() < 0.15:  # switched to a third-party supplier at some point
            stop = min(stop, a.first + int(rng.uniform(180, 2000)))
        interval = rng.uniform(150, 300) if a.consumer else rng.uniform(90, 140)
        skus, weights = _CONSUMABLES[category]
        day = min(b.installed for b in batches) + rng.randint(7, int(interval))
        while day < stop:
            active = sum(
                b.units
                for b in batches
                if b.installed <= day and (b.removed is None or b.removed > day)
            )
            if active:
                o = self.order(a, day)
                for sku in dict.fromkeys(
                    rng.choices(skus, weights, k=1 if rng.random() < 0.9 else 2)
                ):
                    quantity = max(1, round(active * rng.uniform(0.5, 1.5)))
                    self.maybe_return(a, self.line(a, o, sku, quantity), day, 0.01)
            day += int(interval * rng.uniform(0.7, 1.3))

    # -- deliberate oddities ---------------------------------------------------------------

    def stray_installation(self, a: _Account) -> None:
        """A unit of a product the customer never bought: a data-quality finding."""
        bought = {ln.product_id for o in a.orders for ln in o.lines}
        candidates = [
            pid for pid, spec in self.specs.items() if spec.kind == "core" and pid not in bought
        ]
        if candidates:
            pid = self.rng.choice(candidates)
            day = self.rng.randint(a.first, self.yesterday)
            a.batches.append(_Batch(pid, self.specs[pid].category, None, 1, day, None, None))

    def remove_yesterday(self, a: _Account) -> None:
        for b in a.batches:
            if not self.removals_due:
                return
            if b.removed is None and b.installed < self.yesterday:
                if b.units > 1:
                    b.units -= 1
                    a.batches.append(
                        _Batch(
                            b.product_id,
                            b.category,
                            b.order,
                            1,
                            b.installed,
                            self.yesterday,
                            b.site,
                        )
                    )
                else:
                    b.removed = self.yesterday
                self.removals_due -= 1

    # -- rows ------------------------------------------------------------------------------

    def emit(self, a: _Account) -> None:
        rng = self.rng
        d = self.date
        for o in sorted(a.orders, key=lambda o: o.day):
            if o.is_return:
                self.last_return += 1
                o.ref = f"RT-{self.last_return:07d}"
            else:
                self.last_order += 1
                o.ref = f"SO-{self.last_order:07d}"
            for line_no, ln in enumerate(o.lines, start=1):
                self.last_purchase += 1
                cov = ln.coverage
                self.purchases.append(
                    {
                        "id": self.last_purchase,
                        "order_ref": o.ref,
                        "line_no": line_no,
                        "customer_id": a.cid,
                        "product_id": ln.product_id,
                        "quantity": ln.quantity,
                        "unit_price": ln.unit_price,
                        "purchased_on": d(o.day),
                        "coverage_start": d(cov[0]) if cov else None,
                        "coverage_end": d(cov[1]) if cov else None,
                    }
                )
        for b in sorted(a.batches, key=lambda b: b.installed):
            prefix = self.serial_prefix[b.product_id]
            removed = d(b.removed) if b.removed is not None else None
            for _ in range(b.units):
                self.last_installation += 1
                self.serials[b.product_id] += 1
                site = b.site if b.units < 4 or len(a.sites) == 1 else rng.choice(a.sites)
                self.installations.append(
                    {
                        "id": self.last_installation,
                        "serial": f"{prefix}-{self.serials[b.product_id]:06d}",
                        "customer_id": a.cid,
                        "product_id": b.product_id,
                        "order_ref": b.order.ref if b.order is not None else None,
                        "site": site,
                        "installed_on": d(b.installed),
                        "removed_on": removed,
                    }
                )


def _insert(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    # A Core insert of the table runs one executemany per chunk; the ORM's bulk insert would
    # split a chunk wherever the set of NULL columns changes from one row to the next.
    statement = insert(Base.metadata.tables[table])
    for i in range(0, len(rows), CHUNK_ROWS):
        session.execute(statement, rows[i : i + CHUNK_ROWS])
    rows.clear()


def _flush(session: Session, company: _Company) -> None:
    # Parents first: the foreign keys are checked row by row.
    _insert(session, "customers", company.customers)
    _insert(session, "purchases", company.purchases)
    _insert(session, "installations", company.installations)


def _continue_sequences(session: Session) -> None:
    # Ids were assigned here, so PostgreSQL's serial sequences must be moved past them.
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in ("customers", "products", "purchases", "installations"):
        table = Base.metadata.tables[name]
        session.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, "id"),
                    select(func.max(table.c.id)).scalar_subquery(),
                )
            )
        )


def seed_demo(
    session: Session,
    *,
    customers: int = 2000,
    seed: int = 42,
    today: date,
    progress: Progress = SILENT,
) -> DemoSummary:
    """Fill an empty database with a synthetic company as of `today`.

    History spans seven years up to the day before `today`; only service and subscription
    coverage may end later. The same (customers, seed, today) always yields the same rows.
    Rows are inserted in chunks and the session is never committed (the caller owns it).
    Raises ValueError when `customers` is negative or any of the four tables has rows.
    """
    if customers < 0:
        raise ValueError(f"customers must be zero or more, not {customers}")
    for model in (Customer, Product, Purchase, Installation):
        if session.scalar(select(model.id).limit(1)) is not None:
            raise ValueError(
                f"The {model.__tablename__} table already has rows; "
                "demo data only goes into an empty database."
            )
    with bulk_load(session):
        _insert(
            session, "products", [{"id": i, **asdict(s)} for i, s in enumerate(PRODUCTS, start=1)]
        )
        company = _Company(customers, seed, today)
        with progress.phase("seed: generate and insert", total=customers, unit="customers") as step:
            written = 0
            for cid in range(1, customers + 1):
                company.customer(cid)
                if len(company.purchases) + len(company.installations) >= CHUNK_ROWS:
                    _flush(session, company)
                    step.advance(cid - written)
                    written = cid
            _flush(session, company)
            step.advance(customers - written)
        _continue_sequences(session)
    return DemoSummary(
        customers=customers,
        products=len(PRODUCTS),
        purchases=company.last_purchase,
        installations=company.last_installation,
    )
