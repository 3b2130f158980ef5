"""What the query tests share: the same question asked on both read paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.ask import ask_json
from bot.settings import Settings
from tests.replicas import READS, replica_of

SETTINGS = Settings(home_country="US")


Ask = Callable[[str, date], dict[str, Any]]


@pytest.fixture(params=READS)
def ask_on(request: pytest.FixtureRequest, session: Session, tmp_path: Path) -> Ask:
    """Answers from the database itself, or from a replica of the test's rows as they are."""

    def answer(text: str, as_of: date) -> dict[str, Any]:
        if request.param == "database":
            return ask_json(session, text, as_of=as_of, settings=SETTINGS)
        session.flush()
        with replica_of(session.connection(), tmp_path) as replica:
            return ask_json(replica, text, as_of=as_of, settings=SETTINGS)

    return answer
