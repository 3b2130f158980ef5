"""Support lookup: one customer's profile, installations, coverage, purchases and revenue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import Window, money
from queries.view import (
    CATEGORY,
    CUSTOMER_REF,
    NAME,
    SKU,
    Column,
    Figure,
    Money,
    Table,
    View,
    _,
    _n,
)

RECENT_PURCHASES = 10
MAX_MATCHES = 25


@dataclass(frozen=True)
class Profile:
    customer_ref: str
    name: str
    segment: str | None
    channel: str | None
    industry: str | None
    country: str | None
    region: str | None
    email: str | None
    owner: str | None = None  # the account owner (SPEC §9)


@dataclass(frozen=True)
class InstallationLine:
    serial: str
    sku: str
    category: str
    site: str | None
    installed_on: date
    removed_on: date | None
    active: bool


@dataclass(frozen=True)
class PurchaseLine:
    order_ref: str
    line_no: int
    sku: str
    quantity: int
    unit_price: float
    purchased_on: date


@dataclass(frozen=True)
class CoverageLine:
    sku: str
    for_category: str | None
    coverage_start: date
    coverage_end: date
    active: bool


@dataclass(frozen=True)
class Match:
    customer_ref: str
    name: str


@dataclass(frozen=True, kw_only=True)
class CustomerCard:
    request: Request
    customer: Profile | None = None
    installations: list[InstallationLine] = field(default_factory=list)
    purchases: list[PurchaseLine] = field(default_factory=list)
    coverage: list[CoverageLine] = field(default_factory=list)
    revenue: float = 0.0
    matches: list[Match] = field(default_factory=list)
    kind: str = "customer"

    def to_json(self) -> dict[str, Any]:
        out = header(self.kind, self.request) | {"query": self.request.lookup}
        if self.customer is None:
            return out | {"matches": jsonable(self.matches)}
        return out | {
            "customer": jsonable(self.customer),
            "installations": jsonable(self.installations),
            "purchases": jsonable(self.purchases),
            "coverage": jsonable(self.coverage),
            "revenue": self.revenue,
        }

    def view(self) -> View:
        lookup = self.request.lookup or ""
        definition = _(
            "Installations up to the date (active = in use on it); coverage from service and"
            " subscription lines; revenue over the last 365 days."
        )
        c = self.customer
        if c is None:
            missing = _("No customer matches “{lookup}”.", lookup=lookup)
            if not self.matches:
                return View(
                    title=_("Customer"),
                    as_of=self.request.as_of,
                    subject=(f"“{lookup}”",),
                    headline=missing,
                    sentences=(
                        missing,
                        _("Try a customer ref, an email or part of the name."),
                    ),
                    definition=definition,
                    shareable=False,
                )
            return View(
                title=_("Customer"),
                as_of=self.request.as_of,
                subject=(f"“{lookup}”",),
                headline=_n(
                    "{n} customer matches “{lookup}”",
                    "{n} customers match “{lookup}”",
                    len(self.matches),
                    lookup=lookup,
                ),
                sentences=(_("Several customers match “{lookup}”: pick one.", lookup=lookup),),
                tables=(
                    Table(
                        columns=(Column("customer_ref", CUSTOMER_REF), Column("name", NAME)),
                        rows=[(m.customer_ref, m.name) for m in self.matches],
                    ),
                ),
                definition=definition,
                picks=tuple((f"{m.name} ({m.customer_ref})", m.customer_ref) for m in self.matches),
            )
        in_use = sum(1 for i in self.installations if i.active)
        covering = sum(1 for v in self.coverage if v.active)
        unknown = "(unknown)"
        profile = " · ".join(
            [c.customer_ref]
            + [v or unknown for v in (c.segment, c.channel, c.industry)]
            + [f"{c.country or unknown} / {c.region or unknown}"]
        )
        return View(
            title=_("Customer"),
            as_of=self.request.as_of,
            subject=(c.name,),
            headline=_n(
                "{name} ({ref}): {n} unit in use, revenue {revenue} (365 days)",
                "{name} ({ref}): {n} units in use, revenue {revenue} (365 days)",
                in_use,
                name=c.name,
                ref=c.customer_ref,
                revenue=Money(self.revenue),
            ),
            lines=(profile, _("Account owner: {owner}", owner=c.owner))
            if c.owner
            else (profile, _("No account owner.")),
            figures=(
                Figure(self.revenue, "money", _("revenue (365 days)")),
                Figure(in_use, "count", _("units in use")),
                Figure(len(self.installations) - in_use, "count", _("units removed")),
                Figure(covering, "count", _("service lines covering the date")),
            ),
            tables=(
                Table(
                    title=_("Installations"),
                    columns=(
                        Column("serial", _("serial")),
                        Column("sku", SKU),
                        Column("category", CATEGORY),
                        Column("site", _("site")),
                        Column("installed_on", _("installed on"), "date"),
                        Column("removed_on", _("removed on"), "date"),
                        Column("active", _("in use"), "bool"),
                    ),
                    rows=[
                        (
                            i.serial,
                            i.sku,
                            i.category,
                            i.site,
                            i.installed_on,
                            i.removed_on,
                            i.active,
                        )
                        for i in self.installations
                    ],
                    empty=_("none"),
                ),
                Table(
                    title=_("Service coverage"),
                    columns=(
                        Column("sku", SKU),
                        Column("for_category", _("for")),
                        Column("coverage_start", _("from"), "date"),
                        Column("coverage_end", _("to"), "date"),
                        Column("active", _("covers the date"), "bool"),
                    ),
                    rows=[
                        (v.sku, v.for_category, v.coverage_start, v.coverage_end, v.active)
                        for v in self.coverage
                    ],
                    empty=_("none"),
                ),
                Table(
                    title=_("Last purchases"),
                    columns=(
                        Column("order_ref", _("order")),
                        Column("line_no", _("line"), "count"),
                        Column("sku", SKU),
                        Column("quantity", _("qty"), "count"),
                        Column("unit_price", _("unit price"), "money"),
                        Column("purchased_on", _("date"), "date"),
                    ),
                    rows=[
                        (p.order_ref, p.line_no, p.sku, p.quantity, p.unit_price, p.purchased_on)
                        for p in self.purchases
                    ],
                    empty=_("none"),
                ),
            ),
            definition=definition,
            contact=c.email,
        )


def find_customers(session: Session, text: str) -> list[Customer]:
    """Customers matching a ref, an email or a name; best match first.

    An exact ref or email is decisive; otherwise exact names, then names starting with the
    text, then names containing it.
    """
    needle = text.strip().lower()
    for col in (Customer.customer_ref, Customer.email):
        # As typed first: an indexed read, where lower() would scan every customer.
        for key, value in ((col, text.strip()), (func.lower(col), needle)):
            exact = list(session.scalars(select(Customer).where(key == value).limit(2)))
            if len(exact) == 1:
                return exact
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    name = func.lower(Customer.name)
    rank = case((name == needle, 0), (name.like(needle.replace("%", "") + "%"), 1), else_=2)
    stmt = (
        select(Customer)
        .where(or_(name.like(pattern, escape="\\"), func.lower(Customer.customer_ref) == needle))
        .order_by(rank, func.length(Customer.name), Customer.name, Customer.customer_ref)
        .limit(MAX_MATCHES)
    )
    found = list(session.scalars(stmt))
    exact_names = [c for c in found if c.name.lower() == needle]
    return exact_names if exact_names else found


def customer_card(session: Session, request: Request) -> CustomerCard:
    """One customer's installed products, service coverage, last purchases and revenue."""
    found = find_customers(session, request.lookup or "")
    if len(found) != 1:
        return CustomerCard(request=request, matches=[Match(c.customer_ref, c.name) for c in found])
    c = found[0]
    d = request.as_of
    profile = Profile(
        c.customer_ref,
        c.name,
        c.segment,
        c.channel,
        c.industry,
        c.country,
        c.region,
        c.email,
        c.owner,
    )
    inst = session.execute(
        select(Installation, Product.sku, Product.category)
        .join(Product, Product.id == Installation.product_id)
        .where(Installation.customer_id == c.id, Installation.installed_on <= d)
        .order_by(Installation.installed_on.desc(), Installation.serial)
    ).all()
    installations = [
        InstallationLine(
            i.serial,
            sku,
            cat,
            i.site,
            i.installed_on,
            i.removed_on,
            i.removed_on is None or i.removed_on > d,
        )
        for i, sku, cat in inst
    ]
    installations.sort(key=lambda i: not i.active)
    recent = session.execute(
        select(Purchase, Product.sku)
        .join(Product, Product.id == Purchase.product_id)
        .where(Purchase.customer_id == c.id, Purchase.purchased_on <= d)
        .order_by(Purchase.purchased_on.desc(), Purchase.order_ref.desc(), Purchase.line_no.desc())
        .limit(RECENT_PURCHASES)
    ).all()
    purchases = [
        PurchaseLine(p.order_ref, p.line_no, sku, p.quantity, money(p.unit_price), p.purchased_on)
        for p, sku in recent
    ]
    cov = session.execute(
        select(Purchase, Product.sku, Product.for_category)
        .join(Product, Product.id == Purchase.product_id)
        .where(
            Purchase.customer_id == c.id,
            Purchase.quantity > 0,
            Purchase.purchased_on <= d,
            Product.kind.in_(("service", "subscription")),
            Purchase.coverage_start.is_not(None),
            Purchase.coverage_end.is_not(None),
        )
        .order_by(Purchase.coverage_end.desc(), Product.sku)
    ).all()
    coverage = [
        CoverageLine(
            sku,
            for_cat,
            p.coverage_start,
            p.coverage_end,
            p.coverage_start <= d <= p.coverage_end,
        )
        for p, sku, for_cat in cov
        if p.coverage_start is not None and p.coverage_end is not None
    ]
    revenue = session.scalar(
        select(func.coalesce(func.sum(Purchase.quantity * Purchase.unit_price), 0)).where(
            Purchase.customer_id == c.id, Window.ending(d).contains(Purchase.purchased_on)
        )
    )
    return CustomerCard(
        request=request,
        customer=profile,
        installations=installations,
        purchases=purchases,
        coverage=coverage,
        revenue=money(revenue),
    )
