"""Slack's v0 signatures: anything but a fresh, valid one is 401 (never 500) and runs nothing."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from queries.registry import QUERIES
from queries.request import Request
from queries.results import Answer
from tests.slack.driver import SECRET, Slack
from tests.slack.standin import SlackStandIn

MARKER = "SECRET-MARKER-42"


@pytest.fixture()
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run of the installed query (the one these commands ask)."""
    seen: list[str] = []
    spec = QUERIES["installed"]

    def counted(session: Session, request: Request) -> Answer:
        seen.append(request.text)
        return spec.run(session, request)

    monkeypatch.setitem(QUERIES, "installed", replace(spec, run=counted))
    return seen


def _v1(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "X-Slack-Signature": headers["X-Slack-Signature"].replace("v0=", "v1=")}


def _old() -> str:
    return str(int(time.time()) - 5 * 60 - 5)


def _future() -> str:
    return str(int(time.time()) + 5 * 60 + 5)


Case = Callable[[Slack, str], tuple[str, dict[str, str]]]
CASES: dict[str, Case] = {
    "wrong secret": lambda s, b: (b, s.headers(b, secret="not-the-secret")),
    "changed body": lambda s, b: (b.replace("printers", "copiers"), s.headers(b)),
    "no headers": lambda s, b: (b, {}),
    "no timestamp": lambda s, b: (
        b,
        {"X-Slack-Signature": s.headers(b)["X-Slack-Signature"]},
    ),
    "no signature": lambda s, b: (
        b,
        {"X-Slack-Request-Timestamp": s.headers(b)["X-Slack-Request-Timestamp"]},
    ),
    "timestamp over 5 minutes old": lambda s, b: (b, s.headers(b, timestamp=_old())),
    "timestamp 5 minutes ahead": lambda s, b: (b, s.headers(b, timestamp=_future())),
    "non-numeric timestamp": lambda s, b: (b, s.headers(b, timestamp="yesterday")),
    "float timestamp": lambda s, b: (b, s.headers(b, timestamp=f"{time.time():.3f}")),
    "non-ASCII digits": lambda s, b: (b, s.headers(b, timestamp="١٧٠٠٠٠٠٠٠٠")),
    "huge timestamp": lambda s, b: (b, s.headers(b, timestamp="9" * 40)),
    "empty timestamp": lambda s, b: (
        b,
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": s.headers(b)["X-Slack-Signature"]},
    ),
    "v1 signature": lambda s, b: (
        b,
        {
            **s.headers(b),
            "X-Slack-Signature": s.headers(b)["X-Slack-Signature"].replace("v0=", "v1="),
        },
    ),
    "garbage signature": lambda s, b: (b, {**s.headers(b), "X-Slack-Signature": "v0=zz\u00e9"}),
}


def test_a_valid_signature_is_answered(slack: Slack, runs: list[str]) -> None:
    url = slack.standin.response_url()
    body = slack.command_body(f"installed printers {MARKER}", response_url=url)
    status, _, _ = slack.post(body, slack.headers(body))
    assert status == 200
    slack.standin.replies(url)
    assert len(runs) == 0  # the marker makes it a parse error: the reply says so
    body = slack.command_body("installed printers", response_url=url)
    assert slack.post(body, slack.headers(body))[0] == 200
    slack.standin.replies(url, count=2)
    assert runs == ["installed printers"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_signature_is_401_and_runs_nothing(
    slack: Slack,
    standin: SlackStandIn,
    runs: list[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    url = standin.response_url()
    body, headers = CASES[case](
        slack, slack.command_body(f"installed printers {MARKER}", response_url=url)
    )
    with caplog.at_level(logging.DEBUG):
        status, _, answer = slack.post(body, headers)
        assert status == 401, answer
        assert standin.wait(lambda c: c.path == url[len(standin.url) :], timeout=0.2) == []
    assert runs == []
    assert MARKER not in caplog.text  # Bolt would log the whole body; we log none of it


def test_unsigned_garbage_is_401_not_500(slack: Slack) -> None:
    for body in (b"payload=%7Bnot-json", b"{not json", b"\xff\xfe\x00", b""):
        assert slack.post(body, {})[0] == 401


def test_signed_but_unreadable_is_400_not_500(slack: Slack) -> None:
    for body in ("payload=%7Bnot-json", "{not json"):
        assert slack.post(body, slack.headers(body))[0] == 400
    raw = b"text=\xff\xfe"
    ts = str(int(time.time()))
    sig = (
        "v0="
        + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    )
    assert slack.post(raw, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})[0] == 400


def test_other_paths_and_methods(slack: Slack) -> None:
    def get(path: str) -> int:
        try:
            with urllib.request.urlopen(slack.app_url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert get("/healthz") == 200
    assert get("/slack/events") == 405
    assert get("/elsewhere") == 404


def test_an_oversized_body_is_refused(slack: Slack) -> None:
    body = "text=" + "x" * (1024 * 1024 + 1)
    assert slack.post(body, slack.headers(body))[0] == 413
