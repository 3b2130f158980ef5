"""Answer one command: parse it against the database's vocabulary and run its query."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.help import HelpAnswer
from bot.parsing import parse
from bot.settings import Settings
from queries.claims import in_force
from queries.registry import QUERIES, answer
from queries.request import READ_FROM, Me, Request
from queries.results import Answer
from queries.vocabulary import load_vocabulary


def parse_command(
    session: Session, text: str, *, as_of: date | None, settings: Settings, me: Me | None = None
) -> Request:
    """Parse against the live vocabulary; `as_of` (e.g. --as-of) is the default date; `me`:
    who asks (for `mine`).

    The request carries where the session reads (session.info[READ_FROM]) for the reply.
    """
    request = parse(
        text,
        load_vocabulary(session),
        today=as_of or settings.today(),
        home_country=settings.home_country,
        command=settings.command_name,
        me=me,
    )
    source = session.info.get(READ_FROM)
    return replace(request, source=source) if source else request


def run(session: Session, request: Request, settings: Settings) -> Answer:
    if request.verb == "help":
        return HelpAnswer(request=request, command=settings.command_name)
    database = session.get_bind().dialect.name in ("sqlite", "postgresql")
    if QUERIES[request.verb].claims and request.holds is None and database:
        # Read where the claims are: the caller reads them itself when `session` is a replica.
        request = replace(request, holds=in_force(session, datetime.now(UTC)))
    return answer(session, request)


def ask(
    session: Session, text: str, *, as_of: date | None, settings: Settings, me: Me | None = None
) -> Answer:
    """Parse and answer; raises bot.parsing.ParseError for a bad command."""
    request = parse_command(session, text, as_of=as_of, settings=settings, me=me)
    return run(session, request, settings)


def ask_json(
    session: Session, text: str, *, as_of: date | None, settings: Settings, me: Me | None = None
) -> dict[str, Any]:
    """The SPEC §6 JSON reply to a command."""
    return ask(session, text, as_of=as_of, settings=settings, me=me).to_json()


__all__ = ["ask", "ask_json", "parse_command", "run"]
