"""The Block Kit renderer on its own: pure functions, Slack's limits, paging, CSV, escaping."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock

from bot.help import HelpAnswer
from bot.i18n import speaker
from bot.parsing import ParseError
from bot.render.blocks import (
    MAX_BLOCKS,
    PAGE_ROWS,
    ButtonState,
    _finish,
    csv_file,
    render_answer,
    render_apology,
    render_error,
    render_help,
)
from bot.render.text import render_text
from queries.health import Check, HealthReport
from queries.installed import InstalledBase, InstalledRow
from queries.lookup import CustomerCard, InstallationLine, Match, Profile, PurchaseLine
from queries.registry import QUERIES
from queries.request import DIRECT, OFFLINE, Request, Source, Target
from queries.results import Answer
from queries.upsell import Candidate, UpsellList
from queries.view import Msg
from tests.slack.driver import buttons, check_blocks, mrkdwn

D = date(2026, 6, 30)
PRINTERS = Target(kind="category", value="printers", category="printers")
LONG = "Ω" * 600 + " <!channel> & more"


def upsell(n: int) -> UpsellList:
    request = Request(verb="upsell", as_of=D, target=PRINTERS, text="upsell printers")
    rules = ("service", "renewal", "install", "consumables", "aging")
    return UpsellList(
        request=request,
        candidates=[
            Candidate(f"C{i:05d}", LONG, "printers", rules[i % 5], i, LONG) for i in range(n)
        ],
    )


def card(units: int) -> CustomerCard:
    request = Request(verb="customer", as_of=D, lookup="big", text="customer big")
    return CustomerCard(
        request=request,
        customer=Profile("BIG", LONG, "business", "direct", "retail", "US", "AMER", None),
        installations=[
            InstallationLine(f"S{i}", "PRN-1", "printers", LONG, D, None, True)
            for i in range(units)
        ],
        purchases=[PurchaseLine(f"O{i}", 1, "PRN-1" * 40, 1, 1234.5, D) for i in range(10)],
        revenue=1234567.891,
    )


def every_page(answer: Answer, pages: int) -> None:
    for page in range(pages):
        message = render_answer(answer, page=page)
        check_blocks(message.blocks)
        assert message.text
        found = buttons(message.blocks)
        assert ("basebot_page_prev" in found) == (page > 0)
        assert ("basebot_page_next" in found) == (page < pages - 1)
        for block in message.blocks:
            if block["type"] == "table":
                assert len(block["rows"]) <= PAGE_ROWS + 1


@pytest.mark.parametrize("n", [0, 1, PAGE_ROWS, PAGE_ROWS + 1, 1000])
def test_long_candidate_lists_page_within_slacks_limits(n: int) -> None:
    every_page(upsell(n), max(1, -(-n // PAGE_ROWS)))


def test_a_big_customer_card_pages_its_installations() -> None:
    every_page(card(300), 15)
    first = render_answer(card(300))
    assert "Rows 1–20 of 300" in json.dumps(first.blocks, ensure_ascii=False)


def test_many_matches_page_their_pick_buttons() -> None:
    request = Request(verb="customer", as_of=D, lookup="a", text="customer a")
    matches = CustomerCard(request=request, matches=[Match(f"R{i}", LONG) for i in range(25)])
    first, second = render_answer(matches), render_answer(matches, page=1)
    for message in (first, second):
        check_blocks(message.blocks)
    picks = [a for a in buttons(first.blocks) if a.startswith("basebot_pick_")]
    assert len(picks) == PAGE_ROWS and "basebot_share" not in buttons(first.blocks)
    assert len([a for a in buttons(second.blocks) if a.startswith("basebot_pick_")]) == 5
    state = ButtonState.decode(buttons(first.blocks)["basebot_pick_0"]["value"])
    assert state == ButtonState(command="customer R0", as_of=D)


def test_a_wide_breakdown_and_a_wordy_health_report_fit() -> None:
    request = Request(verb="installed", as_of=D, by="country", text="installed by country")
    rows = [InstalledRow(LONG + str(i), i, i * 3) for i in range(500)]
    every_page(
        InstalledBase(request=request, customers=500, units=1500, by="country", rows=rows), 25
    )
    health = HealthReport(
        request=Request(verb="health", as_of=D, text="health"),
        checks=[Check(LONG, 10**6, [LONG] * 5, LONG) for _ in range(30)],
    )
    every_page(health, 2)


def test_data_never_becomes_a_mention_or_a_link() -> None:
    for message in (render_answer(upsell(3)), render_answer(card(2))):
        assert "<!channel>" not in mrkdwn({"text": message.text, "blocks": message.blocks})


def test_button_state_round_trips_and_rejects_anything_else() -> None:
    state = ButtonState(command="upsell printers as of 2026-06-30", as_of=D, page=2)
    assert ButtonState.decode(state.encode()) == state
    for bad in (
        "",
        "[]",
        '"x"',
        '{"c": 1, "d": "2026-06-30"}',
        '{"c": "x", "d": "soon"}',
        '{"c": "x", "d": "2026-06-30", "p": "2"}',
        "{",
    ):
        with pytest.raises(ValueError):
            ButtonState.decode(bad)
    assert ButtonState.decode('{"c": "x", "d": "2026-06-30", "p": -4}').page == 0


def test_a_button_whose_state_would_not_fit_is_left_out() -> None:
    long = upsell(50)
    long = UpsellList(
        request=Request(verb="upsell", as_of=D, text='"' * 1000), candidates=long.candidates
    )
    found = buttons(render_answer(long).blocks)
    assert found == {}  # every button would carry the 2,000+ character state


def test_csv_holds_every_row_with_plain_numbers() -> None:
    name, content = csv_file(card(300))
    assert name == "basebot-customer-big-2026-06-30.csv"
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0] == ["serial", "sku", "category", "site", "installed_on", "removed_on", "active"]
    assert len(rows) == 301 and rows[1][4:] == ["2026-06-30", "", "yes"]
    _, top = csv_file(upsell(3))
    assert list(csv.reader(io.StringIO(top)))[1][4] == "0"


def test_help_is_the_registry_text() -> None:
    answer = HelpAnswer(request=Request(verb="help", as_of=D, text="help"), command="/inventory")
    message = render_help(answer)
    check_blocks(message.blocks)
    assert message.blocks[0]["text"]["text"] == "Help · /inventory commands"
    shown = json.dumps(message.blocks, ensure_ascii=False).replace("&lt;", "<").replace("&gt;", ">")
    cli = render_text(answer)
    for spec in QUERIES.values():
        for said in (shown, cli):
            assert f"/inventory {spec.usage}" in said
            assert all(f"`/inventory {e}`" in said for e in spec.examples)


def test_errors_and_apologies() -> None:
    error = ParseError(
        Msg("I don't know “<!here>”."),
        example="/base installed printers",
        suggestions=("printers",),
    )
    message = render_error(error)
    check_blocks(message.blocks)
    assert "&lt;!here&gt;" in message.blocks[0]["text"]["text"]
    assert message.text.startswith("I don't know “&lt;!here&gt;”.")
    apology = render_apology("ABCD1234")
    check_blocks(apology.blocks)
    assert "`ABCD1234`" in apology.text


def test_more_than_fifty_blocks_are_cut_keeping_the_buttons() -> None:
    button = ButtonElement(text="Next", action_id="n", value="v")
    blocks = [SectionBlock(text=f"line {i}") for i in range(70)] + [ActionsBlock(elements=[button])]
    message = _finish(blocks, "text", speaker())
    assert len(message.blocks) == MAX_BLOCKS
    assert message.blocks[-1]["type"] == "actions"
    assert message.blocks[-2]["type"] == "context"
    check_blocks(message.blocks)


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (Source(DIRECT), "Read directly from the database"),
        (
            Source(OFFLINE, datetime(2026, 12, 3, 14, 5, tzinfo=UTC)),
            "The database cannot be reached: these figures are its data as of Dec 3, 2026, 2:05",
        ),
    ],
)
def test_a_reply_says_where_its_figures_were_read(source: Source, said: str) -> None:
    request = Request(verb="installed", as_of=D, text="installed", source=source)
    answer = InstalledBase(request=request, customers=1, units=2, by="segment", rows=[])
    assert said in json.dumps(render_answer(answer).blocks)
    assert said in render_text(answer)
    plain = InstalledBase(
        request=Request(verb="installed", as_of=D, text="installed"),
        customers=1,
        units=2,
        by="segment",
        rows=[],
    )
    assert "database" not in render_text(plain).lower()
