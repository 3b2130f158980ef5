"""Who asks: each Slack user's language and the email on their profile (users.info with
include_locale; the email needs the users:read.email scope), asked once per user and cached.

A user's language is their Slack locale when basebot speaks it, else the default; their
email lets `mine` find accounts whose owner is written as an email (SPEC §9).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import Speaker, language_of, speaker
from queries.request import Me

log = logging.getLogger(__name__)

PROFILE_CACHE_SECONDS = 3600.0
FAILURE_CACHE_SECONDS = 60.0  # a failed lookup is retried after this, not at every request


@dataclass(frozen=True)
class Person:
    lang: str
    email: str | None = None


class People:
    """Called only after the ack (in lazy listeners), so a slow users.info never delays it."""

    def __init__(
        self,
        *,
        default: str,
        currency: str,
        ttl: float = PROFILE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.currency = currency
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Person]] = {}

    def of(self, client: WebClient, user: str) -> Person:
        if not user:
            return Person(self.default)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(user)
        if cached is not None and cached[0] > now:
            return cached[1]
        ttl = self._ttl
        try:
            found = client.users_info(user=user, include_locale=True).get("user") or {}
            email = (found.get("profile") or {}).get("email") or None
            person = Person(language_of(found.get("locale"), self.default), email)
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            person, ttl = Person(self.default), FAILURE_CACHE_SECONDS
        except Exception as exc:  # the network: answer in the default language all the same
            log.warning("users.info could not be reached: %s", type(exc).__name__)
            person, ttl = Person(self.default), FAILURE_CACHE_SECONDS
        with self._lock:
            self._cache[user] = (now + ttl, person)
        return person

    def speaker(self, client: WebClient, user: str) -> Speaker:
        return speaker(self.of(client, user).lang, self.currency)

    def me(self, client: WebClient, user: str) -> Me:
        return Me(user_id=user or None, email=self.of(client, user).email)


__all__ = ["People", "Person"]
