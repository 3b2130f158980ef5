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
from collections.abc import Sequence
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
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    TableBlock,
)
from slack_sdk.models.blocks.basic_components import RawTextObject, TableBlockColumnSettings

from bot.help import HelpAnswer
from bot.i18n import Speaker, speaker
from bot.parsing import ParseError
from bot.render.text import NUMERIC, heading, notes, table_text
from queries.results import Answer
from queries.view import Column, Label, Msg, Table, View, _, code

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
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_BLOCK_ID = 255
MAX_MESSAGE_CHARS = 12_000  # cumulative text of one message's blocks
MAX_FALLBACK_TEXT = 4000
TABLE_BUDGET = 7_000  # characters of table cells per page, within MAX_MESSAGE_CHARS
PAGE_ROWS = 20  # rows of a list per message; the rest pages

ACTION_PREVIOUS = "basebot_page_prev"
ACTION_NEXT = "basebot_page_next"
ACTION_CSV = "basebot_csv"
ACTION_SHARE = "basebot_share"
ACTION_PICK = "basebot_pick"  # + "_<n>": action ids must be unique within a block
ACTION_CHOOSE = "basebot_choose"  # an act on a row of the list (a claim)
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


# ---------------------------------------------------------------- public renderers


def render_answer(
    answer: Answer,
    *,
    speak: Speaker | None = None,
    page: int = 0,
    public: bool = False,
    shared_by: str | None = None,
    contacts: bool = False,
) -> Message:
    """The reply to a command: header, key figures, a (paged) table, what counts, buttons.

    Contact fields (a customer's email) are shown only when `contacts` is given (the access
    rule `contact_fields` allows the asker) and never in a public or shared answer.
    """
    speak = speak or speaker()
    view = answer.view()
    request = answer.request
    blocks: list[Block] = [HeaderBlock(text=clip(heading(view, speak), MAX_HEADER_TEXT))]
    said = [esc(speak(s)) for s in view.sentences] + [
        f"`{esc(line)}`" if isinstance(line, str) else esc(speak(line)) for line in view.lines
    ]
    if said:
        blocks.append(section("\n".join(said)))
    if view.contact and contacts and not public and not shared_by:
        blocks.append(_contact(speak(_("Email: {email}", email=view.contact))))
    if view.figures:
        blocks.append(
            figures([(speak.figure(f.value, f.kind), speak(f.label)) for f in view.figures])
        )
    lines: list[str] = []
    main = view.main
    rows = main.row_count if main is not None and view.paged else 0
    pages = max(1, math.ceil(rows / PAGE_ROWS))
    page = min(max(page, 0), pages - 1)
    if main is not None and view.paged:
        if main.title is not None:
            blocks.append(section(f"*{esc(speak(main.title))}*"))
        start = page * PAGE_ROWS
        chunk = main.rows[start : start + PAGE_ROWS]
        if chunk:
            blocks.append(_table(main.columns, chunk, speak))
        elif main.empty is not None:
            blocks.append(section(esc(speak(main.empty))))
        if pages > 1:
            lines.append(
                speak(
                    _(
                        "Rows {first}–{last} of {total}",
                        first=start + 1,
                        last=start + len(chunk),
                        total=rows,
                    )
                )
            )
    if main is not None and view.paged and view.choices and not public and not shared_by:
        menu = _choices(view, speak, request, page=page, rows=(start, start + len(chunk)))
        if menu is not None:
            blocks.append(menu)
    for t in view.tables[1:]:
        empty = esc(speak(t.empty or _("none")))
        shown = _code(table_text(t.columns, t.rows, speak)) if t.rows else empty
        title = f"*{esc(speak(t.title))}*\n" if t.title is not None else ""
        blocks.append(section(title + shown))
    if view.listings:
        blocks.append(DividerBlock())
    for listing in view.listings:
        body = "\n".join(esc(speak(line)) for line in listing.lines)
        blocks.append(section(f"*{esc(speak(listing.title))}*\n{body}"))
    if view.definition is not None:
        lines.append(esc(speak(view.definition)))
    lines += [esc(speak(note)) for note in notes(request)]
    if shared_by:
        mention = f"<@{esc(shared_by)}>"
        lines.append(speak(_("Shared by {user}", user=mention)))
    if lines:
        blocks.append(_context(lines))
    buttons = _buttons(
        answer, view, speak, page=page, pages=pages, public=public or bool(shared_by)
    )
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return _finish(blocks, f"{heading(view, speak)}: {speak(view.headline)}", speak)


def render_help(answer: HelpAnswer, *, speak: Speaker | None = None) -> Message:
    """Every verb with its usage, summary and examples (the registry's own text)."""
    return render_answer(answer, speak=speak)


def render_error(
    error: ParseError, *, command: str = "/base", speak: Speaker | None = None
) -> Message:
    """What was wrong, the nearest valid words, and one correct example."""
    speak = speak or speaker()
    blocks: list[Block] = [section(f":warning: {esc(speak(error.problem))}")]
    if error.suggestions:
        close = ", ".join(f"`{s}`" for s in error.suggestions)
        blocks.append(section(esc(speak(_("Did you mean: {words}?", words=close)))))
    example = f"`{error.example}`"
    blocks.append(section(esc(speak(_("For example: {example}", example=example)))))
    help_command = f"`{command} help`"
    listed = _("{command} lists every command.", command=help_command)
    blocks.append(_context([esc(speak(listed))]))
    return _finish(blocks, error.text(speak), speak)


def render_apology(
    incident: str, *, unreachable: bool = False, speak: Speaker | None = None
) -> Message:
    """A failure on our side: an apology and the incident id the log carries."""
    speak = speak or speaker()
    if unreachable:
        text = _(
            "The database cannot be reached right now, so that could not be done; nothing was"
            " changed. Questions are still answered from basebot's copy of the data where there"
            " is one. Try again in a few minutes (incident id {incident}).",
            incident=code(incident),
        )
    else:
        text = _(
            "Sorry, something went wrong on my side while answering that. Nothing was changed."
            " Incident id {incident}: pass it on to your basebot admin, who can find the"
            " details in the app's log.",
            incident=code(incident),
        )
    said = f":warning: {esc(speak(text))}"
    return _finish([section(said)], said, speak)


def render_notice(text: Msg | str, *, speak: Speaker | None = None) -> Message:
    """A one-line message (e.g. where the CSV went)."""
    said = (speak or speaker())(text)
    return _finish([section(esc(said))], said, speak or speaker())


def render_markup(mrkdwn: str) -> Message:
    """Our own words as mrkdwn, channel mentions live (render_notice would escape them): data
    goes in only through esc()."""
    return Message(text=mrkdwn, blocks=[section(mrkdwn).to_dict()])


def answer_table(answer: Answer) -> Table | None:
    """The answer's main list, unpaged (None when it has none)."""
    return answer.view().main


def csv_file(answer: Answer) -> tuple[str, str]:
    """(file name, CSV text) of the full result: every row, raw values, the same in every
    language (column keys, `.` decimals, ISO dates)."""
    table = answer_table(answer)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if table is not None:
        writer.writerow([c.key for c in table.columns])
        for row in table.rows:
            writer.writerow([_raw(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
    parts = [answer.kind]
    request = answer.request
    if request.target:
        parts.append(request.target.value)
    if request.lookup:
        parts.append(request.lookup)
    parts.append(request.as_of.isoformat())
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-")[:80]
    return f"basebot-{name}.csv", out.getvalue()


# ---------------------------------------------------------------- building blocks


def esc(text: str) -> str:
    """Text shown as it is in mrkdwn."""
    # Slack's three control characters: data must never become a mention or a link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _contact(line: str) -> SectionBlock:
    # Plain text: Slack would turn an email in mrkdwn into a mailto link (harmless) but a
    # crafted value into something else; plain_text is never parsed.
    return SectionBlock(text=PlainTextObject(text=clip(line, MAX_SECTION_TEXT)))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(mrkdwn, MAX_SECTION_TEXT)))


def _code(text: str) -> str:
    room = MAX_SECTION_TEXT - 40
    return "```" + clip(esc(text.replace("```", "'''")), room) + "```"


def figures(pairs: Sequence[tuple[str, str]]) -> SectionBlock:
    return SectionBlock(
        fields=[
            MarkdownTextObject(text=clip(f"*{esc(value)}*\n{esc(label)}", MAX_FIELD_TEXT))
            for value, label in pairs[:MAX_FIELDS]
        ]
    )


def _context(lines: Sequence[str]) -> ContextBlock:
    return ContextBlock(
        elements=[
            MarkdownTextObject(text=clip(line, MAX_FIELD_TEXT))
            for line in lines[:MAX_CONTEXT_ELEMENTS]
        ]
    )


def _raw(value: Any, kind: str) -> Any:
    # CSV cells: plain numbers, ISO dates, a label's own word, empty for missing.
    if value is None:
        return ""
    if isinstance(value, Label):
        return value.raw
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "money":
        return f"{float(value):.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _table(
    columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], speak: Speaker
) -> TableBlock:
    columns = columns[:MAX_TABLE_COLUMNS]
    rows = rows[: MAX_TABLE_ROWS - 1]
    width = max(8, TABLE_BUDGET // ((len(rows) + 1) * len(columns)))
    cells = [[RawTextObject(text=clip(speak(c.label), width)).to_dict() for c in columns]]
    for row in rows:
        cells.append(
            [
                RawTextObject(text=clip(speak.cell(v, c.kind), width)).to_dict()
                for v, c in zip(row, columns, strict=False)
            ]
        )
    settings = [
        TableBlockColumnSettings(
            align="right" if c.kind in NUMERIC else "left",
            is_wrapped=True if c.kind == "long" else None,
        )
        for c in columns
    ]
    return TableBlock(rows=cells, column_settings=settings)


def _choices(
    view: View, speak: Speaker, request: Any, *, page: int, rows: tuple[int, int]
) -> ActionsBlock | None:
    # The menu's block_id carries the page it was shown on, to redraw it after the act.
    state = ButtonState(command=request.text or "", as_of=request.as_of, page=page).encode()
    options = [
        Option(text=clip(speak(c.label), MAX_OPTION_TEXT), value=c.command)
        for c in view.choices
        if rows[0] <= c.row < rows[1] and len(c.command) <= MAX_OPTION_VALUE
    ][:MAX_OPTIONS]
    if not options or len(state) > MAX_BLOCK_ID or view.choose is None:
        return None
    return ActionsBlock(
        block_id=state,
        elements=[
            StaticSelectElement(
                placeholder=PlainTextObject(text=clip(speak(view.choose), MAX_OPTION_TEXT)),
                action_id=ACTION_CHOOSE,
                options=options,
            )
        ],
    )


def _button(text: str, action_id: str, state: ButtonState, *, primary: bool = False) -> Any:
    value = state.encode()
    if len(value) > MAX_BUTTON_VALUE:
        return None
    return ButtonElement(
        text=PlainTextObject(text=clip(text, MAX_BUTTON_TEXT)),
        action_id=action_id,
        value=value,
        style="primary" if primary else None,
    )


def _buttons(
    answer: Answer, view: View, speak: Speaker, *, page: int, pages: int, public: bool
) -> list[Any]:
    request = answer.request
    command = request.text or answer.kind
    buttons: list[Any] = []
    if view.picks:
        start = page * PAGE_ROWS
        for n, (label, ref) in enumerate(view.picks[start : start + PAGE_ROWS]):
            target = f"customer {shlex.quote(ref)}"
            buttons.append(
                _button(
                    label, f"{ACTION_PICK}_{n}", ButtonState(command=target, as_of=request.as_of)
                )
            )
    if page > 0:
        buttons.append(
            _button(
                speak(_("◀ Previous")),
                ACTION_PREVIOUS,
                ButtonState(command=command, as_of=request.as_of, page=page - 1),
            )
        )
    if page < pages - 1:
        buttons.append(
            _button(
                speak(_("Next ▶")),
                ACTION_NEXT,
                ButtonState(command=command, as_of=request.as_of, page=page + 1),
            )
        )
    main = view.main
    if main is not None and main.rows and not view.picks:
        buttons.append(
            _button("CSV", ACTION_CSV, ButtonState(command=command, as_of=request.as_of))
        )
    if not public and view.shareable and not view.picks:
        buttons.append(
            _button(
                speak(_("Share in channel")),
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


def _finish(blocks: Sequence[Block], text: str, speak: Speaker) -> Message:
    if len(blocks) > MAX_BLOCKS:
        tail = blocks[-1:] if isinstance(blocks[-1], ActionsBlock) else []
        keep = MAX_BLOCKS - 1 - len(tail)
        blocks = [*blocks[:keep], _context([speak(_("…more in the CSV file."))]), *tail]
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
        cut_note = _("…cut to fit one Slack message; the CSV file has it all.")
        notice = _context([speak(cut_note)]).to_dict()
        at = len(out) - 1 if out and out[-1]["type"] == "actions" else len(out)
        out.insert(at, notice)
    return Message(text=clip(esc(text), MAX_FALLBACK_TEXT), blocks=out)


__all__ = [
    "ACTION_CHOOSE",
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
    "Message",
    "answer_table",
    "clip",
    "csv_file",
    "esc",
    "figures",
    "render_answer",
    "render_apology",
    "render_error",
    "render_help",
    "render_markup",
    "render_notice",
    "section",
]
