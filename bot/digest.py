"""The daily digest as a Slack post: building it (pure), posting it (with its chart), and one
subscription's delivery from claim to recorded outcome."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from sqlalchemy.orm import Session, sessionmaker

from bot.access import load_rules
from bot.ask import parse_command, run
from bot.chart import installed_chart
from bot.i18n import LANGUAGES, Speaker, speaker
from bot.parsing import VERBS
from bot.render.blocks import Message, render_answer, render_markup
from bot.settings import Settings, SettingsError
from queries.db import Reader, transaction
from queries.digest import Digest
from queries.history import HISTORY_DAYS, installed_history
from queries.models import DigestSubscription
from queries.request import MINE, Request, is_user_id
from queries.subscriptions import (
    QUIET,
    Due,
    claim,
    record_failed,
    record_posted,
    record_quiet,
)
from queries.view import Msg, _, _n, code, mention

log = logging.getLogger(__name__)

# Slack answers these when the digest can never reach the channel as things stand.
CHANNEL_GONE = frozenset({"not_in_channel", "is_archived", "channel_not_found"})
RATE_LIMIT_RETRIES = 5
CONNECTION_RETRIES = 3
CHART_NAME = "installed-base-90-days.png"
_CHANNEL_MENTION = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|([^>]*))?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
SUBSCRIBE_EXAMPLE = "/base digest subscribe #sales 08:00"
OWNERS_EXAMPLE = "/base digest subscribe owners 08:00 Europe/Berlin"
_LOCAL_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_TIME_WORD = re.compile(r"^\d{1,2}:\d{2}$")


class DigestUsageError(ValueError):
    """A digest subcommand that cannot be carried out as typed: `problem` is for the user."""

    def __init__(self, problem: Msg) -> None:
        self.problem = problem
        super().__init__(problem.id)


# ---------------------------------------------------------------- subcommand words


@dataclass(frozen=True)
class Channel:
    id: str
    name: str | None = None

    def mention(self) -> str:
        return f"<#{self.id}>"


def parse_channel(word: str, example: str = SUBSCRIBE_EXAMPLE) -> Channel:
    """`<#C123|name>`, `<#C123>` or a raw C…/G… id; a plain `#name` cannot be resolved."""
    found = _CHANNEL_MENTION.match(word)
    if found:
        return Channel(found.group(1), found.group(2) or None)
    if _CHANNEL_ID.match(word):
        return Channel(word)
    if word.startswith("#"):
        raise DigestUsageError(
            _(
                "I can't tell which channel “{word}” is: pick it from the list Slack offers as"
                " you type # (that sends the channel's id), e.g. {example}",
                word=word[:40],
                example=example,
            )
        )
    raise DigestUsageError(
        _("“{word}” is not a channel. Example: {example}", word=word[:40], example=example)
    )


@dataclass(frozen=True)
class Subscription:
    """What `digest subscribe` asked for."""

    channel: Channel | None
    local_time: str
    tz: str
    scope: str
    lang: str | None = None  # lang:de; None: the subscriber's


def parse_subscription(words: list[str], *, default_tz: str) -> Subscription:
    """`[<#channel>] [HH:MM] [time zone] [lang:xx] [target] [in <value>…]` after `subscribe`."""
    if any(w.lower() == MINE for w in words):
        raise DigestUsageError(
            _(
                "A channel's digest is the same for everyone in it, so it cannot be “mine”: use"
                " {example} for one owner's accounts.",
                example=code("in owner:ann@acme.example"),
            )
        )
    langs = [w for w in words if w.lower().startswith("lang:")]
    rest = [w for w in words if w not in langs]
    lang = language_word(langs[-1], SUBSCRIBE_EXAMPLE) if langs else None
    channel = None
    if rest and is_channel_word(rest[0]):
        channel = parse_channel(rest.pop(0))
    local_time = "08:00"
    if rest and is_time_word(rest[0]):
        local_time = time_word(rest.pop(0), "/base digest subscribe #sales 07:30 Europe/Berlin")
    tz = default_tz
    if rest and is_zone_word(rest[0]):
        tz = zone(rest.pop(0))
    return Subscription(channel, local_time, tz, " ".join(rest), lang)


def is_channel_word(word: str) -> bool:
    """Whether a word is meant as a channel (<#C…|name>, #name, C…), known or not."""
    return word.startswith(("<#", "#")) or _CHANNEL_ID.match(word) is not None


def is_time_word(word: str) -> bool:
    """Whether a word is meant as a time of day (7:30, 25:00), valid or not."""
    return _TIME_WORD.match(word) is not None


def time_word(word: str, example: str) -> str:
    """A local time as typed → HH:MM on a 24-hour clock."""
    found = _LOCAL_TIME.match(word)
    if not found:
        raise DigestUsageError(
            _("The time must be HH:MM on a 24-hour clock. Example: {example}", example=example)
        )
    return f"{int(found.group(1)):02d}:{found.group(2)}"


def is_zone_word(word: str) -> bool:
    """Whether a word is meant as a time zone (Europe/Berlin, UTC), known or not."""
    return "/" in word or word.upper() == "UTC"


def zone(word: str) -> str:
    """A time zone as typed: an IANA name, or UTC."""
    if word.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(word)
    except (ZoneInfoNotFoundError, ValueError):
        raise DigestUsageError(
            _(
                "“{word}” is not a time zone I know: use an IANA name such as Europe/Berlin"
                " or America/New_York.",
                word=word[:40],
            )
        ) from None
    return word


def language_word(word: str, example: str) -> str:
    """`lang:de` → de, a language basebot speaks."""
    lang = word[5:].lower()
    if lang not in LANGUAGES:
        raise DigestUsageError(
            _(
                "“{word}” is not a language I speak: {languages}. Example: {example}",
                word=word[:40],
                languages=", ".join("lang:" + lang for lang in LANGUAGES),
                example=example + " lang:de",
            )
        )
    return lang


def parse_owners_subscription(words: list[str], *, default_tz: str) -> Subscription:
    """`[HH:MM] [time zone] [lang:xx] [target] [in <value>…]` after `subscribe owners`: each
    owner's own accounts in their DM, so neither `mine` nor a channel."""
    if any(w.lower() == MINE for w in words):
        raise DigestUsageError(
            _(
                "An owners' digest already gives every owner their own accounts: leave out"
                " “mine”. Example: {example}",
                example=OWNERS_EXAMPLE,
            )
        )
    no_channel = DigestUsageError(
        _(
            "An owners' digest goes to every owner in a direct message, so it takes no"
            " channel. Example: {example}",
            example=OWNERS_EXAMPLE,
        )
    )
    if any(w.startswith(("<#", "#")) for w in words):
        raise no_channel
    wanted = parse_subscription(words, default_tz=default_tz)
    if wanted.channel is not None:
        raise no_channel
    return wanted


def scope_of(request: Request) -> str:
    """The canonical scope text of a parsed digest request: "printers in EMEA"."""
    parts = [request.target.value] if request.target else []
    parts += [f"in {f.describe()}" for f in request.filters]
    return " ".join(parts)


# ---------------------------------------------------------------- building


def build_digest(session: Session, scope: str, *, as_of: date, settings: Settings) -> Digest:
    """The digest for a subscription's scope (e.g. "printers in EMEA"), parsed as a command.

    Raises bot.parsing.ParseError when the scope no longer parses (a category renamed).
    """
    request = parse_command(session, f"digest {scope}".strip(), as_of=as_of, settings=settings)
    answer = run(session, request, settings)
    assert isinstance(answer, Digest)
    return answer


def digest_chart(session: Session, digest: Digest, speak: Speaker) -> bytes:
    """The PNG of the digest's slice: units in use per core category, the last 90 days."""
    r = digest.request
    history = installed_history(
        session, date.fromisoformat(digest.day), target=r.target, filters=r.filters
    )
    slice_ = " · ".join(([r.target.value] if r.target else []) + [f.describe() for f in r.filters])
    heading = speak(
        _n("Installed units, last {n} day", "Installed units, last {n} days", HISTORY_DAYS)
    )
    return installed_chart(history, title=heading + (f" · {slice_}" if slice_ else ""), speak=speak)


def chart_title(digest: Digest, speak: Speaker) -> str:
    return speak(_("Installed base {day}", day=date.fromisoformat(digest.day)))


def digest_message(digest: Digest, speak: Speaker) -> Message:
    """The channel post: the "what changed" line, the figures, the top candidates."""
    return render_answer(digest, speak=speak, public=True)


# ---------------------------------------------------------------- posting


def delivery_client(settings: Settings) -> WebClient:
    """A Web API client that waits out rate limits (Retry-After) and retries lost connections."""
    if not settings.slack_bot_token:
        raise SettingsError("SLACK_BOT_TOKEN is not set (the xoxb- token from OAuth & Permissions)")
    handlers = [
        RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
    ]
    if settings.slack_api_url:
        base = settings.slack_api_url.rstrip("/") + "/"
        return WebClient(token=settings.slack_bot_token, base_url=base, retry_handlers=handlers)
    return WebClient(token=settings.slack_bot_token, retry_handlers=handlers)


@dataclass(frozen=True)
class Posted:
    ts: str | None
    chart_error: str | None = None


def post_digest(
    client: WebClient, channel: str, message: Message, chart: bytes | None, *, title: str
) -> Posted:
    """Post the message, then upload the chart beside it. Raises SlackApiError if the message
    is refused; a refused chart is only reported back (the figures went out)."""
    response = client.chat_postMessage(
        channel=channel, text=message.text, blocks=message.blocks, unfurl_links=False
    )
    ts = response.get("ts")
    if chart is None:
        return Posted(ts)
    try:
        client.files_upload_v2(
            channel=response.get("channel") or channel,
            file=chart,
            filename=CHART_NAME,
            title=title,
            thread_ts=None,
        )
    except Exception as exc:
        # The chart only illustrates the figures already posted: whatever stopped it (Slack
        # refused it, the upload host hung up), the message stands and the failure is noted.
        error = (
            str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
        )
        log.warning("the digest chart was not uploaded: %s", error)
        return Posted(ts, f"chart not uploaded: {error}")
    return Posted(ts)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class Outcome:
    subscription_id: int
    day: date
    status: str  # posted, failed, skipped (another process had it)
    error: str | None = None


@dataclass(frozen=True)
class Post:
    """What one day's delivery posts: a message, and a chart beside it."""

    message: Message
    chart: bytes | None = None
    title: str = ""


# A subscription's post for its day, in its language; None: nothing to post that day.
Compose = Callable[[DigestSubscription, date, Speaker], Post | None]
# What its subscriber is told when Slack says the channel cannot be reached (and why).
Gone = Callable[[DigestSubscription, str, Settings], Msg]


def deliver_once(
    factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    item: Due,
    *,
    now: datetime,
    worker: str,
    compose: Compose,
    gone: Gone,
) -> Outcome:
    """Claim the subscription's day, then compose, post and record. A channel that cannot be
    reached pauses the subscription and its subscriber is told once. Never raises."""
    sub, day = item.subscription, item.day
    try:
        with transaction(factory) as session:
            row = claim(session, sub.id, day, worker=worker, now=now)
            delivery_id = row.id if row is not None else None
    except Exception:
        log.exception("could not claim subscription %s for %s", sub.id, day)
        return Outcome(sub.id, day, "failed", "claim failed")
    if delivery_id is None:
        return Outcome(sub.id, day, "skipped")
    dm = is_user_id(sub.channel_id)
    if not dm and not load_rules(settings.access_file, verbs=VERBS).public_allowed(sub.channel_id):
        error = "not_allowed: the access rules' public_channels do not include this channel"
        log.warning("subscription %s refused by public_channels", sub.id)
        with transaction(factory) as session:
            record_failed(session, delivery_id, error=error, now=now, pause=True)
        return Outcome(sub.id, day, "failed", error)
    speak = speaker(sub.lang or settings.language, settings.currency)
    try:
        post = compose(sub, day, speak)
        if post is None:
            with transaction(factory) as session:
                record_quiet(session, delivery_id, now=now)
            return Outcome(sub.id, day, QUIET)
        posted = post_digest(client, sub.channel_id, post.message, post.chart, title=post.title)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "slack_error")
        unreachable = error in CHANNEL_GONE
        log.warning("Slack refused the post of subscription %s: %s", sub.id, error)
        with transaction(factory) as session:
            record_failed(session, delivery_id, error=error, now=now, pause=unreachable)
        if unreachable and not dm and sub.created_by:
            tell(client, sub.created_by, speak(gone(sub, error, settings)))
        return Outcome(sub.id, day, "failed", error)
    except Exception:
        log.exception("the post of subscription %s for %s failed", sub.id, day)
        with transaction(factory) as session:
            record_failed(session, delivery_id, error="internal error (see the log)", now=now)
        return Outcome(sub.id, day, "failed", "internal error")
    with transaction(factory) as session:
        record_posted(session, delivery_id, ts=posted.ts, now=now, note=posted.chart_error)
    return Outcome(sub.id, day, "posted", posted.chart_error)


def tell(client: WebClient, user_id: str, text: str) -> None:
    """Our own words (channel mentions live) in a user's DM; a failure is only logged."""
    try:
        client.chat_postMessage(channel=user_id, text=text, blocks=render_markup(text).blocks)
    except SlackApiError as exc:
        log.warning("could not tell the subscriber: %s", exc.response.get("error"))
    except Exception:
        log.exception("could not tell the subscriber")


def deliver_due(
    factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    item: Due,
    *,
    now: datetime,
    worker: str,
    reads: Reader | None = None,
) -> Outcome:
    """A channel's daily digest, with its chart."""

    def compose(sub: DigestSubscription, day: date, speak: Speaker) -> Post:
        with (reads or factory)() as session:
            digest = build_digest(session, sub.scope, as_of=day, settings=settings)
            chart = digest_chart(session, digest, speak)
        return Post(digest_message(digest, speak), chart, chart_title(digest, speak))

    return deliver_once(
        factory, client, settings, item, now=now, worker=worker, compose=compose, gone=_gone
    )


def _gone(sub: DigestSubscription, error: str, settings: Settings) -> Msg:
    reason = {
        "not_in_channel": _("I am not a member of it: invite me (/invite @basebot)"),
        "is_archived": _("it is archived"),
        "channel_not_found": _("it no longer exists, or I can't see it"),
    }.get(error, Msg(error))
    return _(
        "I couldn't post the daily digest in {channel}: {reason}. The subscription is"
        " paused; subscribe again when it is fixed ({example}).",
        channel=mention(sub.channel_id),
        reason=reason,
        example=code(f"{settings.command_name} digest subscribe {mention(sub.channel_id)}"),
    )


__all__ = [
    "CHANNEL_GONE",
    "OWNERS_EXAMPLE",
    "Channel",
    "DigestUsageError",
    "Outcome",
    "Post",
    "Posted",
    "Subscription",
    "build_digest",
    "chart_title",
    "deliver_due",
    "deliver_once",
    "delivery_client",
    "digest_chart",
    "digest_message",
    "is_channel_word",
    "is_time_word",
    "is_zone_word",
    "language_word",
    "parse_channel",
    "parse_owners_subscription",
    "parse_subscription",
    "post_digest",
    "scope_of",
    "tell",
    "time_word",
    "worker_name",
    "zone",
]
