"""The digest post: numbers first under a "what changed" line, a quiet day said in words, the
slice in the heading and in the figures, candidates short enough for a phone, and the chart."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from bot.chart import PNG_SIGNATURE, installed_chart
from bot.digest import build_digest, digest_chart, digest_message
from bot.i18n import speaker
from bot.settings import Settings
from queries.history import History
from tests.digest.conftest import build_digest_world
from tests.slack.driver import check_blocks, shown

SETTINGS = Settings()
D = date(2026, 6, 30)


def _texts(blocks: list[dict[str, object]]) -> list[str]:
    return [str(b["text"]["text"]) for b in blocks if b["type"] == "section" and "text" in b]  # type: ignore[index]


def test_busy_day_numbers_first(session: Session) -> None:
    build_digest_world(session)
    digest = build_digest(session, "", as_of=D, settings=SETTINGS)
    # Worked by hand for 2026-06-29: N and M are new (first purchases), two lines
    # 2 × 800 + 1500, N-1 installed, nothing removed; on 06-29, C-1, C-2, N-1 and E-1
    # are in use (6 units, 4 customers) against, C-1, C-2, E-1 on 06-22 (5 units,
    # 3 customers); B's service line ends 2026-08-29, after D+30 (07-30): none ends.
    assert digest.to_json() | {"upsell": None} == {
        "kind": "digest",
        "as_of": "2026-06-30",
        "target": None,
        "filters": [],
        "day": "2026-06-29",
        "new_customers": 2,
        "purchase_lines": 2,
        "revenue": 3100.0,
        "units_installed": 1,
        "units_removed": 0,
        "installed_base": {
            "customers": 4,
            "units": 6,
            "customers_change": 1,
            "units_change": 1,
        },
        "ending_service": 0,
        "upsell": None,
    }
    message = digest_message(digest, speaker())
    check_blocks(message.blocks)
    assert message.blocks[0]["type"] == "header"
    first = _texts(message.blocks)[0]
    assert first.startswith("Jun 29, 2026: 2 new customers, 2 purchase lines ($3,100.00)")
    figures = message.blocks[2]
    assert figures["type"] == "section"
    values = [f["text"].split("\n")[0] for f in figures["fields"]]
    assert values == [
        "*2*",
        "*2*",
        "*$3,100.00*",
        "*1*",
        "*0*",
        "*4*",
        "*+1*",
        "*6*",
        "*+1*",
        "*0*",
    ]
    assert "Jun 29, 2026: 2 new customers" in message.text
    # Candidates as short lines per rule, no paging buttons in a channel post.
    assert any(t.startswith("*Top candidates: service*\n1. ") for t in _texts(message.blocks))
    assert not any(b["type"] == "table" for b in message.blocks)
    actions = [
        e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert actions == ["basebot_csv"]


def test_quiet_day_says_so_instead_of_zeros(session: Session) -> None:
    build_digest_world(session)
    digest = build_digest(session, "", as_of=date(2026, 6, 29), settings=SETTINGS)
    assert digest.quiet
    message = digest_message(digest, speaker())
    check_blocks(message.blocks)
    text = shown({"text": message.text, "blocks": message.blocks})
    assert (
        "Jun 28, 2026: a quiet day — no purchases, installations or removals; installed base"
        " unchanged on the week." in text
    )
    assert "new customers" not in text and "purchase lines" not in text
    values = [f["text"] for f in message.blocks[2]["fields"]]
    # Only the state of the base: customers, units, contracts ending.
    assert len(values) == 5 and "installed-base customers" in values[0]


def test_slice_shows_only_its_customers(session: Session) -> None:
    build_digest_world(session)
    digest = build_digest(session, "printers in EMEA", as_of=D, settings=SETTINGS)
    assert (digest.new_customers, digest.purchase_lines, digest.revenue) == (1, 1, 1600.0)
    assert (digest.installed_customers, digest.installed_units) == (1, 1)  # N-1 on 06-29
    message = digest_message(digest, speaker())
    assert (
        message.blocks[0]["text"]["text"] == "Daily digest · printers · EMEA · as of Jun 30, 2026"
    )
    text = shown({"text": message.text, "blocks": message.blocks})
    assert "Mesa Copy Shop" not in text and "Acme Logistics" not in text
    for rule in digest.upsell.values():
        assert all(c.customer_ref in ("B", "N", "E") for c in rule)


def test_chart_is_a_png(session: Session) -> None:
    build_digest_world(session)
    digest = build_digest(session, "in EMEA", as_of=D, settings=SETTINGS)
    png = digest_chart(session, digest, speaker())
    assert png.startswith(PNG_SIGNATURE)
    assert 5_000 < len(png) < 500_000
    empty = installed_chart(History(days=[D], units={}), title="none")
    assert empty.startswith(PNG_SIGNATURE)


def test_a_scope_that_no_longer_parses_is_an_error(session: Session) -> None:
    from bot.parsing import ParseError

    build_digest_world(session)
    with pytest.raises(ParseError):
        build_digest(session, "plotters", as_of=D, settings=SETTINGS)
