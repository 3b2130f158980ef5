"""Each asker's language: their Slack locale (users.info with include_locale), asked once per
user and cached; the default language when Slack does not say or cannot be asked."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import Speaker, language_of, speaker

log = logging.getLogger(__name__)

LOCALE_CACHE_SECONDS = 3600.0
FAILURE_CACHE_SECONDS = 60.0  # a failed lookup is retried after this, not at every request
LOOKUP_TIMEOUT_S = 3


class Languages:
    """Called only after the ack (in lazy listeners), so a slow users.info never delays it."""

    def __init__(
        self,
        *,
        default: str,
        currency: str,
        ttl: float = LOCALE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.currency = currency
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str]] = {}

    def of(self, client: WebClient, user: str) -> str:
        """The user's language: one of bot.i18n.LANGUAGES."""
        if not user:
            return self.default
        now = self._clock()
        with self._lock:
            cached = self._cache.get(user)
        if cached is not None and cached[0] > now:
            return cached[1]
        ttl = self._ttl
        try:
            found = client.users_info(user=user, include_locale=True)
            lang = language_of((found.get("user") or {}).get("locale"), self.default)
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            lang, ttl = self.default, FAILURE_CACHE_SECONDS
        except Exception as exc:  # the network: answer in the default language all the same
            log.warning("users.info could not be reached: %s", type(exc).__name__)
            lang, ttl = self.default, FAILURE_CACHE_SECONDS
        with self._lock:
            self._cache[user] = (now + ttl, lang)
        return lang

    def speaker(self, client: WebClient, user: str) -> Speaker:
        return speaker(self.of(client, user), self.currency)


__all__ = ["Languages"]
