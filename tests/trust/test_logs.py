"""The log of whole round trips holds no token, secret, email or response_url."""

from __future__ import annotations

import logging

import pytest

from tests.slack.driver import SECRET, TOKEN, Slack, buttons
from tests.trust.conftest import INERT_EMAIL, SUPPORT_AGENT


def test_no_secrets_contacts_or_response_urls_in_the_log(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    urls: list[str] = []
    with caplog.at_level(logging.DEBUG):
        sent = slack.command(f"customer {INERT_EMAIL}", user=SUPPORT_AGENT)
        urls.append(sent.response_url)
        reply = slack.standin.replies(sent.response_url)[0]
        sent = slack.command("upsell printers", user=SUPPORT_AGENT)
        urls.append(sent.response_url)
        listed = slack.standin.replies(sent.response_url)[0]
        clicked = slack.click(buttons(listed["blocks"])["basebot_share"], user=SUPPORT_AGENT)
        urls.append(clicked.response_url)
        slack.standin.replies(clicked.response_url)
        sent = slack.command("customer Acme", user="U0HIDDEN", expired=True)
        urls.append(sent.response_url)
        slack.standin.wait(lambda c: c.path == sent.response_url[len(slack.standin.url) :])
        body = slack.command_body(f"customer {INERT_EMAIL}", response_url=urls[0])
        assert slack.post(body, slack.headers(body, secret="wrong"))[0] == 401
        assert slack.post(body, {"X-Slack-Request-Timestamp": "soon"})[0] == 401
    assert "customer" in reply["blocks"][0]["text"]["text"].lower() or reply
    logged = "\n".join(
        [r.getMessage() for r in caplog.records] + [caplog.text]  # message and traceback
    )
    assert caplog.records, "the round trips logged nothing at all: the capture is broken"
    for needle in (
        TOKEN,
        SECRET,
        INERT_EMAIL,
        "legacy-verification-token",
        "/response/",
        "/expired/",
        *urls,
    ):
        assert needle not in logged, needle
