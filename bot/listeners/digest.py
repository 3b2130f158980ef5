"""`/base digest subscribe|unsubscribe|list|now <#channel>`: the daily digest's subscriptions,
and `digest subscribe|unsubscribe owners …`: every account owner's own digest in a DM.

`digest` alone (and `digest now` without a channel) is an ordinary question, answered by the
slash-command listener; these subcommands change what the scheduler posts.
"""

from __future__ import annotations

import logging
import shlex
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.ask import parse_command
from bot.digest import (
    CHANNEL_GONE,
    OWNERS_EXAMPLE,
    SUBSCRIBE_EXAMPLE,
    DigestUsageError,
    build_digest,
    chart_title,
    digest_chart,
    digest_message,
    is_channel_word,
    parse_channel,
    parse_owners_subscription,
    parse_subscription,
    post_digest,
    scope_of,
)
from bot.i18n import Speaker
from bot.listeners.guard import Asked, write_audit
from bot.listeners.replies import Asker, refused, send
from bot.listeners.services import Services
from bot.parsing import ParseError
from bot.render.blocks import Message, esc, render_error, render_markup
from queries.db import transaction
from queries.models import DigestSubscription
from queries.owners import UNREACHABLE, owner_deliveries
from queries.request import Request, is_user_id
from queries.subscriptions import (
    CLAIMED,
    FAILED,
    OWNERS,
    POSTED,
    last_delivery,
    subscribe,
    subscriptions,
    unsubscribe,
)
from queries.view import Msg, _, _n, code, mention

log = logging.getLogger(__name__)

SUBCOMMANDS = ("subscribe", "unsubscribe", "list", "now")
STATUSES = {
    "posted": _("posted"),
    "failed": _("failed"),
    "claimed": _("being posted"),
}
OWNERS_WORD = "owners"
# Owners named in `digest list` before "and N more".
LISTED_OWNERS = 10


def is_digest_subcommand(text: str) -> bool:
    """`digest subscribe …`, `digest unsubscribe …`, `digest list`, `digest now <#channel>`."""
    words = text.split()
    if len(words) < 2 or words[0].lower() != "digest":
        return False
    sub = words[1].lower()
    if sub == "now":
        return len(words) > 2 and words[2].startswith(("<#", "#"))
    return sub in SUBCOMMANDS


def handle(
    svc: Services,
    body: dict[str, Any],
    respond: Respond,
    client: WebClient,
    asker: Asker,
    speak: Speaker,
) -> None:
    """Carry out one digest subcommand and reply privately to the asker."""
    text = str(body.get("text") or "")
    asked = Asked(
        team_id=asker.team_id, user_id=asker.user_id, channel_id=asker.channel_id, text=text
    )
    # The access rules know verbs, not subcommands: `digest` covers them all.
    if refused(svc, asked, respond, client, asker, speak, verb="digest", audited_as="digest"):
        return
    outcome = "answered"
    said = Said(speak)
    try:
        words = shlex.split(text)[1:]
        sub, args = words[0].lower(), words[1:]
        owners = bool(args) and args[0].lower() == OWNERS_WORD
        if sub == "subscribe" and owners:
            reply = _subscribe_owners(svc, body, args[1:], asker, said)
        elif sub == "subscribe":
            reply = _subscribe(svc, body, args, asker, said)
        elif sub == "unsubscribe" and owners:
            reply = _unsubscribe_owners(svc, args[1:], said)
        elif sub == "unsubscribe":
            reply = _unsubscribe(svc, args, asker, said)
        elif sub == "list":
            reply = _list(svc, args, said)
        else:
            reply = _now(svc, client, args, said)
    except DigestUsageError as exc:
        outcome, reply = "bad_input", render_markup(f":warning: {esc(speak(exc.problem))}")
    except ParseError as exc:
        outcome = "bad_input"
        reply = render_error(exc, command=svc.settings.command_name, speak=speak)
    except ValueError:
        unclosed = speak(_("A quote is not closed."))
        outcome, reply = "bad_input", render_markup(f":warning: {unclosed}")
    write_audit(svc.sessions, asked, outcome=outcome, verb="digest")
    send(respond, client, asker, reply)


class Said:
    """Our own words in the asker's language, with channel mentions left live and the
    asker's text (a scope) escaped."""

    def __init__(self, speak: Speaker) -> None:
        self.speak = speak

    def __call__(self, msg: Msg) -> str:
        return self.speak(msg)

    def scoped(self, with_scope: Msg, scope: str | None, without: Msg) -> str:
        if scope:
            # A parameter, not a text patch: the asker's words are escaped, the bold is ours.
            return self.speak(with_scope.but(scope=f"*{esc(scope)}*"))
        return self.speak(without)


def _not_allowed(channel_id: str, said: Said) -> Message:
    return render_markup(
        ":no_entry: "
        + said(
            _(
                "Digests may not be posted in {channel}: the access rule {rule} does not"
                " include it.",
                channel=mention(channel_id),
                rule="`public_channels`",
            )
        )
    )


def _here(asker: Asker) -> str:
    if not asker.channel_id:
        raise DigestUsageError(_("Name the channel, e.g. {example}", example=SUBSCRIBE_EXAMPLE))
    return asker.channel_id


def _subscribe(
    svc: Services, body: dict[str, Any], args: list[str], asker: Asker, said: Said
) -> Message:
    wanted = parse_subscription(args, default_tz=svc.settings.tz)
    channel_id = wanted.channel.id if wanted.channel else _here(asker)
    if not svc.guard.rules.public_allowed(channel_id):
        return _not_allowed(channel_id, said)
    now = datetime.now(UTC)
    lang = wanted.lang or said.speak.lang
    with transaction(svc.sessions) as session:
        # The scope must parse now, as it will every morning (raises ParseError if not).
        request = _parse_scope(svc, session, wanted.scope)
        scope = scope_of(request)
        found, created = subscribe(
            session,
            channel_id=channel_id,
            local_time=wanted.local_time,
            tz=wanted.tz,
            scope=scope,
            now=now,
            channel_name=wanted.channel.name if wanted.channel else None,
            created_by=asker.user_id or None,
            team_id=str(body.get("team_id") or "") or None,
            lang=lang,
        )
    params = {
        "channel": f"<#{channel_id}>",
        "time": found.local_time,
        "tz": found.tz,
        "language": Locale.parse(lang).get_display_name(said.speak.lang) or lang,
        "scope": "{scope}",
    }
    if created:
        text = said.scoped(
            _(
                "{channel} will get the daily digest for {scope} at {time} ({tz}), in"
                " {language}. Make sure I am in the channel (/invite @basebot).",
                **params,
            ),
            scope,
            _(
                "{channel} will get the daily digest at {time} ({tz}), in {language}. Make sure"
                " I am in the channel (/invite @basebot).",
                **params,
            ),
        )
    else:
        text = said.scoped(
            _(
                "{channel} now gets the daily digest for {scope} at {time} ({tz}), in"
                " {language}. Make sure I am in the channel (/invite @basebot).",
                **params,
            ),
            scope,
            _(
                "{channel} now gets the daily digest at {time} ({tz}), in {language}. Make sure"
                " I am in the channel (/invite @basebot).",
                **params,
            ),
        )
    return render_markup(f":white_check_mark: {text}")


def _subscribe_owners(
    svc: Services, body: dict[str, Any], args: list[str], asker: Asker, said: Said
) -> Message:
    wanted = parse_owners_subscription(args, default_tz=svc.settings.tz)
    with transaction(svc.sessions) as session:
        scope = scope_of(_parse_scope(svc, session, wanted.scope))
        found, _created = subscribe(
            session,
            kind=OWNERS,
            channel_id="",
            local_time=wanted.local_time,
            tz=wanted.tz,
            scope=scope,
            now=datetime.now(UTC),
            created_by=asker.user_id or None,
            team_id=str(body.get("team_id") or "") or None,
            # None: each owner's own Slack language.
            lang=wanted.lang,
        )
    language: Msg | str = (
        Locale.parse(wanted.lang).get_display_name(said.speak.lang) or wanted.lang
        if wanted.lang
        else _("their own Slack language")
    )
    params = {"time": found.local_time, "tz": found.tz, "language": language, "scope": "{scope}"}
    text = said.scoped(
        _(
            "Every account owner will get their own digest of {scope} (their accounts only) in a"
            " direct message at {time} ({tz}), in {language}.",
            **params,
        ),
        scope,
        _(
            "Every account owner will get their own digest in a direct message at {time} ({tz}),"
            " in {language}.",
            **params,
        ),
    )
    listed = said(
        _(
            "Owners I can't reach on Slack are listed in {example}.",
            example=code(f"{svc.settings.command_name} digest list"),
        )
    )
    return render_markup(f":white_check_mark: {text} {listed}")


def _unsubscribe_owners(svc: Services, args: list[str], said: Said) -> Message:
    scope = " ".join(args) or None
    with transaction(svc.sessions) as session:
        if scope is not None:
            scope = scope_of(_parse_scope(svc, session, scope))
        stopped = unsubscribe(session, "", scope, kind=OWNERS)
    if not stopped:
        return render_markup(
            said.scoped(
                _("There is no owners' digest for {scope}.", scope="{scope}"),
                scope,
                _("There is no owners' digest. Example: {example}", example=OWNERS_EXAMPLE),
            )
        )
    return render_markup(
        said.scoped(
            _(
                "Account owners will no longer get their digest for {scope} in a direct message.",
                scope="{scope}",
            ),
            scope,
            _("Account owners will no longer get their digest in a direct message."),
        )
    )


def _unsubscribe(svc: Services, args: list[str], asker: Asker, said: Said) -> Message:
    channel_id = _here(asker)
    scope: str | None = None
    if args and is_channel_word(args[0]):
        channel_id = parse_channel(args.pop(0)).id
    if args:
        scope = " ".join(args)
    with transaction(svc.sessions) as session:
        if scope is not None:
            request = _parse_scope(svc, session, scope)
            scope = scope_of(request)
        stopped = unsubscribe(session, channel_id, scope)
    channel = f"<#{channel_id}>"
    if not stopped:
        return render_markup(
            said.scoped(
                _(
                    "{channel} has no digest subscription for {scope}.",
                    channel=channel,
                    scope="{scope}",
                ),
                scope,
                _("{channel} has no digest subscription.", channel=channel),
            )
        )
    return render_markup(
        said.scoped(
            _(
                "{channel} will no longer get the daily digest for {scope}.",
                channel=channel,
                scope="{scope}",
            ),
            scope,
            _("{channel} will no longer get the daily digest.", channel=channel),
        )
    )


def _parse_scope(svc: Services, session: Session, scope: str) -> Request:
    return parse_command(session, f"digest {scope}".strip(), as_of=None, settings=svc.settings)


def _list(svc: Services, args: list[str], said: Said) -> Message:
    channel_id = parse_channel(args[0]).id if args else None
    with svc.sessions() as session:
        subs = subscriptions(session, channel_id=channel_id)
        lines = []
        for s in subs:
            if s.kind == OWNERS:
                lines.append(_owners_line(session, s, said))
                continue
            last = last_delivery(session, s.id)
            parts = [
                said(
                    _(
                        "{channel} at {time} {tz}",
                        channel=mention(s.channel_id),
                        time=s.local_time,
                        tz=s.tz,
                    )
                )
            ]
            if s.scope:
                parts.append(f"*{esc(s.scope)}*")
            parts.append(f"lang:{s.lang or svc.settings.language}")
            parts.append(said(_("running") if s.active else _("paused")))
            if last is not None:
                status = STATUSES.get(last.status, Msg(last.status))
                parts.append(said(_("last: {day} {status}", day=last.day, status=status)))
            if s.last_error:
                parts.append(said(_("error: {error}", error=code(esc(s.last_error)))))
            lines.append("• " + " · ".join(parts))
    if not lines:
        return render_markup(
            said(
                _(
                    "No digest subscriptions yet. Example: {example}",
                    example=svc.settings.command_name
                    + " digest subscribe #sales 08:00 Europe/Berlin printers in EMEA",
                )
            )
        )
    heading = said(_("Daily digest subscriptions"))
    return render_markup(f"*{heading}*\n" + "\n".join(lines))


def _owners_line(session: Session, s: DigestSubscription, said: Said) -> str:
    """An owners' digest: when, what, its last day's counts and who it could not reach."""
    parts = [
        said(
            _(
                "Owners' digests, each in a direct message, at {time} {tz}",
                time=s.local_time,
                tz=s.tz,
            )
        )
    ]
    if s.scope:
        parts.append(f"*{esc(s.scope)}*")
    parts.append(f"lang:{s.lang}" if s.lang else said(_("each owner's own language")))
    parts.append(said(_("running") if s.active else _("paused")))
    last = last_delivery(session, s.id)
    if last is not None:
        rows = owner_deliveries(session, s.id, last.day)
        count = Counter(r.status for r in rows)
        said_tally = said(
            _(
                "{day}: {sent} sent, {unreachable} unreachable, {failed} failed",
                day=last.day,
                sent=count[POSTED],
                unreachable=count[UNREACHABLE],
                failed=count[FAILED],
            )
        )
        if count[CLAIMED]:
            said_tally += ", " + said(_n("{n} being sent", "{n} being sent", count[CLAIMED]))
        parts.append(said_tally)
        missed = sorted(r.owner for r in rows if r.status in (UNREACHABLE, FAILED))
        if missed:
            shown = ", ".join(
                f"<@{o}>" if is_user_id(o) else esc(o) for o in missed[:LISTED_OWNERS]
            )
            more = len(missed) - LISTED_OWNERS
            if more > 0:
                shown = said(
                    _n("{owners} and {n} more", "{owners} and {n} more", more, owners=shown)
                )
            parts.append(said(_("not reached: {owners}", owners=shown)))
    if s.last_error:
        parts.append(said(_("error: {error}", error=code(esc(s.last_error)))))
    return "• " + " · ".join(parts)


def _now(svc: Services, client: WebClient, args: list[str], said: Said) -> Message:
    """A one-off post in a channel now (not counted as that channel's daily delivery)."""
    channel = parse_channel(args[0])
    if not svc.guard.rules.public_allowed(channel.id):
        return _not_allowed(channel.id, said)
    scope = " ".join(args[1:])
    today: date = datetime.now(ZoneInfo(svc.settings.tz)).date()
    speak = said.speak
    with svc.reader() as session:
        digest = build_digest(session, scope, as_of=today, settings=svc.settings)
        chart = digest_chart(session, digest, speak)
    try:
        post_digest(
            client,
            channel.id,
            digest_message(digest, speak),
            chart,
            title=chart_title(digest, speak),
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        problem = _(
            "I couldn't post in {channel}: Slack said {error}.",
            channel=mention(channel.id),
            error=code(error),
        )
        text = said(problem)
        if error in CHANNEL_GONE:
            text += " " + said(_("Invite me first (/invite @basebot)."))
        return render_markup(f":warning: {text}")
    day = date.fromisoformat(digest.day)
    return render_markup(
        said(_("Posted the digest for {day} in {channel}.", day=day, channel=mention(channel.id)))
    )


__all__ = ["SUBCOMMANDS", "handle", "is_digest_subcommand"]
