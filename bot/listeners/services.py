"""What every listener needs besides Slack's own arguments, carried in Bolt's request context."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.i18n import Speaker
from bot.listeners.guard import Guard
from bot.listeners.people import People
from bot.settings import Settings
from queries.db import Reader
from queries.request import Me

CONTEXT_KEY = "basebot"


@dataclass(frozen=True, kw_only=True)
class Services:
    settings: Settings
    sessions: sessionmaker[Session]
    guard: Guard = field(default_factory=Guard)
    reads: Reader | None = None  # where answers are read; default `sessions`
    people: People | None = None

    def __post_init__(self) -> None:
        if self.people is None:
            people = People(default=self.settings.language, currency=self.settings.currency)
            object.__setattr__(self, "people", people)

    def speaker(self, client: WebClient, user: str, about: Iterable[str] = ()) -> Speaker:
        """The asker's language, naming the people in `about` (users.info, cached): call it
        after the ack."""
        assert self.people is not None
        return self.people.speaker(client, user, about)

    def me(self, client: WebClient, user: str) -> Me:
        """Who asks, for `mine` (users.info, cached): call it after the ack."""
        assert self.people is not None
        return self.people.me(client, user)

    @property
    def reader(self) -> Reader:
        return self.reads or self.sessions

    def __deepcopy__(self, memo: dict[int, Any]) -> Services:
        # Bolt deep-copies the context for lazy listeners; the engine and its pool are shared.
        return self


def services(context: Mapping[str, Any]) -> Services:
    found = context.get(CONTEXT_KEY)
    if not isinstance(found, Services):
        raise LookupError("the basebot services are missing from the Bolt context")
    return found


__all__ = ["CONTEXT_KEY", "Services", "services"]
