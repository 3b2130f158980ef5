"""How the app is run: `basebot serve` and `basebot socket`, SLACK_API_URL, Procfile, manifest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import BoltRequest
from sqlalchemy.orm import Session, sessionmaker

from bot.__main__ import main
from bot.app import build_app, web_client
from bot.serve import socket_handler
from bot.settings import Settings
from tests.committed import sqlite_file
from tests.queries.world import build_world
from tests.slack.driver import AS_OF, SECRET, TOKEN, Slack
from tests.slack.standin import SlackStandIn

ROOT = Path(__file__).resolve().parents[2]


def test_slack_api_url_is_every_clients_base_url(
    settings: Settings, slack_sessions: sessionmaker[Session], standin: SlackStandIn
) -> None:
    assert web_client(settings).base_url == standin.api_url
    assert (
        web_client(replace(settings, slack_api_url=standin.url + "/api")).base_url
        == standin.api_url
    )
    app = build_app(settings, slack_sessions)
    assert app.client.base_url == standin.api_url
    assert standin.wait(lambda c: c.method == "auth.test")
    handler = socket_handler(replace(settings, slack_app_token="xapp-test"), slack_sessions)
    try:
        assert handler.client.web_client.base_url == standin.api_url
        assert handler.client.web_client.token == TOKEN
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def socket_body(text: str, response_url: str, *, command: str = "/base") -> dict[str, Any]:
    return {
        "command": command,
        "text": text,
        "user_id": "U0SOCKET",
        "channel_id": "C0GENERAL",
        "team_id": "T0001",
        "api_app_id": "A0BASEBOT",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def test_socket_mode_requests_skip_signatures_and_are_answered(
    settings: Settings, slack_sessions: sessionmaker[Session], standin: SlackStandIn
) -> None:
    handler = socket_handler(replace(settings, slack_app_token="xapp-test"), slack_sessions)
    try:
        url = standin.response_url()
        body = socket_body(f"installed printers as of {AS_OF}", url)
        response = handler.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        assert response.status == 200
        [answer] = standin.replies(url)
        assert (
            answer["blocks"][0]["text"]["text"] == "Installed base · printers · as of Jun 30, 2026"
        )
        unsigned = handler.app.dispatch(BoltRequest(body="command=%2Fbase&text=help", mode="http"))
        assert unsigned.status == 401
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def test_the_command_name_is_configurable(
    settings: Settings, slack_sessions: sessionmaker[Session], standin: SlackStandIn
) -> None:
    app = build_app(replace(settings, command_name="/inventory"), slack_sessions)
    url = standin.response_url()
    body = socket_body("help", url, command="/inventory")
    assert app.dispatch(BoltRequest(body=body, mode="socket_mode")).status == 200
    [answer] = standin.replies(url)
    assert answer["blocks"][0]["text"]["text"] == "Help · /inventory commands"
    assert "`/inventory installed printers`" in json.dumps(answer["blocks"], ensure_ascii=False)
    other = standin.response_url()
    body = socket_body("help", other, command="/base")
    assert app.dispatch(BoltRequest(body=body, mode="socket_mode")).status == 404
    assert standin.wait(lambda c: c.path == other[len(standin.url) :], timeout=0.3) == []


@pytest.fixture()
def world_url(tmp_path: Path) -> Iterator[str]:
    yield sqlite_file(tmp_path / "world.db", build_world)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_basebot_serve_answers_over_http(
    world_url: str, standin: SlackStandIn, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": world_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": standin.api_url,
        "PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "basebot serve did not start"
                time.sleep(0.1)
        sent = Slack(base, standin).command(f"installed printers as of {AS_OF}")
        assert sent.status == 200
        [answer] = standin.replies(sent.response_url)
        assert answer["blocks"][1]["fields"][0]["text"] == "*3*\ncustomers"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


@pytest.mark.parametrize(
    ("argv", "unset", "says"),
    [
        (["serve"], "SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET is not set"),
        (["serve"], "SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN is not set"),
        (["socket"], "SLACK_APP_TOKEN", "SLACK_APP_TOKEN is not set"),
    ],
)
def test_missing_credentials_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    world_url: str,
    standin: SlackStandIn,
    argv: list[str],
    unset: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATABASE_URL": world_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": standin.api_url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(unset)
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_procfile_serves_the_web_app_and_migrates_on_release() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert "web: basebot serve" in lines
    assert "release: basebot init-db" in lines


def test_manifest_declares_the_command_interactivity_and_least_scopes() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/base"
    assert command["url"].endswith("/slack/events")
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == command["url"]
    assert manifest["oauth_config"]["scopes"]["bot"] == [
        "commands",
        "chat:write",
        "files:write",
        "im:write",
        "users:read",
        "users:read.email",
    ]
    assert "user" not in manifest["oauth_config"]["scopes"]
    assert 174 <= len(manifest["display_information"]["long_description"]) <= 4000
