"""A process of its own reading `installed` through a ReadPath on a shared replica folder, for
tests/queries/test_live.py: `python -m tests.queries.live_reader URL FOLDER DAY SECONDS`."""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

from bot.ask import ask_json
from bot.settings import Settings
from queries.db import make_engine, make_sessionmaker
from queries.replica import ReadPath, ReplicaConfig


def main(url: str, folder: str, day: str, seconds: str) -> None:
    engine = make_engine(url)
    config = ReplicaConfig(folder=Path(folder), memory_limit="128MB", threads=1)
    reads = ReadPath(make_sessionmaker(engine), config)
    units: set[int] = set()
    answers = replica = 0
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        with reads.session() as session:
            replica += session.get_bind().dialect.name == "duckdb"
            answer = ask_json(
                session, "installed", as_of=date.fromisoformat(day), settings=Settings()
            )
        units.add(answer["units"])
        answers += 1
    reads.close()
    engine.dispose()
    print(json.dumps({"units": sorted(units), "answers": answers, "replica": replica}))


if __name__ == "__main__":
    main(*sys.argv[1:])
