"""Committed databases for the digest (schedulers run on threads of their own), a Slack
stand-in, and the hand-worked world with one busy day added.

Busy day: 2026-06-29 (the digest as of D = 2026-06-30 reports it). On it N (EMEA, DE) buys
two Laser 100 at 800 and has one installed; M (AMER, US) buys a Copier One at 1500.
The world itself has no activity on 2026-06-28: the digest as of 2026-06-29 is a quiet day.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from queries.db import make_sessionmaker
from tests.builders import Fixture
from tests.committed import committed_database
from tests.queries.world import build_world
from tests.slack.standin import SlackStandIn

TOKEN = "xoxb-digest-test"


def build_digest_world(session: Session) -> Fixture:
    f = build_world(session)
    f.customer("N", "Nordlicht Druck", segment="business", country="DE", region="EMEA")
    f.buy("N", "PRN-1", "2026-06-29", 2, 800)
    f.install("N", "PRN-1", "2026-06-29", serial="N-1")
    f.customer("M", "Mesa Copy Shop", segment="consumer", country="US", region="AMER")
    f.buy("M", "COP-1", "2026-06-29", 1, 1500)
    return f


@pytest.fixture()
def sessions(engine: Engine, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh committed database with the digest world, on the test's backend."""
    with committed_database(engine, tmp_path, "digest", build_digest_world) as db:
        yield make_sessionmaker(db)


@pytest.fixture(scope="session")
def standin() -> Iterator[SlackStandIn]:
    server = SlackStandIn().start()
    yield server
    server.stop()


@pytest.fixture()
def slack(standin: SlackStandIn) -> Iterator[SlackStandIn]:
    """The stand-in with no scripted answers left over, and a mark of where this test starts."""
    standin.reset_scripts()
    yield standin
    standin.reset_scripts()


@pytest.fixture()
def settings(standin: SlackStandIn) -> Settings:
    # No pacing: the stand-in has no rate limits (tests/digest/test_owners.py tests the pacer).
    return Settings(
        slack_bot_token=TOKEN, slack_api_url=standin.api_url, command_name="/base", slack_pace=0
    )
