"""Keeps the registry honest: every query has help, working examples and a test of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.ask import ask
from bot.settings import Settings
from queries.registry import QUERIES
from queries.request import Me
from tests.queries.world import D, build_world

TESTS = Path(__file__).parent


@pytest.mark.parametrize("verb", list(QUERIES))
def test_every_query_is_documented(verb: str) -> None:
    spec = QUERIES[verb]
    assert spec.summary.id
    assert spec.usage.startswith(verb)
    assert spec.examples and all(e.split()[0] == verb for e in spec.examples)


@pytest.mark.parametrize("verb", list(QUERIES))
def test_every_query_has_a_test_of_its_own(verb: str) -> None:
    pattern = re.compile(rf'["\']{verb}\b')
    tested = [p for p in (TESTS / "queries").glob("test_*.py") if pattern.search(p.read_text())]
    assert tested, f"no test in tests/queries asks {verb!r}"


def test_every_example_parses_and_answers(session: Session) -> None:
    build_world(session)
    for spec in QUERIES.values():
        for example in spec.examples:
            answer = ask(session, example, as_of=D, settings=Settings(), me=Me(user_id="U0ASKER"))
            assert answer.to_json()["kind"] == spec.answers, example
            view = answer.view()
            assert view.title.id and view.headline.id and view.definition is not None, example
