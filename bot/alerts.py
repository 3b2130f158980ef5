"""Alerts (SPEC §10): once a day, the candidates of one upsell rule that are new since the
previous post, in a channel or in the subscriber's DM. A day with nothing new posts nothing.

What to post is `upsell <scope> <rule> since <previous post's day>`, read like every answer;
the first post says how many candidates there are and that only new ones will follow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import parse_command, run
from bot.digest import (
    Channel,
    DigestUsageError,
    Outcome,
    Post,
    deliver_once,
    is_channel_word,
    is_time_word,
    is_zone_word,
    language_word,
    parse_channel,
    time_word,
    zone,
)
from bot.directory import DIRECTORY, SlackUser
from bot.i18n import Speaker
from bot.render.blocks import MAX_BLOCKS, Message, esc, render_answer, section
from bot.settings import Settings
from queries.alerts import EXAMPLE as ALERT_EXAMPLE
from queries.db import Reader
from queries.models import DigestSubscription
from queries.request import MINE, UPSELL_RULES, Me, Request
from queries.subscriptions import (
    POSTED,
    Due,
    last_delivery,
)
from queries.upsell import RULES, UpsellList
from queries.view import Msg, _, _n, code, mention

log = logging.getLogger(__name__)

ME = "me"


@dataclass(frozen=True)
class AlertWanted:
    """What `alert <#channel|me> <rule> …` asked for; `channel` None: the asker's DM."""

    channel: Channel | None
    rule: str
    scope: str  # the target and `in` filters as typed, and `mine`
    local_time: str
    tz: str
    lang: str | None


def where(word: str) -> Channel | None:
    """`me` (None: the asker's DM) or a channel."""
    return None if word.lower() == ME else parse_channel(word, ALERT_EXAMPLE)


def is_destination(word: str) -> bool:
    return word.lower() == ME or is_channel_word(word)


def parse_alert(words: list[str], *, default_tz: str) -> AlertWanted:
    """`<#channel|me> <rule> [target] [in …] [mine] [HH:MM] [time zone] [lang:xx]`, the words
    after the destination in any order."""
    if not words or not is_destination(words[0]):
        raise DigestUsageError(
            _(
                "Say where the alert goes: a channel or “me”. Example: {example}",
                example=ALERT_EXAMPLE,
            )
        )
    channel = where(words[0])
    rules = [w for w in words[1:] if w.lower() in UPSELL_RULES]
    if len(rules) != 1:
        raise DigestUsageError(
            _(
                "An alert follows one upsell rule: {rules}. Example: {example}",
                rules=", ".join(UPSELL_RULES),
                example=ALERT_EXAMPLE,
            )
        )
    local_time, tz, lang = "08:00", default_tz, None
    scope: list[str] = []
    for word in words[1:]:
        low = word.lower()
        if low in UPSELL_RULES:
            continue
        if is_time_word(word):
            local_time = time_word(word, ALERT_EXAMPLE)
        elif is_zone_word(word):
            tz = zone(word)
        elif low.startswith("lang:"):
            lang = language_word(word, ALERT_EXAMPLE)
        else:
            scope.append(word)
    return AlertWanted(channel, rules[0].lower(), " ".join(scope), local_time, tz, lang)


def alert_command(scope: str, rule: str, since: date | None) -> str:
    """The upsell question an alert asks each day."""
    words = ["upsell", scope, rule] + ([f"since {since.isoformat()}"] if since else [])
    return " ".join(w for w in words if w)


def canonical_scope(request: Request) -> str:
    """The scope as stored: the target, the `in` filters, and `mine` last."""
    parts = [request.target.value] if request.target else []
    parts += [f"in {f.describe()}" for f in request.filters if f.label != MINE]
    if any(f.label == MINE for f in request.filters):
        parts.append(MINE)
    return " ".join(parts)


def creator_of(client: WebClient, sub: DigestSubscription) -> Me:
    """Whose accounts `mine` means in an alert: its subscriber's (their profile email from the
    owners' directory, which caches it)."""
    user = sub.created_by or ""
    if MINE not in sub.scope.split() or not user:
        return Me(user_id=user or None)
    found = DIRECTORY.resolve(client, user, locale=False)
    return found.me if isinstance(found, SlackUser) else Me(user_id=user)


def alert_answer(
    session: Session,
    sub: DigestSubscription,
    day: date,
    since: date | None,
    me: Me,
    settings: Settings,
) -> UpsellList:
    text = alert_command(sub.scope, sub.rule, since)
    request = parse_command(session, text, as_of=day, settings=settings, me=me)
    answer = run(session, request, settings)
    assert isinstance(answer, UpsellList)
    return answer


def first_message(answer: UpsellList, sub: DigestSubscription, speak: Speaker) -> Message:
    """The first post: how many candidates there are now, and that only new ones follow."""
    lead = _n(
        "There is {n} {rule} candidate now. From tomorrow I'll post only the new ones, at {time}"
        " ({tz}).",
        "There are {n} {rule} candidates now. From tomorrow I'll post only the new ones, at"
        " {time} ({tz}).",
        answer.total,
        rule=RULES[sub.rule],
        time=sub.local_time,
        tz=sub.tz,
    )
    return _lead(render_answer(answer, speak=speak, public=True), speak(lead))


def _lead(message: Message, text: str) -> Message:
    blocks = [section(esc(text)).to_dict(), *message.blocks][:MAX_BLOCKS]
    return Message(text=f"{text}\n{message.text}", blocks=blocks)


def deliver_alert(
    factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    item: Due,
    *,
    now: datetime,
    worker: str,
    reads: Reader | None = None,
) -> Outcome:
    """What is new since the alert's previous post, or nothing on a day with nothing new."""

    def compose(sub: DigestSubscription, day: date, speak: Speaker) -> Post | None:
        with factory() as session:
            previous = last_delivery(session, sub.id, status=POSTED)
        since = previous.day if previous is not None and previous.day < day else None
        me = creator_of(client, sub)
        with (reads or factory)() as session:
            answer = alert_answer(session, sub, day, since, me, settings)
        if since is None:
            return Post(first_message(answer, sub, speak))
        if answer.total == 0:
            return None
        return Post(render_answer(answer, speak=speak, public=True))

    return deliver_once(
        factory, client, settings, item, now=now, worker=worker, compose=compose, gone=_gone
    )


def _gone(sub: DigestSubscription, error: str, settings: Settings) -> Msg:
    return _(
        "I couldn't post the {rule} alert in {channel} (Slack said {error}), so it is"
        " paused. Invite me (/invite @basebot) and subscribe again: {example}",
        rule=RULES[sub.rule],
        channel=mention(sub.channel_id),
        error=code(error),
        example=code(f"{settings.command_name} alert {mention(sub.channel_id)} {sub.rule}"),
    )


__all__ = [
    "ALERT_EXAMPLE",
    "AlertWanted",
    "alert_answer",
    "alert_command",
    "canonical_scope",
    "deliver_alert",
    "first_message",
    "parse_alert",
    "where",
]
