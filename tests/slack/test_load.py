"""50 slash commands at once, each with a query that really takes 2 s in the database."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.app import build_app
from bot.serve import SlackWSGI
from bot.settings import Settings
from queries.registry import QUERIES
from queries.request import Request
from queries.results import Answer
from tests.slack.driver import AS_OF, SECRET, Sent, Slack, serving
from tests.slack.standin import SlackStandIn

COMMANDS = 50
QUERY_SECONDS = 2.0
ACK_LIMIT = 3.0  # Slack's


def _sleep_in_the_database(session: Session, seconds: float) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return
    driver = session.connection().connection.driver_connection
    assert driver is not None
    driver.create_function("basebot_sleep", 1, time.sleep)
    session.execute(text("SELECT basebot_sleep(:s)"), {"s": seconds})


@pytest.fixture()
def slow_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = QUERIES["installed"]

    def slow(session: Session, request: Request) -> Answer:
        _sleep_in_the_database(session, QUERY_SECONDS)
        return spec.run(session, request)

    monkeypatch.setitem(QUERIES, "installed", replace(spec, run=slow))


def test_fifty_slow_commands_are_all_acked_in_time_and_answered_once(
    slack: Slack, slow_installed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    start = threading.Barrier(COMMANDS)

    def one(n: int) -> Sent:
        start.wait()
        return slack.command(f"installed printers as of {AS_OF}", user=f"U0LOAD{n:02d}")

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=COMMANDS) as pool:
        sent = list(pool.map(one, range(COMMANDS)))
    acks = sorted(s.seconds for s in sent)
    assert [s.status for s in sent] == [200] * COMMANDS
    assert acks[-1] < ACK_LIMIT, acks

    answers = [slack.standin.replies(s.response_url, timeout=40) for s in sent]
    done = time.monotonic() - began
    time.sleep(0.5)  # anything late would be a second delivery
    for s, first in zip(sent, answers, strict=True):
        [again] = [slack.standin.at(s.response_url)]
        assert len(again) == 1, s.response_url
        assert first[0]["blocks"][0]["text"]["text"].startswith("Installed base · printers")
    with capsys.disabled():
        print(
            f"\n[{COMMANDS} commands, {QUERY_SECONDS:.0f} s query] ack seconds: "
            f"min {acks[0]:.3f} median {statistics.median(acks):.3f} max {acks[-1]:.3f}; "
            f"all {COMMANDS} answers delivered once after {done:.1f} s"
        )


def test_acks_never_wait_for_a_busy_answer_pool(
    settings: Settings,
    slack_sessions: sessionmaker[Session],
    standin: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One answer thread, four 1-second queries: the answers queue, the acks do not."""
    spec = QUERIES["installed"]

    def slow(session: Session, request: Request) -> Answer:
        _sleep_in_the_database(session, 1.0)
        return spec.run(session, request)

    monkeypatch.setitem(QUERIES, "installed", replace(spec, run=slow))
    app = SlackWSGI(build_app(settings, slack_sessions, workers=1), signing_secret=SECRET)
    with serving(app) as url:
        slack = Slack(url, standin)
        sent = [slack.command(f"installed printers as of {AS_OF}") for _ in range(4)]
        assert max(s.seconds for s in sent) < 0.5
        arrived = [standin.replies(s.response_url, timeout=10)[0] for s in sent]
        assert len(arrived) == 4
        times = [standin.at(s.response_url)[0].at for s in sent]
        assert times[-1] - times[0] >= 2.5  # one after the other, on the single thread
