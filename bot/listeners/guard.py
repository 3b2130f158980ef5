"""Trust around every request: workspace and retry checks, access rules, and the audit log.

`answer_guarded` is what `compute()` runs: the verb's access rule is checked before the
database is touched, the `public` rule before the query runs, and every outcome is written
to the audit log in a short transaction of its own.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import duckdb
from slack_bolt import BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.access import EVERYONE, Refusal, Rules
from bot.ask import parse_command, run
from bot.parsing import VERBS, ParseError
from bot.settings import Settings
from queries.audit import Event, record
from queries.claims import in_force
from queries.db import Reader
from queries.registry import QUERIES
from queries.request import DIRECT, Me, Request, Source
from queries.results import Answer
from queries.vocabulary import frozen

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 300.0
RETRY_MEMORY = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Refused(Exception):
    """An access rule refused the request; `str()` is the message for the asker."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(refusal.rule)


class Incident(Exception):
    """The request failed on our side; the cause is chained, the id goes to the asker."""

    def __init__(self, incident: str) -> None:
        self.incident = incident
        super().__init__(f"incident {incident}")


@dataclass(frozen=True, kw_only=True)
class Asked:
    """Who asked what, where: what the access rules and the audit log need."""

    team_id: str | None
    user_id: str
    channel_id: str | None
    text: str
    me: Me | None = None  # who asks, for `mine`


class GroupMembers:
    """Which of the named user groups a user belongs to (usergroups.users.list, cached)."""

    def __init__(self, client: WebClient, *, ttl: float = GROUP_CACHE_SECONDS) -> None:
        self._client = client
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def groups_of(self, user: str, groups: Collection[str]) -> frozenset[str]:
        return frozenset(g for g in groups if user in self._members(g))

    def _members(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            users = self._client.usergroups_users_list(usergroup=group).get("users") or []
        except SlackApiError as exc:
            # Refusing is the safe side: nobody is taken for a member of a group Slack won't list.
            log.warning("usergroups.users.list failed for %s: %s", group, exc.response.get("error"))
            return frozenset()
        members = frozenset(str(u) for u in users)
        with self._lock:
            self._cache[group] = (now + self._ttl, members)
        return members


@dataclass(frozen=True, kw_only=True)
class Guard:
    rules: Rules = EVERYONE
    members: GroupMembers | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    def __deepcopy__(self, memo: dict[int, Any]) -> Guard:
        return self

    def groups(self, user: str) -> Callable[[], frozenset[str]]:
        def lookup() -> frozenset[str]:
            if self.members is None:
                return frozenset()
            return self.members.groups_of(user, self.rules.all_groups)

        return lookup

    def may_override_claims(self, user: str) -> bool:
        return self.rules.may_override_claims(user=user, groups=self.groups(user))

    def may_see_contacts(self, user: str, *, public: bool) -> bool:
        return self.rules.may_see_contacts(user=user, public=public, groups=self.groups(user))

    def check(self, asked: Asked, *, verb: str, public: bool) -> Refusal | None:
        return self.rules.check(
            verb=verb,
            user=asked.user_id,
            channel=asked.channel_id,
            public=public,
            groups=self.groups(asked.user_id),
        )


def new_incident() -> str:
    return secrets.token_hex(4).upper()


def first_word(text: str, command: str) -> str:
    """The verb as the parser will see it, without touching the database."""
    clean = _CONTROL.sub(" ", text).strip()
    if clean.lower().startswith(command.lower() + " ") or clean.lower() == command.lower():
        clean = clean[len(command) :].strip()
    word = clean.split(maxsplit=1)[0].lower() if clean else "help"
    return "help" if word == "?" else word


def answer_guarded(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    guard: Guard,
    asked: Asked,
    as_of: date | None,
    public: bool | None = None,
    rows: Callable[[Answer], int | None] = lambda _: None,
    reads: Reader | None = None,
    listing: int | None = None,
) -> Answer:
    """Check, parse, answer and audit. Raises Refused, ParseError or Incident.

    The query runs in a session from `reads` (default `sessions`); the audit row always goes
    to `sessions`. `listing`: how many rows of a long list will be shown (None: all; a
    command with `csv` always gets all).
    """
    started = guard.clock()
    verb = first_word(asked.text, settings.command_name)

    def audit(outcome: str, **extra: Any) -> None:
        ms = int((guard.clock() - started) * 1000)
        write_audit(sessions, asked, outcome=outcome, ms=ms, **extra)

    if verb in VERBS:
        refusal = guard.check(asked, verb=verb, public=False)
        if refusal is not None:
            audit("refused", verb=verb, rule=refusal.rule)
            raise Refused(refusal)
    try:
        with (reads or sessions)() as session:
            request = parse_command(
                session, asked.text, as_of=as_of, settings=settings, me=asked.me
            )
            wants_public = request.public if public is None else public
            refusal = guard.check(asked, verb=request.verb, public=wants_public)
            if refusal is not None:
                audit("refused", verb=request.verb, rule=refusal.rule, command=request.text)
                raise Refused(refusal)
            if listing is not None and not request.csv:
                request = replace(request, listing=listing)
            spec = QUERIES.get(request.verb)
            if spec is not None and spec.claims:
                with sessions() as primary:
                    request = replace(request, holds=in_force(primary, datetime.now(UTC)))
            if spec is not None and spec.writes:
                # An act runs on the database itself, wherever the question was parsed.
                override = guard.may_override_claims(asked.user_id)
                request = replace(request, may_override=override, source=None)
                with sessions() as primary, primary.begin():
                    answer = run(primary, request, settings)
            elif spec is not None and spec.primary and frozen(session) and not request.source:
                with sessions() as primary:
                    answer = run(primary, request, settings)
            else:
                answer = _run_or_read_directly(session, sessions, request, settings)
    except (Refused, ParseError) as exc:
        if isinstance(exc, ParseError):
            audit("bad_input", verb=verb if verb in VERBS else None)
        raise
    except Exception as exc:
        incident = new_incident()
        audit("failed", verb=verb if verb in VERBS else None, incident_id=incident)
        raise Incident(incident) from exc
    audit("answered", verb=request.verb, rows=rows(answer), command=request.text)
    return answer


def _run_or_read_directly(
    session: Session, sessions: sessionmaker[Session], request: Request, settings: Settings
) -> Answer:
    """Run on the replica; if DuckDB runs out of its working memory there, read the database
    directly (slower, and the reply says so) rather than fail."""
    try:
        return run(session, request, settings)
    except OperationalError as exc:
        if not (frozen(session) and isinstance(exc.orig, duckdb.OutOfMemoryException)):
            raise
    log.warning("the read replica ran out of memory for %s: reading the database", request.verb)
    with sessions() as primary:
        return run(primary, replace(request, source=Source(DIRECT)), settings)


def write_audit(
    sessions: sessionmaker[Session],
    asked: Asked,
    *,
    outcome: str,
    command: str | None = None,
    **extra: Any,
) -> None:
    """In a transaction of its own; a failure (e.g. a read-only database) is logged, not raised."""
    event = Event(
        team_id=asked.team_id,
        user_id=asked.user_id or None,
        channel_id=asked.channel_id,
        command=command or asked.text,
        outcome=outcome,
        **extra,
    )
    try:
        with sessions() as session, session.begin():
            record(session, event)
    except Exception:
        log.exception("the audit entry (%s) could not be written", outcome)


# ---------------------------------------------------------------- Bolt middleware


def _body_ids(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    return (str(team) if team else None), (str(body.get("api_app_id") or "") or None)


def only_workspace(team_id: str | None, app_id: str | None) -> Callable[..., BoltResponse | None]:
    """Requests from another workspace or app are answered with a refusal before anything runs."""

    def check_workspace(req: BoltRequest, next: Callable[[], None]) -> BoltResponse | None:
        team, app = _body_ids(req.body)
        if (team_id and team != team_id) or (app_id and app != app_id):
            log.warning("refused a request from team %s, app %s", team, app)
            return BoltResponse(
                status=200,
                body="basebot does not answer requests from this workspace or app "
                "(access rule `workspace`).",
            )
        next()
        return None

    return check_workspace


class RetryFilter:
    """Slack's retries (X-Slack-Retry-Num) of a request already taken are acked, not rerun."""

    def __init__(self, *, memory: int = RETRY_MEMORY) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._memory = memory
        self._lock = threading.Lock()

    def _key(self, body: Mapping[str, Any]) -> str | None:
        key = body.get("trigger_id") or body.get("event_id")
        if key is None and isinstance(body.get("actions"), list) and body["actions"]:
            key = (body["actions"][0] or {}).get("action_ts")
        return str(key) if key else None

    def seen_before(self, body: Mapping[str, Any]) -> bool:
        key = self._key(body)
        if key is None:
            return False
        with self._lock:
            if key in self._seen:
                return True
            self._seen[key] = None
            while len(self._seen) > self._memory:
                self._seen.popitem(last=False)
        return False

    def middleware(self, req: BoltRequest, next: Callable[[], None]) -> BoltResponse | None:
        seen = self.seen_before(req.body)
        if seen and req.headers.get("x-slack-retry-num"):
            log.info("acked a Slack retry of a request already taken")
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        next()
        return None


__all__ = [
    "Asked",
    "GroupMembers",
    "Guard",
    "Incident",
    "Refused",
    "RetryFilter",
    "answer_guarded",
    "first_word",
    "new_incident",
    "only_workspace",
    "write_audit",
]
