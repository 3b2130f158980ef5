"""Buttons: paging, picking one of several customers, CSV, and sharing in the channel.

Each button carries a ButtonState (command text, as-of date, page): the command is re-parsed
and re-run, so a button can never do more than typing the command would.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.i18n import Speaker
from bot.listeners.replies import (
    Asker,
    compute,
    delete_original,
    incident_guard,
    send,
    upload_csv,
)
from bot.listeners.services import Services, services
from bot.parsing import ParseError
from bot.render.blocks import (
    ACTION_CHOOSE,
    ACTION_CSV,
    ACTION_SHARE,
    PAGE_ACTIONS,
    PICK_ACTIONS,
    ButtonState,
    render_answer,
    render_error,
    render_notice,
)
from queries.results import Answer
from queries.view import _, people


def acknowledge(ack: Ack) -> None:
    ack()


def show_page(
    body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    """Previous/Next, or a picked customer: the same message, redrawn in place."""
    svc = services(context)
    asker = Asker.from_action(body)
    speak = svc.speaker(client, asker.user_id)
    public = not (body.get("container") or {}).get("is_ephemeral", False)
    with incident_guard(respond, client, asker, "a button", speak):
        found = _reask(svc, body, respond, client, asker, speak, public=public)
        if found is None:
            return
        answer, state = found
        speak = svc.speaker(client, asker.user_id, people(answer.view()))
        message = render_answer(
            answer,
            speak=speak,
            page=state.page,
            public=public,
            contacts=svc.guard.may_see_contacts(asker.user_id, public=public),
        )
        send(respond, client, asker, message, public=public, replace_original=True)


def send_csv(
    body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    svc = services(context)
    asker = Asker.from_action(body)
    speak = svc.speaker(client, asker.user_id)
    with incident_guard(respond, client, asker, "the CSV button", speak):
        found = _reask(svc, body, respond, client, asker, speak, full=True)
        if found is None:
            return
        send(respond, client, asker, upload_csv(client, asker, found[0], speak, to_channel=False))


def share_in_channel(
    body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    """Post the answer publicly (the same page), then remove the private copy."""
    svc = services(context)
    asker = Asker.from_action(body)
    speak = svc.speaker(client, asker.user_id)
    with incident_guard(respond, client, asker, "the share button", speak):
        found = _reask(svc, body, respond, client, asker, speak, public=True)
        if found is None:
            return
        answer, state = found
        speak = svc.speaker(client, asker.user_id, people(answer.view()))
        message = render_answer(answer, speak=speak, page=state.page, shared_by=asker.user_id)
        send(respond, client, asker, message, public=True)
        delete_original(respond)


def act_from_menu(
    body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext
) -> None:
    """A claim act picked from the menu under a list: run it as the command it names, then
    redraw the page in place (who holds what); a refusal is said beside it."""
    svc = services(context)
    asker = Asker.from_action(body)
    speak = svc.speaker(client, asker.user_id)
    with incident_guard(respond, client, asker, "a claim menu", speak):
        action = (body.get("actions") or [{}])[0]
        command = str((action.get("selected_option") or {}).get("value") or "")
        try:
            state = ButtonState.decode(str(action.get("block_id") or ""))
        except ValueError:
            state = None
        if state is None or command.split(" ", 1)[0] not in ("claim", "unclaim"):
            notice = render_notice(_("That menu is out of date: ask again."), speak=speak)
            send(respond, client, asker, notice)
            return
        me = svc.me(client, asker.user_id)
        try:
            done = compute(svc, command, as_of=None, asker=asker, me=me)
            page = compute(
                svc, state.command, as_of=state.as_of, asker=asker, page=state.page, me=me
            )
        except ParseError as exc:
            send(respond, client, asker, render_error(exc, speak=speak))
            return
        speak = svc.speaker(client, asker.user_id, people(page.view(), done.view()))
        message = render_answer(page, speak=speak, page=state.page)
        send(respond, client, asker, message, replace_original=True)
        if done.to_json().get("outcome") != "done":
            send(respond, client, asker, render_answer(done, speak=speak))


def _reask(
    svc: Services,
    body: dict[str, Any],
    respond: Respond,
    client: WebClient,
    asker: Asker,
    speak: Speaker,
    *,
    public: bool | None = None,
    full: bool = False,
) -> tuple[Answer, ButtonState] | None:
    actions = body.get("actions") or [{}]
    try:
        state = ButtonState.decode(str(actions[0].get("value") or ""))
    except ValueError:
        notice = render_notice(_("That button is out of date: ask again."), speak=speak)
        send(respond, client, asker, notice)
        return None
    page = None if full else state.page
    try:
        answer = compute(
            svc,
            state.command,
            as_of=state.as_of,
            asker=asker,
            public=public,
            page=page,
            me=svc.me(client, asker.user_id),
        )
        return answer, state
    except ParseError as exc:
        error = render_error(exc, command=svc.settings.command_name, speak=speak)
        send(respond, client, asker, error)
        return None


def register(app: App) -> None:
    app.action(PAGE_ACTIONS)(ack=acknowledge, lazy=[show_page])
    app.action(PICK_ACTIONS)(ack=acknowledge, lazy=[show_page])
    app.action(ACTION_CSV)(ack=acknowledge, lazy=[send_csv])
    app.action(ACTION_SHARE)(ack=acknowledge, lazy=[share_in_channel])
    app.action(ACTION_CHOOSE)(ack=acknowledge, lazy=[act_from_menu])


__all__ = [
    "acknowledge",
    "act_from_menu",
    "register",
    "send_csv",
    "share_in_channel",
    "show_page",
]
