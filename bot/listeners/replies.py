"""The path every listener shares: parse, query, render, reply; and what to do when it fails."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import Speaker
from bot.listeners.guard import (
    Asked,
    Incident,
    Refused,
    answer_guarded,
    new_incident,
    write_audit,
)
from bot.listeners.services import Services
from bot.render.blocks import (
    PAGE_ROWS,
    Message,
    answer_table,
    csv_file,
    esc,
    render_apology,
    render_markup,
    render_notice,
)
from bot.render.text import heading as view_heading
from queries.db import unreachable
from queries.request import Me
from queries.results import Answer
from queries.view import _, _n

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Asker:
    """Who asked, and where."""

    user_id: str
    channel_id: str | None
    team_id: str | None = None

    @classmethod
    def from_command(cls, body: Mapping[str, Any]) -> Asker:
        return cls(
            user_id=str(body.get("user_id") or ""),
            channel_id=body.get("channel_id"),
            team_id=body.get("team_id"),
        )

    @classmethod
    def from_action(cls, body: Mapping[str, Any]) -> Asker:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        return cls(
            user_id=str((body.get("user") or {}).get("id") or ""),
            channel_id=channel,
            team_id=(body.get("team") or {}).get("id"),
        )


def compute(
    svc: Services,
    text: str,
    *,
    as_of: date | None,
    asker: Asker | None = None,
    public: bool | None = None,
    page: int | None = 0,
    me: Me | None = None,
) -> Answer:
    """Check the access rules, parse, answer and audit, in sessions of their own.

    Raises ParseError for a bad command and Refused when an access rule refuses it; `public`
    overrides the command's own word (the share button posts publicly whatever was typed).
    Long lists are fetched up to the end of message page `page`; None (a CSV): all of them.
    """
    who = asker or Asker(user_id="", channel_id=None)
    return answer_guarded(
        sessions=svc.sessions,
        reads=svc.reader,
        settings=svc.settings,
        guard=svc.guard,
        asked=Asked(
            team_id=who.team_id,
            user_id=who.user_id,
            channel_id=who.channel_id,
            text=text,
            me=me,
        ),
        as_of=as_of,
        public=public,
        rows=_rows,
        listing=None if page is None else (page + 1) * PAGE_ROWS,
    )


def _rows(answer: Answer) -> int | None:
    table = answer_table(answer)
    return None if table is None else len(table.rows)


def send(
    respond: Respond,
    client: WebClient,
    asker: Asker,
    message: Message,
    *,
    public: bool = False,
    replace_original: bool = False,
) -> None:
    """Reply through response_url; when Slack refuses it (expired, used up), post instead."""
    try:
        response = respond(
            text=message.text,
            blocks=message.blocks,
            response_type="in_channel" if public else "ephemeral",
            replace_original=replace_original,
        )
        if response.status_code == 200:
            return
        # respond() does not raise on an expired response_url: only the status tells.
        log.warning("response_url refused the reply (HTTP %s)", response.status_code)
    except Exception:
        log.warning("response_url could not be reached", exc_info=True)
    _post(client, asker, message, public=public)


def _post(client: WebClient, asker: Asker, message: Message, *, public: bool) -> None:
    if not asker.channel_id:
        log.warning("no channel to post the reply in")
        return
    try:
        if public:
            client.chat_postMessage(
                channel=asker.channel_id, text=message.text, blocks=message.blocks
            )
        else:
            client.chat_postEphemeral(
                channel=asker.channel_id,
                user=asker.user_id,
                text=message.text,
                blocks=message.blocks,
            )
    except SlackApiError as exc:
        log.warning("Slack refused the reply: %s", exc.response.get("error"))
    except Exception:
        log.exception("the reply could not be posted")


def refused(
    svc: Services,
    asked: Asked,
    respond: Respond,
    client: WebClient,
    asker: Asker,
    speak: Speaker,
    *,
    verb: str,
    audited_as: str,
) -> bool:
    """Whether the access rules refuse `verb` to the asker: if so they are told why, and the
    refusal is audited under `audited_as`."""
    refusal = svc.guard.check(asked, verb=verb, public=False)
    if refusal is None:
        return False
    write_audit(svc.sessions, asked, outcome="refused", verb=audited_as, rule=refusal.rule)
    send(respond, client, asker, render_markup(f":no_entry: {esc(speak(refusal.message))}"))
    return True


def delete_original(respond: Respond) -> None:
    try:
        response = respond(delete_original=True)
        if response.status_code != 200:
            log.warning(
                "response_url refused to delete the original (HTTP %s)", response.status_code
            )
    except Exception:
        log.warning("response_url could not be reached", exc_info=True)


@contextmanager
def incident_guard(
    respond: Respond, client: WebClient, asker: Asker, what: str, speak: Speaker
) -> Iterator[None]:
    """Any failure becomes an apology with an incident id; the traceback goes to the log only.

    A refusal by an access rule becomes a private notice naming the rule.
    """
    try:
        yield
    except Refused as exc:
        send(respond, client, asker, render_notice(exc.refusal.message, speak=speak))
    except Exception as exc:
        incident = exc.incident if isinstance(exc, Incident) else new_incident()
        log.exception("incident %s: %s failed", incident, what)
        apology = render_apology(incident, unreachable=unreachable(exc), speak=speak)
        send(respond, client, asker, apology)


def upload_csv(
    client: WebClient, asker: Asker, answer: Answer, speak: Speaker, *, to_channel: bool
) -> Message:
    """The full result as a CSV file: in the channel when public, else in a DM with the asker."""
    name, content = csv_file(answer)
    rows = max(content.count("\n") - 1, 0)
    heading = view_heading(answer.view(), speak)
    try:
        if to_channel and asker.channel_id:
            channel = asker.channel_id
        else:
            channel = client.conversations_open(users=asker.user_id)["channel"]["id"]
        client.files_upload_v2(
            channel=channel,
            filename=name,
            title=name,
            content=content,
            initial_comment=speak(
                _n("{heading}: {n} row", "{heading}: {n} rows", rows, heading=heading)
            ),
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("Slack refused the CSV upload: %s", error)
        return render_notice(
            _(
                "I couldn't upload the CSV file: Slack said “{error}”. If the app is not in this"
                " channel, invite it, or ask without {word} to get the file in a direct message.",
                error=str(error),
                word="`public`",
            ),
            speak=speak,
        )
    if to_channel and asker.channel_id:
        done = _n(
            "The CSV file {name} ({n} row) is in this channel.",
            "The CSV file {name} ({n} rows) is in this channel.",
            rows,
            name=name,
        )
    else:
        done = _n(
            "The CSV file {name} ({n} row) is in your DM with basebot.",
            "The CSV file {name} ({n} rows) is in your DM with basebot.",
            rows,
            name=name,
        )
    return render_notice(done, speak=speak)


__all__ = [
    "Asker",
    "compute",
    "delete_original",
    "incident_guard",
    "new_incident",
    "send",
    "upload_csv",
]
