"""Who an account owner is on Slack (SPEC §9): an owner is written as a Slack user id or an
email; a DM needs the user id, and their language comes from their Slack locale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from queries.request import Me, is_user_id

FOUND_SECONDS = 86_400.0  # an owner's Slack account, once looked up
MISSING_SECONDS = 3_600.0  # no account for an email: asked again later (a new hire)


@dataclass(frozen=True)
class SlackUser:
    """An owner with a Slack account; `locale` is their Slack locale when it was asked."""

    user_id: str
    email: str | None
    locale: str | None = None

    @property
    def me(self) -> Me:
        return Me(self.user_id, self.email)


@dataclass(frozen=True)
class Unreachable:
    """An owner as written who cannot be sent to, and why (Slack's error)."""

    owner: str
    reason: str


@dataclass(frozen=True)
class _Account:
    email: str | None
    locale: str | None


class Directory:
    """Who an owner is on Slack: a user id as is (users.info for the email on their profile
    and their locale), an email through users.lookupByEmail. Answers are remembered for a
    day; an email with no account for an hour."""

    def __init__(
        self,
        *,
        found_ttl: float = FOUND_SECONDS,
        missing_ttl: float = MISSING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._found_ttl = found_ttl
        self._missing_ttl = missing_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._emails: dict[str, tuple[float, str | None, str]] = {}
        self._users: dict[str, tuple[float, _Account | None, str]] = {}

    def forget_expired(self) -> None:
        now = self._clock()
        with self._lock:
            for cache in (self._emails, self._users):
                for key in [k for k, v in cache.items() if v[0] <= now]:
                    del cache[key]

    def resolve(self, client: WebClient, owner: str, *, locale: bool) -> SlackUser | Unreachable:
        """The person an owner is, or why they cannot be sent to. `locale`: ask their Slack
        locale too (users.info), when the subscription does not fix the language."""
        if is_user_id(owner):
            account, error = self._account(client, owner)
            if account is None:
                return Unreachable(owner, error)
            return SlackUser(owner, account.email, account.locale)
        user_id, error = self._lookup(client, owner)
        if user_id is None:
            return Unreachable(owner, error)
        if not locale:
            return SlackUser(user_id, owner)
        account, error = self._account(client, user_id)
        if account is None:
            return Unreachable(owner, error)
        return SlackUser(user_id, account.email or owner, account.locale)

    def _cached(
        self, cache: dict[str, tuple[float, Any, str]], key: str
    ) -> tuple[float, Any, str] | None:
        with self._lock:
            hit = cache.get(key)
        return hit if hit is not None and hit[0] > self._clock() else None

    def _lookup(self, client: WebClient, email: str) -> tuple[str | None, str]:
        key = email.lower()
        hit = self._cached(self._emails, key)
        if hit is not None:
            return hit[1], hit[2]
        try:
            user = client.users_lookupByEmail(email=email).get("user") or {}
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "slack_error")
            if error == "users_not_found":
                with self._lock:
                    self._emails[key] = (self._clock() + self._missing_ttl, None, error)
            return None, error
        except Exception as exc:  # the network: tried again at the next run
            return None, type(exc).__name__
        if user.get("deleted") or user.get("is_bot") or not user.get("id"):
            error = "account_inactive" if user.get("deleted") else "not_a_person"
            with self._lock:
                self._emails[key] = (self._clock() + self._missing_ttl, None, error)
            return None, error
        user_id = str(user["id"])
        with self._lock:
            self._emails[key] = (self._clock() + self._found_ttl, user_id, "")
        return user_id, ""

    def _account(self, client: WebClient, user_id: str) -> tuple[_Account | None, str]:
        hit = self._cached(self._users, user_id)
        if hit is not None:
            return hit[1], hit[2]
        try:
            user = client.users_info(user=user_id, include_locale=True).get("user") or {}
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "slack_error")
            if error in ("user_not_found", "user_not_visible"):
                with self._lock:
                    self._users[user_id] = (self._clock() + self._missing_ttl, None, error)
            return None, error
        except Exception as exc:
            return None, type(exc).__name__
        if user.get("deleted") or user.get("is_bot"):
            error = "account_inactive" if user.get("deleted") else "not_a_person"
            with self._lock:
                self._users[user_id] = (self._clock() + self._missing_ttl, None, error)
            return None, error
        profile = user.get("profile") or {}
        account = _Account(profile.get("email") or None, user.get("locale") or None)
        with self._lock:
            self._users[user_id] = (self._clock() + self._found_ttl, account, "")
        return account, ""


# One per process: a scheduler that runs all day asks Slack about each owner once a day.
DIRECTORY = Directory()


__all__ = ["DIRECTORY", "Directory", "SlackUser", "Unreachable"]
