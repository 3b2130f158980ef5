"""`/base alert <#channel|me> <rule> …`, `alert list`, `alert unsubscribe <#channel|me> [rule]`:
the subscriptions the scheduler posts new upsell candidates for (SPEC §10)."""

from __future__ import annotations

import shlex
from datetime import UTC, date, datetime
from typing import Any

from babel import Locale
from slack_bolt import Respond
from slack_sdk import WebClient

from bot.alerts import (
    ALERT_EXAMPLE,
    alert_command,
    canonical_scope,
    is_destination,
    parse_alert,
    where,
)
from bot.ask import parse_command
from bot.digest import DigestUsageError
from bot.i18n import Speaker
from bot.listeners.guard import Asked, write_audit
from bot.listeners.replies import Asker, refused, send
from bot.listeners.services import Services
from bot.parsing import ParseError
from bot.render.blocks import Message, esc, render_error, render_markup
from queries.alerts import STATUSES, alerts
from queries.db import transaction
from queries.request import UPSELL_RULES
from queries.subscriptions import ALERT, subscribe, unsubscribe
from queries.upsell import RULES
from queries.view import Msg, _, _n, code, mention

VERB = "alert"
# Alerts show upsell candidates: whoever may ask `upsell` may subscribe to them.
GUARDED_AS = "upsell"


def is_alert_command(text: str) -> bool:
    words = text.split()
    return bool(words) and words[0].lower() == VERB


def handle(
    svc: Services,
    body: dict[str, Any],
    respond: Respond,
    client: WebClient,
    asker: Asker,
    speak: Speaker,
) -> None:
    """Carry out one alert command and reply privately to the asker."""
    text = str(body.get("text") or "")
    asked = Asked(
        team_id=asker.team_id, user_id=asker.user_id, channel_id=asker.channel_id, text=text
    )
    if refused(svc, asked, respond, client, asker, speak, verb=GUARDED_AS, audited_as=VERB):
        return
    outcome = "answered"
    try:
        words = shlex.split(text)[1:]
        sub = words[0].lower() if words else ""
        if sub == "list":
            reply = _list(svc, asker, speak)
        elif sub == "unsubscribe":
            reply = _unsubscribe(svc, words[1:], asker, speak)
        else:
            reply = _subscribe(svc, body, client, words, asker, speak)
    except DigestUsageError as exc:
        outcome, reply = "bad_input", render_markup(f":warning: {esc(speak(exc.problem))}")
    except ParseError as exc:
        outcome = "bad_input"
        reply = render_error(exc, command=svc.settings.command_name, speak=speak)
    except ValueError:
        unclosed = speak(_("A quote is not closed."))
        outcome, reply = "bad_input", render_markup(f":warning: {unclosed}")
    write_audit(svc.sessions, asked, outcome=outcome, verb=VERB)
    send(respond, client, asker, reply)


def _destination(channel_id: str, asker: Asker) -> Msg | str:
    return _("your direct messages") if channel_id == asker.user_id else mention(channel_id)


def _subscribe(
    svc: Services,
    body: dict[str, Any],
    client: WebClient,
    words: list[str],
    asker: Asker,
    speak: Speaker,
) -> Message:
    wanted = parse_alert(words, default_tz=svc.settings.tz)
    if wanted.channel is None and not asker.user_id:
        raise DigestUsageError(_("Name the channel, e.g. {example}", example=ALERT_EXAMPLE))
    channel_id = wanted.channel.id if wanted.channel else asker.user_id
    if wanted.channel is not None and not svc.guard.rules.public_allowed(channel_id):
        said = _(
            "Alerts may not be posted in {channel}: the access rule {rule} does not include it.",
            channel=mention(channel_id),
            rule=code("public_channels"),
        )
        return render_markup(f":no_entry: {speak(said)}")
    me = svc.me(client, asker.user_id)
    lang = wanted.lang or speak.lang
    with transaction(svc.sessions) as session:
        # The alert's question must parse now, as it will every day (raises ParseError).
        command = alert_command(wanted.scope, wanted.rule, None)
        request = parse_command(session, command, as_of=None, settings=svc.settings, me=me)
        scope = canonical_scope(request)
        found, _created = subscribe(
            session,
            kind=ALERT,
            rule=wanted.rule,
            channel_id=channel_id,
            local_time=wanted.local_time,
            tz=wanted.tz,
            scope=scope,
            now=datetime.now(UTC),
            channel_name=wanted.channel.name if wanted.channel else None,
            created_by=asker.user_id or None,
            team_id=str(body.get("team_id") or "") or None,
            lang=lang,
        )
    slice_ = " · *" + esc(scope) + "*" if scope else ""
    said = _(
        "{destination} will get the new {rule} candidates{scope} every day at {time} ({tz}), in"
        " {language}. The first post says how many there are now; then only new ones follow,"
        " and a day with none posts nothing.",
        destination=_destination(channel_id, asker),
        rule=RULES[wanted.rule],
        scope=slice_,
        time=found.local_time,
        tz=found.tz,
        language=Locale.parse(lang).get_display_name(speak.lang) or lang,
    )
    extra = ""
    if wanted.channel is not None:
        extra = " " + speak(_("Make sure I am in the channel (/invite @basebot)."))
    return render_markup(f":white_check_mark: {speak(said)}{extra}")


def _unsubscribe(svc: Services, words: list[str], asker: Asker, speak: Speaker) -> Message:
    example = "/base alert unsubscribe #sales service"
    if not words or not is_destination(words[0]):
        raise DigestUsageError(
            _("Say which alerts to stop: a channel or “me”. Example: {example}", example=example)
        )
    channel = where(words[0])
    channel_id = channel.id if channel else asker.user_id
    rule = words[1].lower() if len(words) > 1 else None
    if rule is not None and rule not in UPSELL_RULES:
        raise DigestUsageError(
            _(
                "An alert follows one upsell rule: {rules}. Example: {example}",
                rules=", ".join(UPSELL_RULES),
                example=example,
            )
        )
    with transaction(svc.sessions) as session:
        stopped = unsubscribe(session, channel_id, kind=ALERT, rule=rule)
    destination = _destination(channel_id, asker)
    if not stopped:
        return render_markup(
            speak(_("{destination} has no alerts to stop.", destination=destination))
        )
    return render_markup(
        speak(
            _n(
                "Stopped {n} alert for {destination}.",
                "Stopped {n} alerts for {destination}.",
                stopped,
                destination=destination,
            )
        )
    )


def _list(svc: Services, asker: Asker, speak: Speaker) -> Message:
    lines = []
    with svc.sessions() as session:
        found = alerts(session, seen_by=asker.user_id)
    for a in found:
        parts = [
            speak(_destination(a.channel, asker)),
            speak(RULES.get(a.rule, Msg(a.rule))),
            *([f"*{esc(a.scope)}*"] if a.scope else []),
            f"{a.local_time} {a.tz}",
            f"lang:{a.lang or svc.settings.language}",
            speak(_("running") if a.active else _("paused")),
        ]
        if a.last_post is not None:
            parts.append(speak(_("last post: {day}", day=date.fromisoformat(a.last_post))))
        if a.last_day is not None and a.last_status is not None and a.last_day != a.last_post:
            status = STATUSES.get(a.last_status, Msg(a.last_status))
            day = date.fromisoformat(a.last_day)
            parts.append(speak(_("last: {day} {status}", day=day, status=status)))
        if a.last_error:
            parts.append(speak(_("error: {error}", error=code(esc(a.last_error)))))
        lines.append("• " + " · ".join(parts))
    if not lines:
        return render_markup(speak(_("No alerts yet. Example: {example}", example=ALERT_EXAMPLE)))
    heading = speak(_("Alerts"))
    return render_markup(f"*{heading}*\n" + "\n".join(lines))


__all__ = ["handle", "is_alert_command"]
