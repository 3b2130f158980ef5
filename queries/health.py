"""Data-quality report (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, SQLColumnExpression, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from queries.models import Customer, Installation, Product, Purchase
from queries.request import Request
from queries.results import header, jsonable
from queries.scope import days_before
from queries.view import Column, Figure, Label, Msg, Table, View, _, _n, framing

EXAMPLES = 5
NEVER_INSTALLED_DAYS = 90


@dataclass(frozen=True)
class Check:
    check: str
    count: int
    examples: list[str]
    description: str


@dataclass(frozen=True, kw_only=True)
class HealthReport:
    request: Request
    checks: list[Check] = field(default_factory=list)
    kind: str = "health"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {"checks": jsonable(self.checks)}

    def view(self) -> View:
        found = [c for c in self.checks if c.count]
        return View(
            title=_("Data quality"),
            **framing(self.request),
            headline=_n(
                "{found} of {n} check found something",
                "{found} of {n} checks found something",
                len(self.checks),
                found=len(found),
            ),
            figures=(
                Figure(
                    len(found),
                    "count",
                    _n(
                        "of {n} check found something",
                        "of {n} checks found something",
                        len(self.checks),
                    ),
                ),
                Figure(sum(c.count for c in self.checks), "count", _("rows to look at")),
            ),
            tables=(
                Table(
                    columns=(
                        Column("check", _("check"), "label"),
                        Column("count", _("count"), "count"),
                        Column("examples", _("examples"), "long"),
                    ),
                    rows=[
                        (Label(c.check, self._described(c)), c.count, ", ".join(c.examples))
                        for c in self.checks
                    ],
                    empty=_("No checks ran."),
                ),
            ),
            definition=_("Counts with up to five examples each."),
        )

    def _described(self, c: Check) -> Msg:
        return {
            "orphan_rows": _(
                "purchases or installations pointing at a missing customer or product"
            ),
            "installations_without_purchase": _(
                "units installed at a customer who never bought that product"
            ),
            "installed_customers_without_purchase": _(
                "customers with installations but no purchase at all (in the installed base,"
                " not the customer base)"
            ),
            "never_installed_after_90_days": _(
                "purchase lines of installable products, 90+ days old, never installed"
            ),
            "duplicate_customer_names": _("names shared by more than one customer"),
            "future_dates": _("rows dated after {day}", day=self.request.as_of),
        }.get(c.check, Msg(c.description))


def _check(
    session: Session,
    name: str,
    description: str,
    label: SQLColumnExpression[Any],
    stmt: Select[Any],
) -> Check:
    sub = stmt.add_columns(label.label("label")).subquery()
    # One pass for both: the count is taken over every row before the limit applies.
    found = session.execute(
        select(sub.c.label, func.count().over()).order_by(sub.c.label).limit(EXAMPLES)
    ).all()
    count = found[0][1] if found else 0
    return Check(name, int(count), [str(label) for label, _ in found], description)


def health(session: Session, request: Request) -> HealthReport:
    """Orphans, installations without purchases, never-installed units, duplicates, future dates."""
    d = request.as_of
    no_customer = ~exists().where(Customer.id == Purchase.customer_id)
    no_product = ~exists().where(Product.id == Purchase.product_id)
    inst_no_customer = ~exists().where(Customer.id == Installation.customer_id)
    inst_no_product = ~exists().where(Product.id == Installation.product_id)
    orphans = union_all(
        select(("purchase " + Purchase.order_ref).label("label")).where(
            or_(no_customer, no_product)
        ),
        select(("installation " + Installation.serial).label("label")).where(
            or_(inst_no_customer, inst_no_product)
        ),
    ).subquery()
    bought_same = exists().where(
        Purchase.customer_id == Installation.customer_id,
        Purchase.product_id == Installation.product_id,
        Purchase.quantity > 0,
    )
    installed_same = exists().where(
        Installation.customer_id == Purchase.customer_id,
        Installation.product_id == Purchase.product_id,
    )
    dup_names = (
        select(func.lower(func.trim(Customer.name)).label("n"))
        .group_by(func.lower(func.trim(Customer.name)))
        .having(func.count() > 1)
        .subquery()
    )
    future = union_all(
        select(("purchase " + Purchase.order_ref).label("label")).where(Purchase.purchased_on > d),
        select(("installation " + Installation.serial).label("label")).where(
            or_(Installation.installed_on > d, Installation.removed_on > d)
        ),
        select(("customer " + Customer.customer_ref).label("label")).where(Customer.created_on > d),
    ).subquery()
    checks = [
        _check(
            session,
            "orphan_rows",
            "purchases or installations pointing at a missing customer or product",
            orphans.c.label,
            select().select_from(orphans),
        ),
        _check(
            session,
            "installations_without_purchase",
            "units installed at a customer who never bought that product",
            Installation.serial,
            select().where(~bought_same),
        ),
        _check(
            session,
            "installed_customers_without_purchase",
            "customers with installations but no purchase at all (in the installed base,"
            " not the customer base)",
            Customer.customer_ref,
            select()
            .select_from(Customer)
            .where(
                exists().where(Installation.customer_id == Customer.id),
                ~exists().where(Purchase.customer_id == Customer.id, Purchase.quantity > 0),
            ),
        ),
        _check(
            session,
            "never_installed_after_90_days",
            "purchase lines of installable products, 90+ days old, never installed",
            Purchase.order_ref + literal("/") + func.cast(Purchase.line_no, Customer.name.type),
            select()
            .select_from(Purchase)
            .join(Product, Product.id == Purchase.product_id)
            .where(
                Product.installable.is_(True),
                Purchase.quantity > 0,
                Purchase.purchased_on <= days_before(d, NEVER_INSTALLED_DAYS),
                ~installed_same,
            ),
        ),
        _check(
            session,
            "duplicate_customer_names",
            "names shared by more than one customer",
            dup_names.c.n,
            select().select_from(dup_names),
        ),
        _check(
            session,
            "future_dates",
            f"rows dated after {d.isoformat()}",
            future.c.label,
            select().select_from(future),
        ),
    ]
    return HealthReport(request=request, checks=checks)
