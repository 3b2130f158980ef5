"""Who asks: each Slack user's language and the email on their profile (users.info with
include_locale; the email needs the users:read.email scope), asked once per user and cached.

A user's language is their Slack locale when basebot speaks it, else the default; their
email lets `mine` find accounts whose owner is written as an email (SPEC §9).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import Speaker, language_of, speaker
from queries.request import Me, is_user_id

log = logging.getLogger(__name__)

PROFILE_CACHE_SECONDS = 3600.0
FAILURE_CACHE_SECONDS = 60.0  # a failed lookup is retried after this, not at every request


@dataclass(frozen=True)
class Profile:
    lang: str
    email: str | None = None
    name: str | None = None  # how Slack shows them: display name, else real name


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
        self._cache: dict[str, tuple[float, Profile]] = {}

    def of(self, client: WebClient, user: str) -> Profile:
        if not user:
            return Profile(self.default)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(user)
        if cached is not None and cached[0] > now:
            return cached[1]
        ttl = self._ttl
        try:
            found = client.users_info(user=user, include_locale=True).get("user") or {}
            profile = found.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or found.get("name")
            person = Profile(
                language_of(found.get("locale"), self.default),
                profile.get("email") or None,
                str(name) if name else None,
            )
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            person, ttl = Profile(self.default), FAILURE_CACHE_SECONDS
        except Exception as exc:  # the network: answer in the default language all the same
            log.warning("users.info could not be reached: %s", type(exc).__name__)
            person, ttl = Profile(self.default), FAILURE_CACHE_SECONDS
        with self._lock:
            self._cache[user] = (now + ttl, person)
        return person

    def speaker(self, client: WebClient, user: str, about: Iterable[str] = ()) -> Speaker:
        """The user's language, naming the Slack users among `about` (claim holders shown)."""
        names = {
            someone: name
            for someone in about
            if is_user_id(someone) and (name := self.of(client, someone).name)
        }
        return speaker(self.of(client, user).lang, self.currency).knowing(names)

    def me(self, client: WebClient, user: str) -> Me:
        return Me(user_id=user or None, email=self.of(client, user).email)


__all__ = ["People", "Profile"]
