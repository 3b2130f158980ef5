"""Slack entry points, one module per kind; `register` wires them into a Bolt app."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, home
from bot.listeners.services import CONTEXT_KEY, Services, services


def register(app: App, *, command_name: str) -> None:
    commands.register(app, command_name=command_name)
    actions.register(app)
    home.register(app)


__all__ = ["CONTEXT_KEY", "Services", "register", "services"]
