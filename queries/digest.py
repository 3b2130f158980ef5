"""The daily digest's figures (SPEC §5): yesterday's activity and the state of the base."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from queries.models import Installation, Product, Purchase
from queries.request import UPSELL_RULES, Request
from queries.results import header, jsonable
from queries.scope import covers, customer_filter, in_products, money, target_product_ids
from queries.source import source
from queries.upsell import RULES, Candidate, candidate_table, detail, upsell
from queries.view import Figure, Listing, Money, Msg, Signed, View, _, _n, framing

DIGEST_TOP = 5
ENDING_DAYS = 30


@dataclass(frozen=True, kw_only=True)
class Digest:
    request: Request
    day: str
    new_customers: int
    purchase_lines: int
    revenue: float
    units_installed: int
    units_removed: int
    installed_customers: int
    installed_units: int
    customers_change: int
    units_change: int
    ending_service: int
    upsell: dict[str, list[Candidate]] = field(default_factory=dict)
    kind: str = "digest"

    @property
    def quiet(self) -> bool:
        """Nothing happened that day."""
        return not (
            self.new_customers or self.purchase_lines or self.units_installed or self.units_removed
        )

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "day": self.day,
            "new_customers": self.new_customers,
            "purchase_lines": self.purchase_lines,
            "revenue": self.revenue,
            "units_installed": self.units_installed,
            "units_removed": self.units_removed,
            "installed_base": {
                "customers": self.installed_customers,
                "units": self.installed_units,
                "customers_change": self.customers_change,
                "units_change": self.units_change,
            },
            "ending_service": self.ending_service,
            "upsell": jsonable(self.upsell),
        }

    def summary(self) -> Msg:
        """One sentence: what changed that day, and the installed base against a week before."""
        day = date.fromisoformat(self.day)
        change = (
            _n(
                "installed base {change} unit on the week",
                "installed base {change} units on the week",
                abs(self.units_change),
                change=Signed(self.units_change),
            )
            if self.units_change
            else _("installed base unchanged on the week")
        )
        if self.quiet:
            return _(
                "{day}: a quiet day — no purchases, installations or removals; {change}.",
                day=day,
                change=change,
            )
        return _(
            "{day}: {new}, {lines} ({revenue}), {installed} installed, {removed} removed;"
            " {change}.",
            day=day,
            new=_n("{n} new customer", "{n} new customers", self.new_customers),
            lines=_n("{n} purchase line", "{n} purchase lines", self.purchase_lines),
            revenue=Money(self.revenue),
            installed=_n("{n} unit", "{n} units", self.units_installed),
            removed=self.units_removed,
            change=change,
        )

    def view(self) -> View:
        d = self.request.as_of
        activity = (
            Figure(self.new_customers, "count", _("new customers")),
            Figure(self.purchase_lines, "count", _("purchase lines")),
            Figure(self.revenue, "money", _("revenue that day")),
            Figure(self.units_installed, "count", _("units installed")),
            Figure(self.units_removed, "count", _("units removed")),
        )
        state = (
            Figure(self.installed_customers, "count", _("installed-base customers")),
            Figure(self.customers_change, "signed", _("customers, against a week before")),
            Figure(self.installed_units, "count", _("installed units")),
            Figure(self.units_change, "signed", _("units, against a week before")),
            Figure(self.ending_service, "count", _("service lines ending in 30 days")),
        )
        listings = tuple(
            Listing(
                title=_("Top candidates: {rule}", rule=RULES[rule]),
                lines=tuple(
                    _(
                        "{rank}. {name} ({ref}) · {category} · {detail}",
                        rank=rank,
                        name=c.name,
                        ref=c.customer_ref,
                        category=c.category,
                        detail=detail(c, d),
                    )
                    for rank, c in enumerate(found, 1)
                ),
            )
            for rule in UPSELL_RULES
            if (found := self.upsell.get(rule))
        )
        summary = self.summary()
        return View(
            title=_("Daily digest"),
            **framing(self.request),
            headline=summary,
            sentences=(summary,) if listings else (summary, _("No upsell candidates.")),
            figures=state if self.quiet else activity + state,
            listings=listings,
            tables=(candidate_table(self.upsell, d),),
            paged=False,
            definition=_(
                "Activity of the day before the date; installed base at that day against"
                " a week earlier; service lines ending within 30 days."
            ),
        )


def digest(session: Session, request: Request) -> Digest:
    """Yesterday's activity, the installed base and its weekly change, contracts ending, upsell."""
    src = source(session)
    d = request.as_of
    day = d - timedelta(days=1)
    ids = target_product_ids(session, request.target)
    new_customers = src.new_customers_on(session, request, day, ids)
    dated = src.dated_lines
    lines, revenue = session.execute(
        select(func.count(), func.sum(dated.quantity * dated.unit_price)).where(
            dated.purchased_on == day,
            *in_products(dated.product_id, ids),
            *customer_filter(dated.customer_id, request.filters),
        )
    ).one()
    installed_that_day, removed_that_day = session.execute(
        select(
            func.count().filter(Installation.installed_on == day),
            func.count().filter(Installation.removed_on == day),
        ).where(
            or_(Installation.installed_on == day, Installation.removed_on == day),
            *in_products(Installation.product_id, ids),
            *customer_filter(Installation.customer_id, request.filters),
        )
    ).one()
    (customers_now, units_now), (customers_before, units_before) = src.installed_totals_on(
        session, request, [day, d - timedelta(days=8)], ids
    )
    services = src.service_lines
    ending = session.scalar(
        select(func.count())
        .select_from(services)
        .join(Product, Product.id == services.product_id)
        .where(
            Product.kind == "service",
            covers(d, services),
            and_(services.coverage_end <= d + timedelta(days=ENDING_DAYS)),
            *customer_filter(services.customer_id, request.filters),
            *([Product.for_category == request.target.category] if request.target else []),
        )
    )
    candidates = upsell(
        session, replace(request, rule=None, top=DIGEST_TOP, listing=None)
    ).by_rule()
    return Digest(
        request=request,
        day=day.isoformat(),
        new_customers=new_customers,
        purchase_lines=int(lines),
        revenue=money(revenue),
        units_installed=int(installed_that_day),
        units_removed=int(removed_that_day),
        installed_customers=customers_now,
        installed_units=units_now,
        customers_change=customers_now - customers_before,
        units_change=units_now - units_before,
        ending_service=int(ending or 0),
        upsell={rule: candidates[rule] for rule in UPSELL_RULES},
    )


def new_customers_on(session: Session, request: Request, day: date, ids: list[int] | None) -> int:
    """Customers whose first positive purchase line (of the target) is dated `day`."""
    # A purchase that day and none before it (only that day's buyers are looked up, not
    # every customer's first purchase).
    earlier = aliased(Purchase)
    bought_before = (
        select(earlier.id)
        .where(
            earlier.customer_id == Purchase.customer_id,
            earlier.quantity > 0,
            earlier.purchased_on < day,
            *in_products(earlier.product_id, ids),
        )
        .exists()
    )
    found = session.scalar(
        select(func.count(func.distinct(Purchase.customer_id))).where(
            Purchase.purchased_on == day,
            Purchase.quantity > 0,
            *in_products(Purchase.product_id, ids),
            *customer_filter(Purchase.customer_id, request.filters),
            ~bought_before,
        )
    )
    return int(found or 0)
