"""The serving process: a warm basebot answering every benchmarked command in a loop.

Run by the harness as `python -m bench.serve JOB RESULT` so its peak RSS (VmHWM) is basebot's
alone. Each timed run is what a Slack user waits for: the slash command's work in the
listener (`compute`: access rules, parse, query, audit row) and the Block Kit reply
(`render_answer`), read from the read replica when the job has one (built first, timed),
asked by a Slack user whose profile email is the job's `asker` (for `mine`). The App Home is
timed the same way: that user's Home built (`build_home`, claims from the primary) and drawn
as the `views.publish` payload in German (`home_view`). The
full JSON answers the baselines are checked against are computed last, once per verb, so the
serving peak is measured before them. Prints its progress on stdout and writes its
measurements to RESULT.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench.guard import Deadline, deadline
from bench.verbs import HOME, HOME_LANGUAGE, answer_size, asker, key_figures
from bot.ask import ask_json
from bot.home import build_home
from bot.i18n import speaker
from bot.listeners.guard import Incident
from bot.listeners.replies import compute
from bot.listeners.services import Services
from bot.render.blocks import render_answer
from bot.render.home import home_view
from bot.settings import Settings
from queries.db import make_engine, make_sessionmaker
from queries.replica import DEFAULT_REPLICA_MEMORY, ReadPath
from queries.upsell import UpsellList


def status_kib(field: str, *, pid: int | str = "self") -> int:
    """A memory figure (VmRSS, VmHWM) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _peak_kib() -> int:
    # Not getrusage: Linux carries the pre-exec image's RSS (the forking harness, with
    # pandas loaded) into ru_maxrss. VmHWM belongs to this program alone.
    return status_kib("VmHWM")


@dataclass(frozen=True, kw_only=True)
class _AsOf(Settings):
    """The settings with the data set's date as today (the Home has no `as of`)."""

    as_of: date

    def today(self) -> date:
        return self.as_of


class Server:
    def __init__(self, config: dict[str, Any]) -> None:
        self.settings = Settings(
            database_url=config["url"],
            replica_dir=config.get("replica_dir"),
            replica_memory=config.get("replica_memory", DEFAULT_REPLICA_MEMORY),
        )
        self.home_settings = _AsOf(
            database_url=self.settings.database_url,
            replica_dir=self.settings.replica_dir,
            replica_memory=self.settings.replica_memory,
            as_of=date.fromisoformat(config["as_of"]),
        )
        self.engine = make_engine(config["url"])
        self.factory = make_sessionmaker(self.engine)
        self.reads = ReadPath(self.factory, self.settings.replica(), build=False)
        self.services = Services(settings=self.settings, sessions=self.factory, reads=self._read)
        self.as_of = date.fromisoformat(config["as_of"])
        self.me = asker(config["asker"])
        self.timeout_s = float(config["timeout_s"])
        self._limit: Deadline | None = None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self.reads.session() as session, deadline(session, self.timeout_s) as limit:
            self._limit = limit
            yield session

    def replicate(self) -> dict[str, Any] | None:
        """Build the replica for the loaded data (what a server does at start-up)."""
        if self.reads.config is None:
            return None
        began = time.perf_counter()
        self.reads.refresh()
        seconds = time.perf_counter() - began
        [path] = self.reads.config.folder.glob("replica-*.duckdb")
        return {"seconds": seconds, "bytes": path.stat().st_size}

    def slack(self, text: str) -> Any | None:
        """The Slack reply to one command (its answer), or None when it ran past the timeout."""
        try:
            answer = compute(self.services, text, as_of=self.as_of, me=self.me)
        except Incident:
            if self._limit is not None and self._limit.fired:
                return None
            raise
        render_answer(answer, speak=speaker(self.settings.language, self.settings.currency))
        return answer

    def home(self, _text: str) -> dict[str, Any] | None:
        """The asker's App Home as `views.publish` sends it, or None past the timeout."""
        try:
            home = build_home(self._read, self.factory, self.home_settings, self.me)
        except Exception:
            if self._limit is not None and self._limit.fired:
                return None
            raise
        return home_view(home, speak=speaker(HOME_LANGUAGE, self.settings.currency))

    def full_json(self, text: str) -> dict[str, Any] | None:
        """The whole JSON answer (`basebot ask --json`), or None past the timeout."""
        with self._read() as session:
            try:
                return ask_json(session, text, as_of=self.as_of, settings=self.settings, me=self.me)
            except Exception:
                if self._limit is not None and self._limit.fired:
                    return None
                raise


def _size(answer: Any) -> int:
    """Rows of an answer; for the App Home, the blocks of its view."""
    if isinstance(answer, dict):
        return len(answer["blocks"])
    if isinstance(answer, UpsellList):
        return answer.total
    return answer_size(answer.to_json())


def serve(config: dict[str, Any]) -> dict[str, Any]:
    repeat = int(config["repeat"])
    budget = float(config["budget_s"])
    server = Server(config)
    with server.engine.connect():
        pass
    started_kib = status_kib("VmRSS")
    replica = server.replicate()
    if replica is not None:
        print(f"serving: read replica built in {replica['seconds']:.1f} s", flush=True)
    verbs = []
    for verb in config["verbs"]:
        texts: list[str] = verb["texts"]
        once: Callable[[str], Any | None] = (
            server.home if verb["label"] == HOME.label else server.slack
        )
        # The warm-up run is not timed.
        answer = once(texts[0])
        timed_out = answer is None
        size = 0 if answer is None else _size(answer)
        del answer
        timings: list[float] = []
        loop_started = time.perf_counter()
        for n in range(0 if timed_out else repeat):
            if n >= 2 and time.perf_counter() - loop_started > budget:
                break
            began = time.perf_counter()
            if once(texts[1 + n]) is None:
                timed_out = True
                break
            timings.append(time.perf_counter() - began)
        median = sorted(timings)[len(timings) // 2] * 1000 if timings else None
        shown = "timed out" if median is None else f"median {median:,.1f} ms"
        print(f"serving: {verb['label']}: {len(timings)} runs, {shown}", flush=True)
        verbs.append(
            {
                "label": verb["label"],
                "timings_s": timings,
                "timed_out": timed_out,
                "size": size,
                "peak_kib": _peak_kib(),
            }
        )
    serving_peak_kib = _peak_kib()
    for verb, measured in zip(config["verbs"], verbs, strict=True):
        measured["figures"] = measured["full_s"] = None
        if not verb["baselined"] or measured["timed_out"]:
            continue
        began = time.perf_counter()
        full = server.full_json(verb["texts"][0])
        if full is not None:
            measured["full_s"] = time.perf_counter() - began
            measured["figures"] = key_figures(verb["label"], full)
            measured["size"] = answer_size(full)
        del full
    server.reads.close()
    server.engine.dispose()
    return {
        "started_kib": started_kib,
        "serving_peak_kib": serving_peak_kib,
        "peak_kib": _peak_kib(),
        "replica": replica,
        "verbs": verbs,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    config_path, result_path = Path(args[0]), Path(args[1])
    result = serve(json.loads(config_path.read_text()))
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
