"""Alerts (SPEC §10): once a day, the candidates of one upsell rule that are new since the
previous post, in a channel or in the subscriber's DM. A day with nothing new posts nothing.

What to post is `upsell <scope> <rule> since <previous post's day>`, read like every answer;
the first post says how many candidates there are and that only new ones will follow.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.access import load_rules
from bot.ask import parse_command, run
from bot.digest import (
    CHANNEL_GONE,
    Channel,
    DigestUsageError,
    Outcome,
    is_zone_word,
    language_word,
    parse_channel,
    post_digest,
    zone,
)
from bot.i18n import Speaker, speaker
from bot.parsing import VERBS
from bot.render.blocks import Message, esc, render_answer
from bot.settings import Settings
from queries.alerts import EXAMPLE
from queries.db import Reader, transaction
from queries.models import DigestSubscription
from queries.request import MINE, UPSELL_RULES, Me, Request, is_user_id
from queries.subscriptions import (
    POSTED,
    QUIET,
    Due,
    claim,
    last_delivery,
    record_failed,
    record_posted,
    record_quiet,
)
from queries.upsell import RULES, UpsellList
from queries.view import _, _n, code, mention

log = logging.getLogger(__name__)

ME = "me"
ALERT_EXAMPLE = EXAMPLE
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")


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
    return word.lower() == ME or word.startswith(("<#", "#")) or bool(_CHANNEL_ID.match(word))


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
        if _TIME.match(word):
            hours, minutes = (int(p) for p in word.split(":"))
            if hours > 23 or minutes > 59:
                raise DigestUsageError(
                    _(
                        "The time must be HH:MM on a 24-hour clock. Example: {example}",
                        example=ALERT_EXAMPLE,
                    )
                )
            local_time = f"{hours:02d}:{minutes:02d}"
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
    """Whose accounts `mine` means in an alert: its subscriber's (users.info for the email)."""
    user = sub.created_by or ""
    if MINE not in sub.scope.split() or not user:
        return Me(user_id=user or None)
    try:
        profile = (client.users_info(user=user).get("user") or {}).get("profile") or {}
    except SlackApiError as exc:
        log.warning("users.info failed for an alert's subscriber: %s", exc.response.get("error"))
        profile = {}
    return Me(user_id=user, email=profile.get("email") or None)


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
    block = {"type": "section", "text": {"type": "mrkdwn", "text": esc(text)}}
    return Message(text=f"{text}\n{message.text}", blocks=[block, *message.blocks][:50])


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
    """Claim the alert's day; post what is new since its previous post, or nothing. Never
    raises."""
    sub, day = item.subscription, item.day
    try:
        with transaction(factory) as session:
            row = claim(session, sub.id, day, worker=worker, now=now)
            delivery_id = row.id if row is not None else None
            previous = last_delivery(session, sub.id, status=POSTED)
            since = previous.day if previous is not None and previous.day < day else None
    except Exception:
        log.exception("could not claim the alert of subscription %s for %s", sub.id, day)
        return Outcome(sub.id, day, "failed", "claim failed")
    if delivery_id is None:
        return Outcome(sub.id, day, "skipped")
    dm = is_user_id(sub.channel_id)
    if not dm and not load_rules(settings.access_file, verbs=VERBS).public_allowed(sub.channel_id):
        error = "not_allowed: the access rules' public_channels do not include this channel"
        with transaction(factory) as session:
            record_failed(session, delivery_id, error=error, now=now, pause=True)
        return Outcome(sub.id, day, "failed", error)
    speak = speaker(sub.lang or settings.language, settings.currency)
    try:
        me = creator_of(client, sub)
        with (reads or factory)() as session:
            answer = alert_answer(session, sub, day, since, me, settings)
        if since is not None and answer.total == 0:
            with transaction(factory) as session:
                record_quiet(session, delivery_id, now=now)
            return Outcome(sub.id, day, QUIET)
        message = (
            first_message(answer, sub, speak)
            if since is None
            else render_answer(answer, speak=speak, public=True)
        )
        posted = post_digest(client, sub.channel_id, message, None, title="")
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "slack_error")
        gone = error in CHANNEL_GONE
        log.warning("Slack refused the alert of subscription %s: %s", sub.id, error)
        with transaction(factory) as session:
            record_failed(session, delivery_id, error=error, now=now, pause=gone)
        if gone and not dm:
            _tell_subscriber(client, sub, error, settings, speak)
        return Outcome(sub.id, day, "failed", error)
    except Exception:
        log.exception("the alert of subscription %s for %s failed", sub.id, day)
        with transaction(factory) as session:
            record_failed(session, delivery_id, error="internal error (see the log)", now=now)
        return Outcome(sub.id, day, "failed", "internal error")
    with transaction(factory) as session:
        record_posted(session, delivery_id, ts=posted.ts, now=now)
    return Outcome(sub.id, day, "posted")


def _tell_subscriber(
    client: WebClient, sub: DigestSubscription, error: str, settings: Settings, speak: Speaker
) -> None:
    # Said once: the subscription is paused, so it will not fail (and say so) again.
    if not sub.created_by:
        return
    text = speak(
        _(
            "I couldn't post the {rule} alert in {channel} (Slack said {error}), so it is"
            " paused. Invite me (/invite @basebot) and subscribe again: {example}",
            rule=RULES[sub.rule],
            channel=mention(sub.channel_id),
            error=code(error),
            example=code(f"{settings.command_name} alert {mention(sub.channel_id)} {sub.rule}"),
        )
    )
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    try:
        client.chat_postMessage(channel=sub.created_by, text=text, blocks=blocks)
    except Exception as exc:
        log.warning("could not tell the alert's subscriber: %s", type(exc).__name__)


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
