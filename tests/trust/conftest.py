"""The app as Slack drives it, with access rules, a workspace lock and a query counter.

Data is committed (the app's sessions run on other threads): a SQLite file of its own, or a
schema of its own in TEST_DATABASE_URL's database on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from bot.serve import wsgi_app
from bot.settings import Settings
from queries.db import make_sessionmaker
from queries.models import AuditEntry
from tests.builders import Fixture
from tests.committed import committed_database
from tests.queries.world import build_world
from tests.slack.driver import SECRET, TOKEN, Slack, serving
from tests.slack.standin import Call, SlackStandIn

SCHEMA = "basebot_trust"  # committed_database(…, "trust", …) makes this schema
TEAM = "T0001"
APP = "A0BASEBOT"
SUPPORT = "S0SUPPORT"
SUPPORT_AGENT = "U0AGENT"
SALES_REP = "U0SALESREP"  # may look customers up, may not see their email
PUBLIC_CHANNEL = "C0PUBLIC"
INERT_NAME = "<!channel> & <@U123>"
INERT_EMAIL = "ping-everyone@example.com"
ACCESS = f"""
public_channels = ["{PUBLIC_CHANNEL}"]

[contact_fields]
groups = ["{SUPPORT}"]

[verbs.customer]
users = ["{SALES_REP}"]
groups = ["{SUPPORT}"]

[verbs.health]
users = ["U0DATAOWNER"]
channels = ["C0DATA"]
"""


class TrustStandIn(SlackStandIn):
    """The stand-in, also answering usergroups.users.list."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, list[str]] = {SUPPORT: [SUPPORT_AGENT]}

    def _answer(self, call: Call) -> tuple[int, dict[str, Any] | bytes]:
        if call.method == "usergroups.users.list":
            group = str(call.data.get("usergroup"))
            if group not in self.groups:
                return 200, {"ok": False, "error": "no_such_subteam"}
            return 200, {"ok": True, "users": self.groups[group]}
        return super()._answer(call)


class QueryCounter:
    """Statements the app sends, apart from its audit log writes."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "audit_log" not in statement:
            with self._lock:
                self.statements.append(statement)

    def count(self) -> int:
        with self._lock:
            return len(self.statements)


def build_trust_world(session: Session) -> None:
    f: Fixture = build_world(session)
    f.customer("INERT", INERT_NAME, segment="consumer", email=INERT_EMAIL)
    f.buy("INERT", "COP-1", "2026-02-01", 1, 1500)


@pytest.fixture(scope="session")
def trust_engine(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = Path(tmp_path_factory.mktemp("trust"))
    with committed_database(engine, folder, "trust", build_trust_world) as db:
        yield db


@pytest.fixture(scope="session")
def trust_sessions(trust_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(trust_engine)


@pytest.fixture(scope="session")
def queries_run(trust_engine: Engine) -> QueryCounter:
    return QueryCounter(trust_engine)


@pytest.fixture(scope="session")
def standin() -> Iterator[TrustStandIn]:
    server = TrustStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trust_settings(standin: TrustStandIn, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    access = Path(tmp_path_factory.mktemp("access")) / "access.toml"
    access.write_text(ACCESS)
    return Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=standin.api_url,
        access_file=str(access),
        slack_team_id=TEAM,
        slack_app_id=APP,
    )


@pytest.fixture(scope="session")
def app_url(trust_settings: Settings, trust_sessions: sessionmaker[Session]) -> Iterator[str]:
    with serving(wsgi_app(trust_settings, trust_sessions)) as url:
        yield url


@pytest.fixture()
def slack(app_url: str, standin: TrustStandIn) -> Slack:
    return Slack(app_url, standin)


def audit_of(sessions: sessionmaker[Session], user: str) -> list[AuditEntry]:
    with sessions() as session:
        query = select(AuditEntry).where(AuditEntry.user_id == user).order_by(AuditEntry.id)
        return list(session.scalars(query))
