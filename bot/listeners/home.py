"""The App Home: published when the rep opens the Home tab, on Refresh, and after a claim act
picked there. Acked at once; built and published in the background."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.home import build_home
from bot.listeners.replies import Asker, compute
from bot.listeners.services import Services, services
from bot.render.home import ACTION_HOME_CHOOSE, ACTION_HOME_REFRESH, home_view

log = logging.getLogger(__name__)
CHOOSE_ACTIONS = re.compile(rf"^{ACTION_HOME_CHOOSE}_\w+$")


def acknowledge(ack: Ack) -> None:
    ack()


def publish(svc: Services, client: WebClient, user: str) -> None:
    """Build the rep's Home and publish it; a failure is logged, the tab keeps its last view."""
    try:
        home = build_home(svc.reader, svc.sessions, svc.settings, svc.me(client, user))
        holders = {h.hold.user for h in home.claims} | {
            c.claim.user for c in home.candidates.candidates if c.claim
        }
        client.views_publish(user_id=user, view=home_view(home, svc.speaker(client, user, holders)))
    except Exception:
        log.exception("the App Home could not be published")


def home_opened(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    event = body.get("event") or {}
    if event.get("tab", "home") == "home" and event.get("user"):
        publish(services(context), client, str(event["user"]))


def refresh(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    user = str((body.get("user") or {}).get("id") or "")
    if user:
        publish(services(context), client, user)


def act_from_home(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A claim act picked on the Home: run as the command it names, then the Home again."""
    svc = services(context)
    asker = Asker.from_action(body)
    action = (body.get("actions") or [{}])[0]
    command = str((action.get("selected_option") or {}).get("value") or "")
    if command.split(" ", 1)[0] in ("claim", "unclaim"):
        try:
            compute(svc, command, as_of=None, asker=asker, me=svc.me(client, asker.user_id))
        except Exception:
            log.exception("a claim act from the App Home failed")
    publish(svc, client, asker.user_id)


def register(app: App) -> None:
    app.event("app_home_opened")(ack=acknowledge, lazy=[home_opened])
    app.action(ACTION_HOME_REFRESH)(ack=acknowledge, lazy=[refresh])
    app.action(CHOOSE_ACTIONS)(ack=acknowledge, lazy=[act_from_home])


__all__ = ["act_from_home", "home_opened", "publish", "refresh", "register"]
