"""Block Kit replies: pure functions from query results (or errors) to Slack messages.

Every block is built with slack_sdk.models.blocks and serialised with `to_dict()`, which
validates it. Slack's limits live in one place (the constants below and `_finish`): long lists
page, long text is clipped, and a message never carries more than Slack accepts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
    TableBlock,
)
from slack_sdk.models.blocks.basic_components import RawTextObject, TableBlockColumnSettings

from bot.help import HelpAnswer
from bot.parsing import ParseError
from bot.render.text import (
    concentration_line,
    customers_line,
    digest_summary,
    installed_line,
    loyal_line,
    number,
    pct,
    render_text,
    source_note,
    table,
    title,
)
from queries.compare import Comparison
from queries.concentration import Concentration
from queries.customers import CustomerBase
from queries.digest import Digest
from queries.health import HealthReport
from queries.installed import InstalledBase
from queries.lookup import CustomerCard
from queries.loyal import LoyalCustomers
from queries.registry import QUERIES
from queries.request import UPSELL_RULES
from queries.results import Answer
from queries.top import TopCustomers
from queries.upsell import Candidate, UpsellList

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks), enforced only here.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ELEMENTS = 25
MAX_TABLE_ROWS = 100
MAX_TABLE_COLUMNS = 20
MAX_MESSAGE_CHARS = 12_000  # cumulative text of one message's blocks
MAX_FALLBACK_TEXT = 4000
TABLE_BUDGET = 7_000  # characters of table cells per page, within MAX_MESSAGE_CHARS
PAGE_ROWS = 20  # rows of a list per message; the rest pages

ACTION_PREVIOUS = "basebot_page_prev"
ACTION_NEXT = "basebot_page_next"
ACTION_CSV = "basebot_csv"
ACTION_SHARE = "basebot_share"
ACTION_PICK = "basebot_pick"  # + "_<n>": action ids must be unique within a block
PAGE_ACTIONS = re.compile(rf"^(?:{ACTION_PREVIOUS}|{ACTION_NEXT})$")
PICK_ACTIONS = re.compile(rf"^{ACTION_PICK}_\d+$")


@dataclass(frozen=True, kw_only=True)
class Message:
    """A Slack message: validated blocks and the fallback `text` (notifications, screen readers)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ButtonState:
    """What a button re-asks: the normalised command text, its as-of date and a page.

    Slack signs every action request, yet the value is still only re-parsed and re-run as a
    command, never trusted as anything else.
    """

    command: str
    as_of: date
    page: int = 0

    def encode(self) -> str:
        return json.dumps(
            {"c": self.command, "d": self.as_of.isoformat(), "p": self.page},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, value: str) -> ButtonState:
        """Raises ValueError for anything but a value `encode` made."""
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("not a button state")
        command, day, page = data.get("c"), data.get("d"), data.get("p", 0)
        if not isinstance(command, str) or not isinstance(day, str) or type(page) is not int:
            raise ValueError("not a button state")
        return cls(command=command, as_of=date.fromisoformat(day), page=max(page, 0))


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text, long, int, money, pct, date, bool


@dataclass(frozen=True)
class Grid:
    """An answer's main list: what the table pages through and what the CSV file holds."""

    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]


# ---------------------------------------------------------------- public renderers


def render_answer(
    answer: Answer,
    *,
    currency: str = "USD",
    page: int = 0,
    public: bool = False,
    shared_by: str | None = None,
    contacts: bool = False,
) -> Message:
    """The reply to a command: header, key figures, a (paged) table, what counts, buttons.

    Contact fields (a customer's email) are shown only when `contacts` is given (the access
    rule `contact_fields` allows the asker) and never in a public or shared answer.
    """
    if isinstance(answer, HelpAnswer):
        return render_help(answer)
    renderer = _RENDERERS.get(type(answer))
    if renderer is None:  # pragma: no cover - every registered kind has a renderer
        return _finish([_section(_esc(render_text(answer, currency=currency)))], answer.kind)
    body = renderer(answer, currency)
    blocks: list[Block] = [HeaderBlock(text=_clip(body.header, MAX_HEADER_TEXT))]
    blocks += body.top
    if contacts and not public and not shared_by and isinstance(answer, CustomerCard):
        email = answer.customer.email if answer.customer else None
        if email:
            blocks.insert(len(blocks) - 1, _contact(email))  # after the profile line
    lines: list[str] = []
    shown = 0
    if body.grid is not None and body.show_table:
        pages = max(1, math.ceil(body.row_count() / PAGE_ROWS))
        page = min(max(page, 0), pages - 1)
        start = page * PAGE_ROWS
        chunk = body.grid.rows[start : start + PAGE_ROWS]
        shown = len(chunk)
        if chunk:
            blocks.append(_table(body.grid.columns, chunk))
        elif body.empty:
            blocks.append(_section(_esc(body.empty)))
        if pages > 1:
            lines.append(f"Rows {start + 1}–{start + shown} of {number(body.row_count())}")
    blocks += body.bottom
    definition = QUERIES[answer.kind].definition if answer.kind in QUERIES else ""
    if definition:
        lines.append(definition)
    note = source_note(answer.request.source)
    if note:
        lines.append(note)
    if shared_by:
        lines.append(f"Shared by <@{_esc(shared_by)}>")
    if lines:
        blocks.append(_context(lines))
    buttons = _buttons(answer, body, page=page, public=public or bool(shared_by))
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return _finish(blocks, f"{body.header}: {body.headline}")


def render_help(answer: HelpAnswer) -> Message:
    """Every verb with its usage, summary and examples (the registry's own text)."""
    data = answer.to_json()
    blocks: list[Block] = [
        HeaderBlock(text=f"Help · {answer.command} commands"),
        _section("basebot answers questions about your customer base and installed base."),
    ]
    for verb in data["verbs"]:
        examples = " · ".join(f"`{_esc(e)}`" for e in verb["examples"])
        blocks.append(
            _section(f"*`{_esc(verb['usage'])}`*\n{_esc(verb['summary'])}\ne.g. {examples}")
        )
    blocks.append(DividerBlock())
    blocks.append(
        _section("\n".join(f"*{_esc(k)}*: {_esc(v)}" for k, v in data["modifiers"].items()))
    )
    return _finish(blocks, render_text(answer))


def render_error(error: ParseError, *, command: str = "/base") -> Message:
    """What was wrong, the nearest valid words, and one correct example."""
    blocks: list[Block] = [_section(f":warning: {_esc(error.problem)}")]
    if error.suggestions:
        close = ", ".join(f"`{_esc(s)}`" for s in error.suggestions)
        blocks.append(_section(f"Did you mean: {close}?"))
    blocks.append(_section(f"For example: `{_esc(error.example)}`"))
    blocks.append(_context([f"`{_esc(command)} help` lists every command."]))
    return _finish(blocks, error.message)


def render_apology(incident: str, *, unreachable: bool = False) -> Message:
    """A failure on our side: an apology and the incident id the log carries."""
    if unreachable:
        text = (
            ":warning: The database cannot be reached right now, so that could not be done; "
            "nothing was changed. Questions are still answered from basebot's copy of the "
            f"data where there is one. Try again in a few minutes (incident id `{_esc(incident)}`)."
        )
    else:
        text = (
            ":warning: Sorry, something went wrong on my side while answering that. "
            f"Nothing was changed. Incident id `{_esc(incident)}`: pass it on to your basebot "
            "admin, who can find the details in the app's log."
        )
    return _finish([_section(text)], text)


def render_notice(text: str) -> Message:
    """A one-line message (e.g. where the CSV went)."""
    return _finish([_section(_esc(text))], text)


def answer_grid(answer: Answer, *, currency: str = "USD") -> Grid | None:
    """The answer's main list, unpaged (None for help)."""
    renderer = _RENDERERS.get(type(answer))
    return renderer(answer, currency).grid if renderer else None


def csv_file(answer: Answer, *, currency: str = "USD") -> tuple[str, str]:
    """(file name, CSV text) of the full result: every row, raw numbers."""
    grid = answer_grid(answer, currency=currency)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if grid is not None:
        writer.writerow([c.name for c in grid.columns])
        for row in grid.rows:
            writer.writerow([_raw(v, c.kind) for v, c in zip(row, grid.columns, strict=True)])
    parts = [answer.kind]
    request = answer.request
    if request.target:
        parts.append(request.target.value)
    if request.lookup:
        parts.append(request.lookup)
    parts.append(request.as_of.isoformat())
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-")[:80]
    return f"basebot-{name}.csv", out.getvalue()


# ---------------------------------------------------------------- per-kind bodies


@dataclass(kw_only=True)
class _Body:
    header: str
    headline: str
    top: list[Block] = field(default_factory=list)
    grid: Grid | None = None
    show_table: bool = True
    empty: str = ""
    bottom: list[Block] = field(default_factory=list)
    picks: list[tuple[str, str]] = field(default_factory=list)  # (label, customer_ref)
    shareable: bool = True
    total_rows: int | None = None  # the whole list's rows when `grid` holds only its head

    def row_count(self) -> int:
        if self.grid is None or not self.show_table:
            return 0
        return len(self.grid.rows) if self.total_rows is None else self.total_rows


def _installed(r: InstalledBase, currency: str) -> _Body:
    return _Body(
        header=title(r.kind, r.request),
        headline=installed_line(r),
        top=[_figures([(number(r.customers), "customers"), (number(r.units), "units installed")])],
        grid=Grid(
            (Column(r.by), Column("customers", "int"), Column("units", "int")),
            [(x.key, x.customers, x.units) for x in r.rows],
        ),
        empty="No installations in use at that date.",
    )


def _customers(r: CustomerBase, currency: str) -> _Body:
    return _Body(
        header=title(r.kind, r.request),
        headline=customers_line(r, currency),
        top=[
            _figures(
                [
                    (number(r.customers), "customers"),
                    (number(r.active_customers), "active (bought in 365 days)"),
                    (f"{number(r.revenue)} {currency}", "revenue (365 days)"),
                ]
            )
        ],
        grid=Grid(
            (
                Column(r.by),
                Column("customers", "int"),
                Column("active", "int"),
                Column(f"revenue ({currency})", "money"),
            ),
            [(x.key, x.customers, x.active_customers, x.revenue) for x in r.rows],
        ),
        empty="No customers at that date.",
    )


def _compare(r: Comparison, currency: str) -> _Body:
    top: list[Block] = []
    if len(r.rows) == 1:
        x = r.rows[0]
        top.append(
            _figures(
                [
                    (number(x.customers), "customers"),
                    (number(x.installed_customers), "with units installed"),
                    (pct(x.install_rate), "install rate"),
                    (number(x.not_installed_units), "units bought, not installed"),
                    (number(x.removed_units), "units removed (365 days)"),
                ]
            )
        )
    return _Body(
        header=title(r.kind, r.request),
        headline=f"{len(r.rows)} categories compared",
        top=top,
        grid=Grid(
            (
                Column("category"),
                Column("customers", "int"),
                Column("installed", "int"),
                Column("install rate", "pct"),
                Column("not installed", "int"),
                Column("removed", "int"),
            ),
            [
                (
                    x.category,
                    x.customers,
                    x.installed_customers,
                    x.install_rate,
                    x.not_installed_units,
                    x.removed_units,
                )
                for x in r.rows
            ],
        ),
        empty="No categories to compare.",
    )


def _candidate_grid(groups: dict[str, list[Candidate]]) -> Grid:
    return Grid(
        (
            Column("rule"),
            Column("customer"),
            Column("name"),
            Column("category"),
            Column("score", "int"),
            Column("detail", "long"),
        ),
        [
            (c.rule, c.customer_ref, c.name, c.category, c.score, c.detail)
            for rule in UPSELL_RULES
            for c in groups.get(rule, [])
        ],
    )


def _upsell(r: UpsellList, currency: str) -> _Body:
    counts = [(number(n), rule) for rule, n in r.rule_counts().items() if n]
    return _Body(
        header=title(r.kind, r.request),
        headline=f"{number(r.total)} candidates",
        top=[_figures([(number(r.total), "candidates"), *counts])],
        grid=_candidate_grid(r.by_rule()),
        empty="No candidates.",
        total_rows=r.total,
    )


def _card(r: CustomerCard, currency: str) -> _Body:
    lookup = r.request.lookup or ""
    if r.customer is None:
        header = " · ".join(
            [QUERIES[r.kind].title, f"“{lookup}”", f"as of {r.request.as_of.isoformat()}"]
        )
        if not r.matches:
            return _Body(
                header=header,
                headline=f"No customer matches “{lookup}”",
                top=[
                    _section(
                        f"No customer matches “{_esc(lookup)}”. Try a customer ref, an email "
                        "or part of the name."
                    )
                ],
                shareable=False,
            )
        return _Body(
            header=header,
            headline=f"{len(r.matches)} customers match “{lookup}”",
            top=[_section(f"Several customers match “{_esc(lookup)}”: pick one.")],
            grid=Grid(
                (Column("customer"), Column("name")),
                [(m.customer_ref, m.name) for m in r.matches],
            ),
            picks=[(f"{m.name} ({m.customer_ref})", m.customer_ref) for m in r.matches],
        )
    c = r.customer
    in_use = sum(1 for i in r.installations if i.active)
    covering = sum(1 for v in r.coverage if v.active)
    profile = " · ".join(
        [f"`{_esc(c.customer_ref)}`"]
        + [_esc(v or "(unknown)") for v in (c.segment, c.channel, c.industry)]
        + [f"{_esc(c.country or '(unknown)')} / {_esc(c.region or '(unknown)')}"]
    )
    coverage = (
        _code(
            table(
                ["sku", "for", "from", "to", "covers today"],
                [
                    (v.sku, v.for_category or "", v.coverage_start, v.coverage_end, v.active)
                    for v in r.coverage
                ],
            )
        )
        if r.coverage
        else "none"
    )
    purchases = (
        _code(
            table(
                ["order", "line", "sku", "qty", "unit price", "date"],
                [
                    (p.order_ref, p.line_no, p.sku, p.quantity, p.unit_price, p.purchased_on)
                    for p in r.purchases
                ],
            )
        )
        if r.purchases
        else "none"
    )
    return _Body(
        header=" · ".join([QUERIES[r.kind].title, c.name, f"as of {r.request.as_of.isoformat()}"]),
        headline=f"{c.name} ({c.customer_ref}): {in_use} units in use, revenue "
        f"{number(r.revenue)} {currency} (365 days)",
        top=[
            _figures(
                [
                    (f"{number(r.revenue)} {currency}", "revenue (365 days)"),
                    (number(in_use), "units in use"),
                    (number(len(r.installations) - in_use), "units removed"),
                    (number(covering), "service lines covering the date"),
                ]
            ),
            _section(profile),
            _section("*Installations*"),
        ],
        grid=Grid(
            (
                Column("serial"),
                Column("sku"),
                Column("category"),
                Column("site"),
                Column("installed", "date"),
                Column("removed", "date"),
                Column("in use", "bool"),
            ),
            [
                (i.serial, i.sku, i.category, i.site, i.installed_on, i.removed_on, i.active)
                for i in r.installations
            ],
        ),
        empty="none",
        bottom=[
            _section(f"*Service coverage*\n{coverage}"),
            _section(f"*Last purchases*\n{purchases}"),
        ],
    )


def _top(r: TopCustomers, currency: str) -> _Body:
    revenue = sum(x.revenue for x in r.rows)
    units = sum(x.units for x in r.rows)
    return _Body(
        header=title(r.kind, r.request),
        headline=f"{len(r.rows)} customers ranked by {r.rank_by}",
        top=[
            _figures(
                [
                    (number(len(r.rows)), f"customers, ranked by {r.rank_by}"),
                    (f"{number(round(revenue, 2))} {currency}", "their revenue (365 days)"),
                    (number(units), "their units"),
                ]
            )
        ],
        grid=Grid(
            (
                Column("#", "int"),
                Column("customer"),
                Column("name"),
                Column(f"revenue ({currency})", "money"),
                Column("units", "int"),
            ),
            [(i, x.customer_ref, x.name, x.revenue, x.units) for i, x in enumerate(r.rows, 1)],
        ),
        empty="No purchases in the last 365 days.",
    )


def _loyal(r: LoyalCustomers, currency: str) -> _Body:
    return _Body(
        header=title(r.kind, r.request),
        headline=loyal_line(r),
        top=[
            _figures(
                [
                    (number(r.loyal), "loyal customers"),
                    (number(r.recurring), "recurring-revenue customers"),
                    (number(r.customers), "customers"),
                ]
            )
        ],
        grid=Grid(
            (
                Column(r.by),
                Column("customers", "int"),
                Column("loyal", "int"),
                Column("recurring", "int"),
            ),
            [(x.key, x.customers, x.loyal, x.recurring) for x in r.rows],
        ),
        empty="No customers at that date.",
    )


def _concentration(r: Concentration, currency: str) -> _Body:
    verdict = (r.verdict or "no revenue").upper()
    sentence = concentration_line(r, currency)
    return _Body(
        header=title(r.kind, r.request),
        headline=sentence,
        top=[
            _figures(
                [
                    (verdict, "broad or tall"),
                    (pct(r.top20_share), "revenue from the top 20%"),
                    (number(r.hhi), "HHI (0–10,000)"),
                    (number(r.customers), "paying customers"),
                    (f"{number(r.revenue)} {currency}", "revenue (365 days)"),
                ]
            ),
            _section(_esc(sentence)),
        ],
        grid=Grid(
            (
                Column("customers", "int"),
                Column(f"revenue ({currency})", "money"),
                Column("top customers", "int"),
                Column("top20 share", "pct"),
                Column("hhi", "money"),
                Column("verdict"),
            ),
            [(r.customers, r.revenue, r.top_customers, r.top20_share, r.hhi, r.verdict)],
        ),
        show_table=False,
    )


def _digest(r: Digest, currency: str) -> _Body:
    # The "what changed" line first, then the figures; a quiet day says so instead of a row
    # of zeros, and candidates are short lines per rule (readable on a phone) — CSV has them all.
    summary = digest_summary(r, currency)
    activity = [
        (number(r.new_customers), "new customers"),
        (number(r.purchase_lines), "purchase lines"),
        (f"{number(r.revenue)} {currency}", "revenue that day"),
        (f"+{number(r.units_installed)} / −{number(r.units_removed)}", "units installed / removed"),
    ]
    state = [
        (
            f"{number(r.installed_customers)} ({r.customers_change:+,})",
            "installed-base customers (vs a week before)",
        ),
        (
            f"{number(r.installed_units)} ({r.units_change:+,})",
            "installed units (vs a week before)",
        ),
        (number(r.ending_service), "service lines ending in 30 days"),
    ]
    lines = []
    for rule in UPSELL_RULES:
        found = r.upsell.get(rule, [])
        if found:
            rows = "\n".join(
                f"{n}. {_esc(c.name)} (`{_esc(c.customer_ref)}`) · {_esc(c.category)} · "
                f"{_esc(c.detail)}"
                for n, c in enumerate(found, 1)
            )
            lines.append(_section(f"*{rule}*\n{rows}"))
    return _Body(
        header=title(r.kind, r.request),
        headline=summary,
        top=[
            _section(f"*{_esc(summary)}*"),
            _figures(state if r.quiet else [*activity, *state]),
            DividerBlock(),
            _section("*Top upsell candidates*" if lines else "No upsell candidates."),
            *lines,
        ],
        grid=_candidate_grid(r.upsell),
        show_table=False,
    )


def _health(r: HealthReport, currency: str) -> _Body:
    found = [c for c in r.checks if c.count]
    return _Body(
        header=title(r.kind, r.request),
        headline=f"{len(found)} of {len(r.checks)} checks found something",
        top=[
            _figures(
                [
                    (number(len(found)), f"of {len(r.checks)} checks found something"),
                    (number(sum(c.count for c in r.checks)), "rows to look at"),
                ]
            )
        ],
        grid=Grid(
            (Column("check"), Column("count", "int"), Column("examples", "long")),
            [(c.check, c.count, ", ".join(c.examples)) for c in r.checks],
        ),
        empty="No checks ran.",
    )


_RENDERERS: dict[type, Callable[[Any, str], _Body]] = {
    InstalledBase: _installed,
    CustomerBase: _customers,
    Comparison: _compare,
    UpsellList: _upsell,
    CustomerCard: _card,
    TopCustomers: _top,
    LoyalCustomers: _loyal,
    Concentration: _concentration,
    Digest: _digest,
    HealthReport: _health,
}


# ---------------------------------------------------------------- building blocks


def _esc(text: str) -> str:
    # Slack's three control characters: data must never become a mention or a link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _contact(email: str) -> SectionBlock:
    # Plain text: Slack would turn an email in mrkdwn into a mailto link (harmless) but a
    # crafted value into something else; plain_text is never parsed.
    return SectionBlock(text=PlainTextObject(text=_clip(f"Email: {email}", MAX_SECTION_TEXT)))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(mrkdwn, MAX_SECTION_TEXT)))


def _code(text: str) -> str:
    room = MAX_SECTION_TEXT - 40
    return "```" + _clip(_esc(text.replace("```", "'''")), room) + "```"


def _figures(pairs: Sequence[tuple[str, str]]) -> SectionBlock:
    return SectionBlock(
        fields=[
            MarkdownTextObject(text=_clip(f"*{_esc(value)}*\n{_esc(label)}", MAX_FIELD_TEXT))
            for value, label in pairs[:MAX_FIELDS]
        ]
    )


def _context(lines: Sequence[str]) -> ContextBlock:
    return ContextBlock(
        elements=[
            MarkdownTextObject(text=_clip(line, MAX_FIELD_TEXT))
            for line in lines[:MAX_CONTEXT_ELEMENTS]
        ]
    )


def _show(value: Any, kind: str) -> str:
    # As the text renderer shows a cell.
    if value is None or value == "":
        return "–"
    if kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "pct":
        return pct(float(value))
    if kind == "money":
        return number(float(value))
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _raw(value: Any, kind: str) -> Any:
    # CSV cells: plain numbers, ISO dates, empty for missing.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "money":
        return f"{float(value):.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _table(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]) -> TableBlock:
    columns = columns[:MAX_TABLE_COLUMNS]
    rows = rows[: MAX_TABLE_ROWS - 1]
    width = max(8, TABLE_BUDGET // ((len(rows) + 1) * len(columns)))
    cells = [[RawTextObject(text=_clip(c.name, width)).to_dict() for c in columns]]
    for row in rows:
        cells.append(
            [
                RawTextObject(text=_clip(_show(v, c.kind), width)).to_dict()
                for v, c in zip(row, columns, strict=False)
            ]
        )
    settings = [
        TableBlockColumnSettings(
            align="right" if c.kind in ("int", "money", "pct") else "left",
            is_wrapped=True if c.kind == "long" else None,
        )
        for c in columns
    ]
    return TableBlock(rows=cells, column_settings=settings)


def _button(text: str, action_id: str, state: ButtonState, *, primary: bool = False) -> Any:
    value = state.encode()
    if len(value) > MAX_BUTTON_VALUE:
        return None
    return ButtonElement(
        text=PlainTextObject(text=_clip(text, MAX_BUTTON_TEXT)),
        action_id=action_id,
        value=value,
        style="primary" if primary else None,
    )


def _buttons(answer: Answer, body: _Body, *, page: int, public: bool) -> list[Any]:
    request = answer.request
    command = request.text or answer.kind
    buttons: list[Any] = []
    if body.picks:
        start = page * PAGE_ROWS
        for n, (label, ref) in enumerate(body.picks[start : start + PAGE_ROWS]):
            target = f"customer {shlex.quote(ref)}"
            buttons.append(
                _button(
                    label, f"{ACTION_PICK}_{n}", ButtonState(command=target, as_of=request.as_of)
                )
            )
    pages = max(1, math.ceil(body.row_count() / PAGE_ROWS))
    if page > 0:
        buttons.append(
            _button(
                "◀ Previous",
                ACTION_PREVIOUS,
                ButtonState(command=command, as_of=request.as_of, page=page - 1),
            )
        )
    if page < pages - 1:
        buttons.append(
            _button(
                "Next ▶",
                ACTION_NEXT,
                ButtonState(command=command, as_of=request.as_of, page=page + 1),
            )
        )
    if body.grid is not None and body.grid.rows and not body.picks:
        buttons.append(
            _button("CSV", ACTION_CSV, ButtonState(command=command, as_of=request.as_of))
        )
    if not public and body.shareable and not body.picks:
        buttons.append(
            _button(
                "Share in channel",
                ACTION_SHARE,
                ButtonState(command=command, as_of=request.as_of, page=page),
                primary=True,
            )
        )
    return [b for b in buttons if b is not None][:MAX_ACTION_ELEMENTS]


def _text_length(block: dict[str, Any]) -> int:
    # What Slack's cumulative limit counts: the characters of every text in the block.
    total = 0
    stack: list[Any] = [block]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def _finish(blocks: Sequence[Block], text: str) -> Message:
    if len(blocks) > MAX_BLOCKS:
        tail = blocks[-1:] if isinstance(blocks[-1], ActionsBlock) else []
        keep = MAX_BLOCKS - 1 - len(tail)
        blocks = [*blocks[:keep], _context(["…more in the CSV file."]), *tail]
    out: list[dict[str, Any]] = []
    used, cut = 0, False
    for block in blocks:
        data = block.to_dict()  # validates (raises SlackObjectFormationError)
        size = _text_length(data)
        if used + size > MAX_MESSAGE_CHARS and not isinstance(block, ActionsBlock):
            cut = True
            continue
        used += size
        out.append(data)
    if cut:
        notice = _context(["…cut to fit one Slack message; the CSV file has it all."]).to_dict()
        at = len(out) - 1 if out and out[-1]["type"] == "actions" else len(out)
        out.insert(at, notice)
    return Message(text=_clip(_esc(text), MAX_FALLBACK_TEXT), blocks=out)


__all__ = [
    "ACTION_CSV",
    "ACTION_NEXT",
    "ACTION_PICK",
    "ACTION_PREVIOUS",
    "ACTION_SHARE",
    "MAX_BLOCKS",
    "MAX_MESSAGE_CHARS",
    "PAGE_ACTIONS",
    "PAGE_ROWS",
    "PICK_ACTIONS",
    "ButtonState",
    "Column",
    "Grid",
    "Message",
    "answer_grid",
    "csv_file",
    "render_answer",
    "render_apology",
    "render_error",
    "render_help",
    "render_notice",
]
