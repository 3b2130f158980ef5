"""The Slack app driven as Slack drives it: signed HTTP requests to the real server (waitress),
a stand-in Web API and response_url that record every call, and committed data on each backend.

The app's sessions run on other threads, so the data is committed: to a SQLite file of its
own, or to a schema of its own in TEST_DATABASE_URL's database on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from bot.serve import wsgi_app
from bot.settings import Settings
from queries.db import make_sessionmaker
from queries.models import Customer
from tests.builders import Fixture
from tests.committed import committed_database
from tests.queries.world import build_world
from tests.slack.driver import SECRET, TOKEN, Slack, check_blocks, serving
from tests.slack.standin import Call, SlackStandIn

ZETAS = 45  # printers without service: three pages of upsell candidates
ANN, ZED = "ann@acme.example", "U0ZED"  # account owners: an email and a Slack user id
OWNED_BY_ZED = 5
HYDRA_UNITS = 30  # one customer's installations: two pages


def build_slack_world(session: Session) -> None:
    """The hand-worked world, plus long lists for paging and a name that must stay inert."""
    f: Fixture = build_world(session)
    for n in range(1, ZETAS + 1):
        ref = f"Z{n:02d}"
        f.customer(ref, f"Zeta Print {n:02d}", segment="business", region="EMEA", country="DE")
        f.buy(ref, "PRN-1", "2026-01-10", 1, 900)
        f.install(ref, "PRN-1", "2026-01-15", serial=f"ZS-{n:02d}")
    # Accounts owned by a Slack user id (SPEC §9); A's owner is written as an email.
    session.execute(update(Customer).where(Customer.customer_ref == "A").values(owner=ANN))
    for n in range(1, OWNED_BY_ZED + 1):
        session.execute(
            update(Customer).where(Customer.customer_ref == f"Z{n:02d}").values(owner=ZED)
        )
    f.customer("H", "Hydra Hospital", segment="government", industry="healthcare")
    f.buy("H", "PRN-2", "2025-09-01", HYDRA_UNITS, 450)
    for n in range(1, HYDRA_UNITS + 1):
        f.install("H", "PRN-2", "2025-09-10", serial=f"HY-{n:02d}", site=f"Ward {n}")
    f.customer("ESC", "<!channel> & <@U999> Sons", segment="consumer")
    f.buy("ESC", "COP-1", "2026-02-01", 1, 1500)


@pytest.fixture(scope="session")
def slack_sessions(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sessionmaker[Session]]:
    folder = Path(tmp_path_factory.mktemp("slack"))
    with committed_database(engine, folder, "slack", build_slack_world) as db:
        yield make_sessionmaker(db)


@pytest.fixture(scope="session")
def standin() -> Iterator[SlackStandIn]:
    server = SlackStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(standin: SlackStandIn) -> Settings:
    return Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=standin.api_url,
        command_name="/base",
    )


@pytest.fixture(scope="session")
def app_url(settings: Settings, slack_sessions: sessionmaker[Session]) -> Iterator[str]:
    with serving(wsgi_app(settings, slack_sessions)) as url:
        yield url


@pytest.fixture()
def slack(app_url: str, standin: SlackStandIn) -> Slack:
    return Slack(app_url, standin)


@pytest.fixture(autouse=True)
def every_block_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the stand-in: every message it received was valid."""
    if "standin" not in request.fixturenames:
        yield
        return
    standin: SlackStandIn = request.getfixturevalue("standin")
    before = len(standin.calls())
    yield
    for call in standin.calls()[before:]:
        _check_call(call)


def _check_call(call: Call) -> None:
    blocks = call.blocks()
    if call.method in ("chat.postMessage", "chat.postEphemeral") or call.path.startswith(
        ("/response/", "/expired/")
    ):
        if call.data.get("delete_original"):
            return
        assert call.data.get("text"), f"no fallback text in {call.path}"
        assert blocks is not None, f"no blocks in {call.path}"
        check_blocks(blocks)
        assert "Traceback" not in json.dumps(call.data)
