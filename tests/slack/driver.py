"""Playing Slack in tests: signed requests to the app, and checks on what the app sent back."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier
from waitress.server import TcpWSGIServer

from bot.render.blocks import MAX_BLOCKS, MAX_MESSAGE_CHARS
from bot.serve import EVENTS_PATH, create_server
from tests.slack.standin import SlackStandIn

if TYPE_CHECKING:
    from bot.serve import SlackWSGI

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
AS_OF = "2026-06-30"


@dataclass(frozen=True)
class Sent:
    status: int
    seconds: float
    body: bytes
    response_url: str


class Slack:
    """Plays Slack: signs and posts slash commands and button clicks to the app."""

    def __init__(self, app_url: str, standin: SlackStandIn) -> None:
        self.app_url = app_url
        self.standin = standin

    def headers(
        self, body: str, *, timestamp: str | None = None, secret: str = SECRET
    ) -> dict[str, str]:
        ts = timestamp or str(int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    def post(self, body: bytes | str, headers: dict[str, str]) -> tuple[int, float, bytes]:
        """POST to /slack/events; header values go out as UTF-8 bytes, whatever they hold."""
        data = body.encode() if isinstance(body, str) else body
        host, port = self.app_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        started = time.monotonic()
        try:
            connection.putrequest("POST", EVENTS_PATH)
            every = {"Content-Type": "application/x-www-form-urlencoded", **headers}
            for name, value in every.items():
                connection.putheader(name, value.encode("utf-8"))
            connection.putheader("Content-Length", str(len(data)))
            connection.endheaders(data)
            response = connection.getresponse()
            answer = response.read()
            return response.status, time.monotonic() - started, answer
        finally:
            connection.close()

    def command_body(
        self,
        text_: str,
        *,
        response_url: str,
        user: str = "U0ASKER",
        channel: str = "C0GENERAL",
        command: str = "/base",
    ) -> str:
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": "T0001",
                "team_domain": "basebot-test",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user,
                "user_name": "asker",
                "command": command,
                "text": text_,
                "api_app_id": "A0BASEBOT",
                "is_enterprise_install": "false",
                "response_url": response_url,
                "trigger_id": "1.2.3",
            }
        )

    def command(
        self,
        text_: str,
        *,
        user: str = "U0ASKER",
        channel: str = "C0GENERAL",
        expired: bool = False,
    ) -> Sent:
        url = self.standin.response_url(expired=expired)
        body = self.command_body(text_, response_url=url, user=user, channel=channel)
        status, seconds, answer = self.post(body, self.headers(body))
        return Sent(status, seconds, answer, url)

    def event(self, event: dict[str, Any]) -> Sent:
        """Deliver an Events API event (e.g. app_home_opened), signed, as JSON."""
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": "T0001",
                "api_app_id": "A0BASEBOT",
                "type": "event_callback",
                "event_id": f"Ev{time.time_ns()}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        headers = {**self.headers(body), "Content-Type": "application/json"}
        status, seconds, answer = self.post(body, headers)
        return Sent(status, seconds, answer, "")

    def choose(self, block: dict[str, Any], value: str, *, user: str = "U0ASKER") -> Sent:
        """Pick the option with `value` from the menu of an actions block, as it was sent."""
        [menu] = block["elements"]
        found = [o for o in menu["options"] if o["value"] == value]
        assert len(found) == 1, (value, [o["value"] for o in menu["options"]])
        [option] = found
        action = {
            "type": "static_select",
            "action_id": menu["action_id"],
            "block_id": block["block_id"],
            "selected_option": option,
            "placeholder": menu["placeholder"],
            "action_ts": "1700000001.000000",
        }
        return self.click(action, user=user)

    def click(
        self,
        button: dict[str, Any],
        *,
        user: str = "U0ASKER",
        channel: str = "C0GENERAL",
        ephemeral: bool = True,
    ) -> Sent:
        """Click a button exactly as it was sent (its action_id and value); a dict with a
        `type` is sent as the action itself (a menu's pick)."""
        url = self.standin.response_url()
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "asker", "team_id": "T0001"},
            "api_app_id": "A0BASEBOT",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": "1700000000.000300",
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": "1.2.4",
            "team": {"id": "T0001", "domain": "basebot-test"},
            "channel": {"id": channel, "name": "general"},
            "response_url": url,
            "actions": [
                button
                if "type" in button and button["type"] != "button"
                else {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": button.get("block_id", "b"),
                    "text": button["text"],
                    "value": button["value"],
                    "action_ts": "1700000001.000000",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        status, seconds, answer = self.post(body, self.headers(body))
        return Sent(status, seconds, answer, url)


def check_blocks(blocks: list[dict[str, Any]]) -> None:
    """What Slack would refuse: every block parsed and validated by slack_sdk, plus the table
    block's rules (slack_sdk checks only that it has rows) and the message-level limits."""
    assert 0 < len(blocks) <= MAX_BLOCKS
    total = 0
    for data in blocks:
        block = Block.parse(data)
        assert block is not None, data
        block.validate_json()
        assert block.to_dict() == data
        if data["type"] == "table":
            assert 0 < len(data["rows"]) <= 100
            for row in data["rows"]:
                assert 0 < len(row) <= 20
                assert all(c["type"] == "raw_text" and c["text"] for c in row)
        total += _text_length(data)
    assert total <= MAX_MESSAGE_CHARS


def _text_length(item: Any) -> int:
    if isinstance(item, dict):
        return sum(
            len(v) if k == "text" and isinstance(v, str) else _text_length(v)
            for k, v in item.items()
        )
    if isinstance(item, list):
        return sum(_text_length(v) for v in item)
    return 0


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The message's buttons by action_id."""
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def answer_to(slack: Slack, text: str, user: str) -> dict[str, Any]:
    """The one private reply to a command of `user`, its blocks checked as Slack would."""
    sent = slack.command(text, user=user)
    assert (sent.status, sent.body) == (200, b"")
    [answer] = slack.standin.replies(sent.response_url)
    check_blocks(answer["blocks"])
    return answer


def shown(message: dict[str, Any]) -> str:
    """Every piece of text a message shows (blocks and fallback), for `in` checks."""
    parts = [str(message.get("text", ""))]

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for k, v in item.items():
                if k == "text" and isinstance(v, str):
                    parts.append(v)
                else:
                    walk(v)
        elif isinstance(item, list):
            for v in item:
                walk(v)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


def mrkdwn(message: dict[str, Any]) -> str:
    """The text Slack parses for mentions and links: mrkdwn objects and the fallback text."""
    parts = [str(message.get("text", ""))]

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if item.get("type") == "mrkdwn":
                parts.append(str(item.get("text", "")))
            for v in item.values():
                walk(v)
        elif isinstance(item, list):
            for v in item:
                walk(v)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


@contextmanager
def serving(app: SlackWSGI) -> Iterator[str]:
    """The app on the production server (waitress) at 127.0.0.1 on a free port: its base URL."""
    server = create_server(app, host="127.0.0.1", port=0)
    assert isinstance(server, TcpWSGIServer)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        # Closed from the server loop's own thread: closing under its select() would break it.
        trigger: Any = server.trigger
        trigger.pull_trigger(server.close)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
