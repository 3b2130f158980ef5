"""The slash command: ack at once, then answer in the background (a lazy listener)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.listeners import alerts, digest
from bot.listeners.replies import Asker, compute, incident_guard, send, upload_csv
from bot.listeners.services import services
from bot.parsing import ParseError
from bot.render.blocks import render_answer, render_error
from queries.view import people


def acknowledge(ack: Ack) -> None:
    ack()


def answer_command(
    body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    svc = services(context)
    asker = Asker.from_command(body)
    speak = svc.speaker(client, asker.user_id)
    with incident_guard(respond, client, asker, "a slash command", speak):
        if digest.is_digest_subcommand(str(body.get("text") or "")):
            digest.handle(svc, body, respond, client, asker, speak)
            return
        if alerts.is_alert_command(str(body.get("text") or "")):
            alerts.handle(svc, body, respond, client, asker, speak)
            return
        try:
            me = svc.me(client, asker.user_id)
            answer = compute(svc, str(body.get("text") or ""), as_of=None, asker=asker, me=me)
        except ParseError as exc:
            error = render_error(exc, command=svc.settings.command_name, speak=speak)
            send(respond, client, asker, error)
            return
        public = answer.request.public
        speak = svc.speaker(client, asker.user_id, people(answer.view()))
        contacts = svc.guard.may_see_contacts(asker.user_id, public=public)
        message = render_answer(answer, speak=speak, public=public, contacts=contacts)
        send(respond, client, asker, message, public=public)
        if answer.request.csv:
            notice = upload_csv(client, asker, answer, speak, to_channel=public)
            send(respond, client, asker, notice)


def register(app: App, *, command_name: str) -> None:
    app.command(command_name)(ack=acknowledge, lazy=[answer_command])


__all__ = ["acknowledge", "answer_command", "register"]
