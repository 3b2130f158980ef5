"""Plain-text replies for the terminal: any answer's View, in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bot.i18n import Speaker, speaker
from queries.request import MINE, OFFLINE, Request, Source
from queries.results import Answer
from queries.view import Column, Msg, View, _, code

NUMERIC = frozenset({"count", "decimal", "money", "percent", "signed"})


def render_text(answer: Answer, *, speak: Speaker | None = None) -> str:
    """The reply as readable text."""
    return view_text(answer.view(), speak or speaker(), answer.request)


def view_text(view: View, speak: Speaker, request: Request) -> str:
    out = [heading(view, speak), ""]
    out += [speak(s) for s in view.sentences] or [speak(view.headline)]
    if view.sentences and view.figures:
        # The headline says the key figures; a view with sentences of its own lists them.
        out += [f"  {speak(f.label)}: {speak.figure(f.value, f.kind)}" for f in view.figures]
    out += [speak(line) for line in view.lines]
    for n, t in enumerate(view.tables):
        if n == 0 and not view.paged:
            continue
        out.append("")
        if t.title is not None:
            out.append(speak(t.title))
        if t.rows:
            out.append(table_text(t.columns, t.rows, speak))
        elif t.empty is not None:
            out.append(speak(t.empty))
    for listing in view.listings:
        out += ["", speak(listing.title)]
        out += [f"    {speak(line)}" for line in listing.lines]
    out.append("")
    if view.definition is not None:
        out.append(speak(view.definition))
    out += [speak(note) for note in notes(request)]
    return "\n".join(out).rstrip() + "\n"


def heading(view: View, speak: Speaker) -> str:
    """Title · subject · as of date."""
    parts = [speak(view.title), *view.subject]
    if view.as_of is not None:
        parts.append(speak(_("as of {day}", day=view.as_of)))
    return " · ".join(parts)


def table_text(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], speak: Speaker) -> str:
    """A fixed-width table: numbers right-aligned."""
    cells = [[speak(c.label) for c in columns]]
    cells += [[speak.cell(v, c.kind) for v, c in zip(r, columns, strict=True)] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    for j, r in enumerate(cells):
        lines.append(
            "  ".join(
                v.rjust(w) if c.kind in NUMERIC else v.ljust(w)
                for v, w, c in zip(r, widths, columns, strict=True)
            ).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def notes(request: Request) -> list[Msg]:
    """What the asker should know about how the answer was read: where from, and whose."""
    found = [note for note in (source_note(request.source), identity_note(request)) if note]
    return found


def identity_note(request: Request) -> Msg | None:
    """`mine` for someone with no known email: only the accounts owned by their user id."""
    for f in request.filters:
        if f.label == MINE and not any("@" in name for name in (f.value, *f.alternatives)):
            return _(
                "No email is known for you, so only accounts whose owner is {user} count as"
                " yours: ask your basebot admin to make that the owner of your accounts, or to"
                " let basebot read emails from Slack (the users:read.email scope).",
                user=code(f.value),
            )
    return None


def source_note(source: Source | None) -> Msg | None:
    """Why an answer was slower, or may be behind: where its figures were read."""
    if source is None:
        return None
    if source.kind == OFFLINE and source.at is not None:
        return _(
            "The database cannot be reached: these figures are its data as of {time} UTC,"
            " from basebot's copy.",
            time=source.at.astimezone(UTC).replace(tzinfo=None),
        )
    return _(
        "Read directly from the database: basebot's fast copy is being built (or rebuilt"
        " after a large change), so answers take longer meanwhile."
    )
