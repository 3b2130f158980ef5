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
import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import parse_command, run
from bot.digest import Outcome, chart_title, digest_chart, digest_message, post_digest
from bot.directory import DIRECTORY, SlackUser, Unreachable
from bot.i18n import language_of, speaker
from bot.pacing import PacedClient, shared_pacing
from bot.parsing import ParseError
from bot.render.blocks import Message
from bot.settings import Settings
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
from queries.request import MINE
from queries.subscriptions import CLAIMED, FAILED, POSTED, Due, claim, record_failed, record_posted

log = logging.getLogger(__name__)

# A row still claimed this long after its claim: its process stopped between claiming and
# recording (posting one DM, retries included, takes far less).
STALE_AFTER = timedelta(minutes=15)
INTERRUPTED = "interrupted: the process stopped while sending; the DM may have gone out"
AHEAD = 2  # digests built ahead of the one being posted
# The token itself is refused: every other owner would fail the same way.
FATAL = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


# ---------------------------------------------------------------- one run


@dataclass(frozen=True)
class _Ready:
    person: SlackUser
    message: Message
    chart: bytes | None
    title: str
    note: str | None  # a chart that could not be drawn


@dataclass(frozen=True)
class _Broken:
    person: SlackUser
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
    paced = PacedClient(client, shared_pacing(settings.slack_pace))
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

    def _build(self, person: SlackUser) -> _Ready:
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


__all__ = ["deliver_owners", "summary"]
