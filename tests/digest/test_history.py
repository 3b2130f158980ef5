"""installed_history: hand-worked days, and every day against installed_totals (an independent
query) over more than a year of the world."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from queries.history import installed_history
from queries.installed import installed_totals
from queries.request import Filter, Target
from queries.scope import target_product_ids
from tests.digest.conftest import build_digest_world


def _printers() -> Target:
    return Target(kind="category", value="printers", category="printers")


def test_three_days_worked_by_hand(session: Session) -> None:
    f = build_digest_world(session)
    # In use one day only: installed 06-29, removed 06-30.
    f.install("M", "COP-1", "2026-06-29", removed="2026-06-30", serial="M-1")
    # Bad data: removed the day it was installed, so never in use.
    f.install("M", "COP-1", "2026-06-28", removed="2026-06-28", serial="M-0")
    h = installed_history(session, date(2026, 6, 30), days=3)
    assert h.days == [date(2026, 6, 28), date(2026, 6, 29), date(2026, 6, 30)]
    # printers: A-1, A-2 (removed 06-30), C-1, C-2, then N-1 from 06-29, B-1 from 06-30.
    # copiers: E-1 throughout, M-1 on 06-29 only.
    assert h.units == {"copiers": [1, 2, 1], "printers": [4, 5, 5]}


def test_slice_by_region_and_target(session: Session) -> None:
    build_digest_world(session)
    emea = (Filter(dimension="region", value="EMEA"),)
    h = installed_history(session, date(2026, 6, 30), days=3, filters=emea)
    # EMEA: E (copier E-1), N (N-1 from 06-29), B (B-1 from 06-30).
    assert h.units == {"copiers": [1, 1, 1], "printers": [0, 1, 2]}
    h = installed_history(session, date(2026, 6, 30), days=3, filters=emea, target=_printers())
    assert h.units == {"printers": [0, 1, 2]}


def test_every_day_matches_installed_totals(session: Session) -> None:
    build_digest_world(session)
    end, days = date(2026, 7, 15), 420
    h = installed_history(session, end, days=days)
    for category in ("printers", "copiers"):
        target = Target(kind="category", value=category, category=category)
        points = h.units.get(category, [0] * days)
        for i, day in enumerate(h.days):
            assert (
                points[i] == installed_totals(session, day, target_product_ids(session, target))[1]
            ), (category, day)
    assert h.days[0] == end - timedelta(days=days - 1)
    assert h.to_json()["days"][-1] == "2026-07-15"


def test_no_installations_gives_no_lines(session: Session) -> None:
    h = installed_history(session, date(2026, 6, 30), days=90)
    assert h.units == {} and len(h.days) == 90
