"""`/base digest subscribe|unsubscribe|list|now <#channel>`: the daily digest's subscriptions.

`digest` alone (and `digest now` without a channel) is an ordinary question, answered by the
slash-command listener; these subcommands change what the scheduler posts.
"""

from __future__ import annotations

import logging
import shlex
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.ask import parse_command
from bot.digest import (
    CHANNEL_GONE,
    DigestUsageError,
    build_digest,
    digest_chart,
    digest_message,
    parse_channel,
    parse_subscription,
    post_digest,
    scope_of,
)
from bot.listeners.guard import Asked, write_audit
from bot.listeners.replies import Asker, send
from bot.listeners.services import Services
from bot.parsing import ParseError
from bot.render.blocks import Message, render_error
from queries.db import transaction
from queries.request import Request
from queries.subscriptions import last_delivery, subscribe, subscriptions, unsubscribe

log = logging.getLogger(__name__)

SUBCOMMANDS = ("subscribe", "unsubscribe", "list", "now")


def is_digest_subcommand(text: str) -> bool:
    """`digest subscribe …`, `digest unsubscribe …`, `digest list`, `digest now <#channel>`."""
    words = text.split()
    if len(words) < 2 or words[0].lower() != "digest":
        return False
    sub = words[1].lower()
    if sub == "now":
        return len(words) > 2 and words[2].startswith(("<#", "#"))
    return sub in SUBCOMMANDS


def _note(text: str) -> Message:
    # Channel mentions stay live here (render_notice escapes them); only our own text goes in.
    return Message(
        text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    )


def handle(
    svc: Services, body: dict[str, Any], respond: Respond, client: WebClient, asker: Asker
) -> None:
    """Carry out one digest subcommand and reply privately to the asker."""
    text = str(body.get("text") or "")
    asked = Asked(
        team_id=asker.team_id, user_id=asker.user_id, channel_id=asker.channel_id, text=text
    )
    # The access rules know verbs, not subcommands: `digest` covers them all.
    refusal = svc.guard.check(asked, verb="digest", public=False)
    if refusal is not None:
        write_audit(svc.sessions, asked, outcome="refused", verb="digest", rule=refusal.rule)
        send(respond, client, asker, _note(f":no_entry: {_esc(refusal.message)}"))
        return
    outcome = "answered"
    try:
        words = shlex.split(text)[1:]
        sub, args = words[0].lower(), words[1:]
        if sub == "subscribe":
            reply = _subscribe(svc, body, args, asker)
        elif sub == "unsubscribe":
            reply = _unsubscribe(svc, args, asker)
        elif sub == "list":
            reply = _list(svc, args)
        else:
            reply = _now(svc, client, args)
    except DigestUsageError as exc:
        outcome, reply = "bad_input", _note(f":warning: {_esc(str(exc))}")
    except ParseError as exc:
        outcome, reply = "bad_input", render_error(exc, command=svc.settings.command_name)
    except ValueError:
        outcome, reply = "bad_input", _note(":warning: A quote is not closed.")
    write_audit(svc.sessions, asked, outcome=outcome, verb="digest")
    send(respond, client, asker, reply)


def _not_allowed(channel_id: str) -> Message:
    return _note(
        f":no_entry: Digests may not be posted in <#{channel_id}>: the access rule "
        "`public_channels` does not include it."
    )


def _here(asker: Asker) -> str:
    if not asker.channel_id:
        raise DigestUsageError("Name the channel, e.g. /base digest subscribe #sales 08:00")
    return asker.channel_id


def _subscribe(svc: Services, body: dict[str, Any], args: list[str], asker: Asker) -> Message:
    wanted = parse_subscription(args, default_tz=svc.settings.tz)
    channel_id = wanted.channel.id if wanted.channel else _here(asker)
    if not svc.guard.rules.public_allowed(channel_id):
        return _not_allowed(channel_id)
    now = datetime.now(UTC)
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
        )
    what = _for(scope)
    verb = "will get" if created else "now gets"
    return _note(
        f":white_check_mark: <#{channel_id}> {verb} the daily digest{what} at "
        f"{found.local_time} ({found.tz}). Make sure I am in the channel (/invite @basebot)."
    )


def _unsubscribe(svc: Services, args: list[str], asker: Asker) -> Message:
    channel_id = _here(asker)
    scope: str | None = None
    if args and (args[0].startswith(("<#", "#")) or args[0][:1] in ("C", "G")):
        channel_id = parse_channel(args.pop(0)).id
    if args:
        scope = " ".join(args)
    with transaction(svc.sessions) as session:
        if scope is not None:
            request = _parse_scope(svc, session, scope)
            scope = scope_of(request)
        stopped = unsubscribe(session, channel_id, scope)
    if not stopped:
        return _note(f"<#{channel_id}> has no digest subscription{_for(scope)}.")
    return _note(f"<#{channel_id}> will no longer get the daily digest{_for(scope)}.")


def _for(scope: str | None) -> str:
    return f" for *{_esc(scope)}*" if scope else ""


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _parse_scope(svc: Services, session: Session, scope: str) -> Request:
    return parse_command(session, f"digest {scope}".strip(), as_of=None, settings=svc.settings)


def _list(svc: Services, args: list[str]) -> Message:
    channel_id = parse_channel(args[0]).id if args else None
    with svc.sessions() as session:
        subs = subscriptions(session, channel_id=channel_id)
        lines = []
        for s in subs:
            last = last_delivery(session, s.id)
            state = "active" if s.active else "paused"
            line = f"• <#{s.channel_id}> at {s.local_time} {s.tz}{_for(s.scope)} · {state}"
            if last is not None:
                line += f" · last: {last.day.isoformat()} {last.status}"
            if s.last_error:
                line += f" · error: `{_esc(s.last_error)}`"
            lines.append(line)
    if not lines:
        return _note(
            f"No digest subscriptions yet. Example: {svc.settings.command_name} digest "
            "subscribe #sales 08:00 Europe/Berlin printers in EMEA"
        )
    return _note("*Daily digest subscriptions*\n" + "\n".join(lines))


def _now(svc: Services, client: WebClient, args: list[str]) -> Message:
    """A one-off post in a channel now (not counted as that channel's daily delivery)."""
    channel = parse_channel(args[0])
    if not svc.guard.rules.public_allowed(channel.id):
        return _not_allowed(channel.id)
    scope = " ".join(args[1:])
    today: date = datetime.now(ZoneInfo(svc.settings.tz)).date()
    with svc.reader() as session:
        digest = build_digest(session, scope, as_of=today, settings=svc.settings)
        chart = digest_chart(session, digest)
    try:
        post_digest(
            client,
            channel.id,
            digest_message(digest, currency=svc.settings.currency),
            chart,
            title=f"Installed base {digest.day}",
        )
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        hint = " Invite me first (/invite @basebot)." if error in CHANNEL_GONE else ""
        return _note(f":warning: I couldn't post in <#{channel.id}>: Slack said `{error}`.{hint}")
    return _note(f"Posted the digest for {digest.day} in <#{channel.id}>.")


__all__ = ["SUBCOMMANDS", "handle", "is_digest_subcommand"]
