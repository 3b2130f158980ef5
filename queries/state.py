"""The figures a replica's state rows (queries/timeline.py) answer as a filter, in one place.

`Rows` reads each figure that has a faster form by its raw-row definition in its query module;
`StateRows` reads it from the state rows, and purchase lines and installations from their
date-ordered copies (queries/lines.py). The state rows hold every product or a whole category,
so one product is read by definition on a replica too. The oracle tests hold the two to the
same answers; queries.source picks one per session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, case, func, or_, select
from sqlalchemy.orm import Session

from queries.compare import compare_counts
from queries.customers import CustomerGroup, customer_base_by
from queries.digest import new_customers_on
from queries.installed import InstalledRow, installed_base_by, installed_totals_on
from queries.lines import INSTALLATIONS_BY_DAY, LINES_BY_DAY, SERVICE_LINES
from queries.models import Installation, Product, Purchase
from queries.request import Request, Target
from queries.scope import Window, customer_filter, dimension_key, exact, in_products
from queries.timeline import category_state, customer_state
from queries.upsell import INSTALL_GRACE_DAYS, UpsellCategory, active_units, install_gap


class Rows:
    """The figures with a faster form, by their definitions: a database's answers, and the
    oracle of StateRows."""

    # Each is read as the model it stands for, under the same column names.
    dated_lines: Any = Purchase
    service_lines: Any = Purchase
    dated_installations: Any = Installation

    def compare_counts(
        self, session: Session, request: Request, cats: list[str]
    ) -> dict[str, tuple[int, ...]]:
        return compare_counts(session, request, cats)

    def customer_base_by(
        self, session: Session, request: Request, by: str, where: list[ColumnElement[bool]]
    ) -> list[CustomerGroup]:
        return customer_base_by(session, request, by, where)

    def installed_base_by(
        self, session: Session, request: Request, by: str, products: list[int] | None
    ) -> list[InstalledRow]:
        return installed_base_by(session, request, by, products)

    def installed_totals_on(
        self, session: Session, request: Request, days: Sequence[date], products: list[int] | None
    ) -> list[tuple[int, int]]:
        return installed_totals_on(session, days, products, request.filters)

    def new_customers_on(
        self, session: Session, request: Request, day: date, ids: list[int] | None
    ) -> int:
        return new_customers_on(session, request, day, ids)

    def active_units(
        self, cat: UpsellCategory, d: date, *, without: Select[Any]
    ) -> Select[Any, Any]:
        return active_units(cat, d, without=without)

    def install_gap(self, cat: UpsellCategory, d: date) -> Select[Any, Any]:
        return install_gap(cat, d)


class StateRows(Rows):
    """A replica: the state rows where they can answer, the date-ordered copies."""

    dated_lines = LINES_BY_DAY
    # Only the positive lines of service products: a caller's own conditions must already
    # exclude every other line, which is never found here.
    service_lines = SERVICE_LINES
    dated_installations = INSTALLATIONS_BY_DAY

    def compare_counts(
        self, session: Session, request: Request, cats: list[str]
    ) -> dict[str, tuple[int, ...]]:
        if _one_product(request.target):
            return super().compare_counts(session, request, cats)
        d, st = request.as_of, category_state
        gap = st.c.bought_qty - st.c.placed
        states = select(
            st.c.category,
            func.count().filter(st.c.first_pos_on.is_not(None)),
            func.count().filter(st.c.units > 0),
            func.coalesce(func.sum(case((gap > 0, gap), else_=0)), 0),
        ).where(
            st.c.category.in_(cats),
            holding(st, d),
            *customer_filter(st.c.customer_id, request.filters),
        )
        removed = (
            select(Product.category, func.count())
            .select_from(Installation)
            .join(Product, Product.id == Installation.product_id)
            .where(
                Product.category.in_(cats),
                Window.ending(d).contains(Installation.removed_on),
                *customer_filter(Installation.customer_id, request.filters),
            )
            .group_by(Product.category)
        )
        gone = {c: int(n) for c, n in session.execute(removed)}
        held = {
            c: (int(b), int(i), int(g))
            for c, b, i, g in session.execute(states.group_by(st.c.category))
        }
        return {c: (*held.get(c, (0, 0, 0)), gone.get(c, 0)) for c in held.keys() | gone.keys()}

    def customer_base_by(
        self, session: Session, request: Request, by: str, where: list[ColumnElement[bool]]
    ) -> list[CustomerGroup]:
        """From the rows at the window's two ends: in the base when a positive line is dated
        by its end, active when the latest one falls inside, revenue the billed total at its
        end less that at its start."""
        if _one_product(request.target):
            return super().customer_base_by(session, request, by, where)
        window = Window.ending(request.as_of)
        table, picked = _state_of(request.target)
        at_end, at_start = holding(table, window.end), holding(table, window.start)
        billed = table.c.revenue_cum
        key = dimension_key(table.c[by])
        stmt = (
            select(
                key,
                func.count().filter(at_end, table.c.first_pos_on.is_not(None)),
                func.count().filter(at_end, window.contains(table.c.last_pos_on)),
                func.coalesce(func.sum(billed).filter(at_end), 0)
                - func.coalesce(func.sum(billed).filter(at_start), 0),
            )
            .where(
                *picked,
                or_(at_end, at_start),
                *customer_filter(table.c.customer_id, request.filters),
            )
            .group_by(key)
        )
        return [
            CustomerGroup(str(k), int(c), int(a), exact(r)) for k, c, a, r in session.execute(stmt)
        ]

    def installed_base_by(
        self, session: Session, request: Request, by: str, products: list[int] | None
    ) -> list[InstalledRow]:
        if _one_product(request.target):
            return super().installed_base_by(session, request, by, products)
        table, picked = _state_of(request.target)
        key = dimension_key(table.c[by])
        stmt = (
            select(key, func.count(), func.sum(table.c.units))
            .where(
                *picked,
                holding(table, request.as_of),
                table.c.units > 0,
                *customer_filter(table.c.customer_id, request.filters),
            )
            .group_by(key)
        )
        return [InstalledRow(str(k), int(c), int(u)) for k, c, u in session.execute(stmt)]

    def installed_totals_on(
        self, session: Session, request: Request, days: Sequence[date], products: list[int] | None
    ) -> list[tuple[int, int]]:
        if products is not None:
            return super().installed_totals_on(session, request, days, products)
        st = customer_state
        held = [holding(st, d) for d in days]
        row = session.execute(
            select(
                *[func.count().filter(h, st.c.units > 0) for h in held],
                *[func.coalesce(func.sum(st.c.units).filter(h), 0) for h in held],
            ).where(*customer_filter(st.c.customer_id, request.filters))
        ).one()
        n = len(days)
        return [(int(row[i]), int(row[n + i])) for i in range(n)]

    def new_customers_on(
        self, session: Session, request: Request, day: date, ids: list[int] | None
    ) -> int:
        if _one_product(request.target):
            return super().new_customers_on(session, request, day, ids)
        # That day's state row holds it, and begins that day: a few blocks of a table in
        # date order.
        table, picked = _state_of(request.target)
        return int(
            session.scalar(
                select(func.count()).where(
                    *picked,
                    table.c.from_on == day,
                    table.c.first_pos_on == day,
                    *customer_filter(table.c.customer_id, request.filters),
                )
            )
            or 0
        )

    def active_units(
        self, cat: UpsellCategory, d: date, *, without: Select[Any]
    ) -> Select[Any, Any]:
        if not cat.whole:
            return super().active_units(cat, d, without=without)
        st = category_state
        return select(st.c.customer_id.label("cid"), st.c.units.label("score")).where(
            st.c.category == cat.name,
            holding(st, d),
            st.c.units > 0,
            st.c.customer_id.not_in(without),
        )

    def install_gap(self, cat: UpsellCategory, d: date) -> Select[Any, Any]:
        """Units bought by d, less those bought in the grace days, less units installed by d."""
        if not cat.whole:
            return super().install_gap(cat, d)
        st, lines = category_state, self.dated_lines
        recent = (
            select(lines.customer_id.label("cid"), func.sum(lines.quantity).label("units"))
            .where(
                *in_products(lines.product_id, cat.installable),
                Window.ending(d, INSTALL_GRACE_DAYS).contains(lines.purchased_on),
            )
            .group_by(lines.customer_id)
            .subquery()
        )
        gap = st.c.bought_qty - func.coalesce(recent.c.units, 0) - st.c.placed
        return (
            select(st.c.customer_id.label("cid"), gap.label("score"))
            .select_from(st)
            .outerjoin(recent, recent.c.cid == st.c.customer_id)
            .where(st.c.category == cat.name, holding(st, d), gap > 0)
        )


def holding(state: Table, d: date) -> ColumnElement[bool]:
    """The row of each customer (and category) whose interval holds d."""
    return and_(state.c.from_on <= d, or_(state.c.to_on.is_(None), state.c.to_on > d))


def _one_product(target: Target | None) -> bool:
    """Whether the target is one product, which the state rows do not break out."""
    return target is not None and target.is_product


def _state_of(target: Target | None) -> tuple[Table, list[ColumnElement[bool]]]:
    """The state table for every product or a whole category, and the conditions that pick
    its rows."""
    if target is None:
        return customer_state, []
    return category_state, [category_state.c.category == target.category]
