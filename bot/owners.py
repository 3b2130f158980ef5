"""Owners' digests (SPEC §10): one subscription, and every account owner with a Slack account
gets their own slice (`mine`) in a DM, once a day each.

A run takes part in the day (any scheduler process may join or resume it), resolves the
owners as written (a Slack user id as is, an email through users.lookupByEmail), and sends
each person one DM under their own owner_deliveries row: claimed just before posting,
recorded right after, so a crash between owners never repeats one. Resolving and building
the next digests happen on a thread of their own while the DMs are posted, and every Web API
method keeps to Slack's rate for it (a pacer per method; a 429 is still waited out).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import parse_command, run
from bot.digest import Outcome, chart_title, digest_chart, digest_message, post_digest
from bot.i18n import language_of, speaker
from bot.parsing import ParseError
from bot.render.blocks import Message
from bot.settings import Settings, SettingsError
from queries.db import Reader, transaction
from queries.digest import Digest
from queries.models import DigestDelivery
from queries.owners import (
    UNREACHABLE,
    claim_owner,
    handled,
    interrupt_stale,
    owner_deliveries,
    owners_in_scope,
    record_owner,
    tally,
)
from queries.request import MINE, Me, is_user_id
from queries.subscriptions import CLAIMED, FAILED, POSTED, Due, claim, record_failed, record_posted

log = logging.getLogger(__name__)

# Slack's rates (seconds between two calls of a method): Tier 3 is about 50 a minute, Tier 4
# about 100, chat.postMessage about one a second.
TIER_3, TIER_4 = 60 / 50, 60 / 100
INTERVALS = {
    "users.lookupByEmail": TIER_3,
    "conversations.open": TIER_3,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "chat.postMessage": 1.0,
}
# A multiple of those intervals: 0 paces nothing (a local stand-in), 2 half the rate.
PACE_ENV = "BASEBOT_OWNERS_PACE"
FOUND_SECONDS = 86_400.0  # an owner's Slack account, once looked up
MISSING_SECONDS = 3_600.0  # no account for an email: asked again later (a new hire)
# A row still claimed this long after its claim: its process stopped between claiming and
# recording (posting one DM, retries included, takes far less).
STALE_AFTER = timedelta(minutes=15)
INTERRUPTED = "interrupted: the process stopped while sending; the DM may have gone out"
AHEAD = 2  # digests built ahead of the one being posted
# The token itself is refused: every other owner would fail the same way.
FATAL = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


# ---------------------------------------------------------------- pacing


class Pacer:
    """One Web API method's pace: each call gets the next free slot, `interval` apart."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Wait for this call's slot; the seconds waited."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            self._sleep(at - now)
        return at - now


@dataclass
class Spent:
    """Where a run's time went, summed over its threads."""

    paced: float = 0.0  # waiting for a pacer's slot
    slack: float = 0.0  # inside Web API calls (a 429's Retry-After included)
    building: float = 0.0  # queries, rendering and the chart
    calls: int = 0


class Pacing:
    """The pacers of one process: Slack's limits are the app's, whatever runs."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor
        self._pacers = {m: Pacer(s * factor) for m, s in INTERVALS.items() if factor > 0}

    def wait(self, method: str) -> float:
        pacer = self._pacers.get(method)
        return pacer.wait() if pacer is not None else 0.0


_PACINGS: dict[float, Pacing] = {}
_PACINGS_LOCK = threading.Lock()


def shared_pacing() -> Pacing:
    """This process's pacers, at the rate BASEBOT_OWNERS_PACE sets (default Slack's own)."""
    text = (os.environ.get(PACE_ENV) or "1").strip()
    try:
        factor = float(text)
    except ValueError:
        raise SettingsError(f"{PACE_ENV} must be a number, e.g. 1 (Slack's rates)") from None
    if factor < 0:
        raise SettingsError(f"{PACE_ENV} must be 0 or more, e.g. 1 (Slack's rates)")
    with _PACINGS_LOCK:
        return _PACINGS.setdefault(factor, Pacing(factor))


class PacedClient(WebClient):
    """The client it copies (token, URL, retry handlers: a 429 is still waited out), with
    each call first waiting for its method's pacer."""

    def __init__(self, client: WebClient, pacing: Pacing) -> None:
        super().__init__(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=dict(client.headers),
            logger=client.logger,
            retry_handlers=client.retry_handlers,
        )
        self.default_params = dict(client.default_params)
        self.pacing = pacing
        self.spent = Spent()
        self._lock = threading.Lock()

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        paced = self.pacing.wait(api_method)
        started = time.perf_counter()
        try:
            return super().api_call(api_method, **kwargs)
        finally:
            with self._lock:
                self.spent.paced += paced
                self.spent.slack += time.perf_counter() - started
                self.spent.calls += 1


# ---------------------------------------------------------------- who the owners are


@dataclass(frozen=True)
class Person:
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

    def resolve(self, client: WebClient, owner: str, *, locale: bool) -> Person | Unreachable:
        """The person an owner is, or why they cannot be sent to. `locale`: ask their Slack
        locale too (users.info), when the subscription does not fix the language."""
        if is_user_id(owner):
            account, error = self._account(client, owner)
            if account is None:
                return Unreachable(owner, error)
            return Person(owner, account.email, account.locale)
        user_id, error = self._lookup(client, owner)
        if user_id is None:
            return Unreachable(owner, error)
        if not locale:
            return Person(user_id, owner)
        account, error = self._account(client, user_id)
        if account is None:
            return Unreachable(owner, error)
        return Person(user_id, account.email or owner, account.locale)

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


# ---------------------------------------------------------------- one run


@dataclass(frozen=True)
class _Ready:
    person: Person
    message: Message
    chart: bytes | None
    title: str
    note: str | None  # a chart that could not be drawn


@dataclass(frozen=True)
class _Broken:
    person: Person
    error: str


_DONE = object()


def deliver_owners(
    factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    item: Due,
    *,
    now: datetime,
    worker: str,
    reads: Reader | None = None,
) -> Outcome:
    """Take part in the day's owners' digest: send every owner no one has sent to yet, and
    close the day once every owner has a row. Never raises."""
    try:
        pacing = shared_pacing()
    except SettingsError as exc:
        log.error("owners' digest %s not sent: %s", item.subscription.id, exc)
        return Outcome(item.subscription.id, item.day, FAILED, str(exc))
    paced = PacedClient(client, pacing)
    return _Run(factory, paced, settings, item, now=now, worker=worker, reads=reads).go()


class _Run:
    def __init__(
        self,
        factory: sessionmaker[Session],
        client: PacedClient,
        settings: Settings,
        item: Due,
        *,
        now: datetime,
        worker: str,
        reads: Reader | None,
    ) -> None:
        self.factory = factory
        self.reads = reads or factory
        self.client = client
        self.settings = settings
        self.sub = item.subscription
        self.day: date = item.day
        self.now = now
        self.worker = worker
        self.started = time.monotonic()
        self.done: Counter[str] = Counter()
        self.fatal: str | None = None

    def clock(self) -> datetime:
        """The tick's time moved on by the time this run has taken."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def go(self) -> Outcome:
        try:
            return self._go()
        except Exception:
            log.exception("owners' digest %s for %s failed", self.sub.id, self.day)
            return Outcome(self.sub.id, self.day, FAILED, "internal error")

    def _go(self) -> Outcome:
        sub_id, day = self.sub.id, self.day
        try:
            delivery_id = self._join()
        except Exception:
            log.exception("could not take part in owners' digest %s for %s", sub_id, day)
            return Outcome(sub_id, day, FAILED, "claim failed")
        if delivery_id is None:
            return Outcome(sub_id, day, "skipped")
        try:
            owners = self._owners()
        except ParseError as exc:
            error = f"the scope no longer parses: {exc}"
            log.warning("owners' digest %s: the scope no longer parses", sub_id)
            with transaction(self.factory) as session:
                record_failed(session, delivery_id, error=error, now=self.clock())
            return Outcome(sub_id, day, FAILED, error)
        except Exception:
            # The day stays open: the next tick tries again.
            log.exception("could not list the owners of owners' digest %s", sub_id)
            return Outcome(sub_id, day, FAILED, "internal error")
        try:
            self._send(owners)
            return self._close(delivery_id)
        except Exception:
            # What was recorded stands; the next tick carries on from there.
            log.exception("owners' digest %s for %s stopped", sub_id, day)
            return Outcome(sub_id, day, FAILED, "internal error")

    def _join(self) -> int | None:
        """The day's delivery row, inserted if this is the first process: None when the day
        is over (sent or failed)."""
        with transaction(self.factory) as session:
            row = claim(session, self.sub.id, self.day, worker=self.worker, now=self.now)
            if row is None:
                row = session.scalar(
                    select(DigestDelivery).where(
                        DigestDelivery.subscription_id == self.sub.id,
                        DigestDelivery.day == self.day,
                    )
                )
            return row.id if row is not None and row.status == CLAIMED else None

    def _owners(self) -> list[str]:
        """The owners of the scope's accounts that have no row yet today."""
        with self.reads() as session:
            scope = parse_command(
                session,
                f"digest {self.sub.scope}".strip(),
                as_of=self.day,
                settings=self.settings,
            )
            owners = owners_in_scope(session, scope.filters)
        with self.factory() as session:
            taken = {r.owner for r in owner_deliveries(session, self.sub.id, self.day)}
        todo = [o for o in owners if o not in taken]
        # Processes that run together start at different owners, and so seldom race.
        cut = random.randrange(len(todo)) if todo else 0
        return todo[cut:] + todo[:cut]

    # -------------------------------------------------------------- the two threads

    def _send(self, owners: list[str]) -> None:
        DIRECTORY.forget_expired()
        ready: queue.Queue[object] = queue.Queue(maxsize=AHEAD)
        stop = threading.Event()
        preparing = threading.Thread(
            target=self._prepare,
            args=(owners, ready, stop),
            name=f"basebot-owners-{self.sub.id}",
            daemon=True,
        )
        preparing.start()
        try:
            while (got := ready.get()) is not _DONE:
                if isinstance(got, Unreachable):
                    self._unreachable(got)
                elif isinstance(got, _Ready | _Broken):
                    self._deliver(got)
                if self.fatal is not None:
                    break
        finally:
            stop.set()
            preparing.join(timeout=60)

    def _prepare(
        self, owners: list[str], ready: queue.Queue[object], stop: threading.Event
    ) -> None:
        seen: set[str] = set()
        try:
            for owner in owners:
                if stop.is_set():
                    return
                got = self._prepared(owner, seen)
                if got is not None and not _put(ready, got, stop):
                    return
        finally:
            _put(ready, _DONE, stop)

    def _prepared(self, owner: str, seen: set[str]) -> object | None:
        """What to do about one owner: None when someone else has them (or had them)."""
        try:
            found = DIRECTORY.resolve(self.client, owner, locale=self.sub.lang is None)
        except Exception:
            log.exception("could not look up an owner of owners' digest %s", self.sub.id)
            return Unreachable(owner, "internal error")
        if isinstance(found, Unreachable):
            return found
        if found.user_id in seen:
            return None
        seen.add(found.user_id)
        try:
            with self.factory() as session:
                if handled(session, self.sub.id, self.day, found.user_id):
                    return None
            return self._build(found)
        except Exception:
            log.exception("the owners' digest %s for %s failed", self.sub.id, found.user_id)
            return _Broken(found, "internal error (see the log)")

    def _build(self, person: Person) -> _Ready:
        started = time.perf_counter()
        lang = self.sub.lang or language_of(person.locale, self.settings.language)
        speak = speaker(lang, self.settings.currency)
        note = None
        with self.reads() as session:
            request = parse_command(
                session,
                f"digest {self.sub.scope} {MINE}",
                as_of=self.day,
                settings=self.settings,
                me=person.me,
            )
            digest = run(session, request, self.settings)
            assert isinstance(digest, Digest)
            try:
                chart: bytes | None = digest_chart(session, digest, speak)
            except Exception as exc:
                # The figures go out without their illustration.
                log.exception("the chart of owners' digest %s was not drawn", self.sub.id)
                chart, note = None, f"chart not drawn: {type(exc).__name__}"
        ready = _Ready(
            person, digest_message(digest, speak), chart, chart_title(digest, speak), note
        )
        self.client.spent.building += time.perf_counter() - started
        return ready

    # -------------------------------------------------------------- recording

    def _unreachable(self, who: Unreachable) -> None:
        with transaction(self.factory) as session:
            row = claim_owner(
                session,
                self.sub.id,
                self.day,
                who.owner,
                worker=self.worker,
                now=self.clock(),
                status=UNREACHABLE,
                error=who.reason,
            )
        if row is not None:
            self.done[UNREACHABLE] += 1

    def _deliver(self, got: _Ready | _Broken) -> None:
        user_id = got.person.user_id
        with transaction(self.factory) as session:
            row = claim_owner(
                session, self.sub.id, self.day, user_id, worker=self.worker, now=self.clock()
            )
            row_id = row.id if row is not None else None
        if row_id is None:
            return
        if isinstance(got, _Broken):
            self._record(row_id, FAILED, error=got.error)
            return
        try:
            posted = post_digest(self.client, user_id, got.message, got.chart, title=got.title)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "slack_error")
            log.warning("Slack refused owners' digest %s to %s: %s", self.sub.id, user_id, error)
            self._record(row_id, FAILED, error=error)
            if error in FATAL:
                self.fatal = error
            return
        except Exception:
            log.exception("owners' digest %s to %s failed", self.sub.id, user_id)
            self._record(row_id, FAILED, error="internal error (see the log)")
            return
        self._record(row_id, POSTED, ts=posted.ts, error=posted.chart_error or got.note)

    def _record(
        self, row_id: int, status: str, *, ts: str | None = None, error: str | None = None
    ) -> None:
        with transaction(self.factory) as session:
            record_owner(session, row_id, status=status, now=self.clock(), ts=ts, error=error)
        self.done[status] += 1

    def _close(self, delivery_id: int) -> Outcome:
        """The day is over once no owner's row is still being sent."""
        sub_id, day = self.sub.id, self.day
        at = self.clock()
        with transaction(self.factory) as session:
            if self.fatal is not None:
                record_failed(session, delivery_id, error=self.fatal, now=at)
                closed, note = True, self.fatal
            else:
                interrupt_stale(session, sub_id, day, before=at - STALE_AFTER, error=INTERRUPTED)
                counts = tally(session, sub_id, day)
                note = summary(counts)
                closed = not counts[CLAIMED]
                if closed:
                    record_posted(session, delivery_id, ts=None, now=at, note=note)
        spent = self.client.spent
        log.info(
            "owners' digest %s for %s: %s here in %.1f s (building %.1f s, Slack calls %.1f s,"
            " paced %.1f s, %d calls)%s",
            sub_id,
            day,
            summary(self.done),
            time.monotonic() - self.started,
            spent.building,
            spent.slack,
            spent.paced,
            spent.calls,
            f"; the day is done: {note}" if closed else "",
        )
        if self.fatal is not None:
            return Outcome(sub_id, day, FAILED, self.fatal)
        return Outcome(sub_id, day, POSTED if closed else "skipped", note)


def summary(counts: Counter[str]) -> str:
    """What a day's counts come to, e.g. "48 sent, 2 unreachable, 0 failed" (for the log and
    the day's row)."""
    said = f"{counts[POSTED]} sent, {counts[UNREACHABLE]} unreachable, {counts[FAILED]} failed"
    return said + (f", {counts[CLAIMED]} being sent" if counts[CLAIMED] else "")


def _put(ready: queue.Queue[object], got: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            ready.put(got, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


__all__ = [
    "DIRECTORY",
    "INTERVALS",
    "PACE_ENV",
    "Directory",
    "PacedClient",
    "Pacer",
    "Pacing",
    "Person",
    "Unreachable",
    "deliver_owners",
    "shared_pacing",
    "summary",
]
