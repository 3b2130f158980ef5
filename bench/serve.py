"""The serving process: a warm basebot answering every benchmarked command in a loop.

Run by the harness as `python -m bench.serve JOB RESULT` so its peak RSS (VmHWM) is basebot's
alone. It imports only what a basebot process imports, prints its progress on stdout and
writes its measurements to RESULT.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from bench.guard import deadline
from bench.verbs import answer_size, key_figures
from bot.ask import ask_json
from bot.settings import Settings
from queries.db import make_engine, make_sessionmaker


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_kib() -> int:
    # Not getrusage: Linux carries the pre-exec image's RSS (the forking harness, with
    # pandas loaded) into ru_maxrss. VmHWM belongs to this program alone.
    return _status_kib("VmHWM")


class _Server:
    def __init__(self, url: str, as_of: date, timeout_s: float) -> None:
        self.settings = Settings(database_url=url)
        self.engine = make_engine(url)
        self.factory = make_sessionmaker(self.engine)
        self.as_of = as_of
        self.timeout_s = timeout_s

    def answer(self, text: str) -> dict[str, Any] | None:
        """The JSON answer to one command, or None when it ran past the timeout."""
        with self.factory() as session, deadline(session, self.timeout_s) as limit:
            try:
                return ask_json(session, text, as_of=self.as_of, settings=self.settings)
            except DBAPIError:
                if limit.fired:
                    return None
                raise


def serve(config: dict[str, Any]) -> dict[str, Any]:
    repeat = int(config["repeat"])
    budget = float(config["budget_s"])
    server = _Server(config["url"], date.fromisoformat(config["as_of"]), config["timeout_s"])
    with server.engine.connect():
        pass
    started_kib = _status_kib("VmRSS")
    verbs = []
    for verb in config["verbs"]:
        texts: list[str] = verb["texts"]
        # The warm-up run is not timed; its answer is the one the baselines must match.
        answer = server.answer(texts[0])
        timed_out = answer is None
        figures = key_figures(verb["label"], answer) if answer and verb["baselined"] else None
        size = answer_size(answer) if answer else 0
        del answer
        timings: list[float] = []
        loop_started = time.perf_counter()
        for n in range(0 if timed_out else repeat):
            if n >= 2 and time.perf_counter() - loop_started > budget:
                break
            began = time.perf_counter()
            if server.answer(texts[1 + n]) is None:
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
                "figures": figures,
                "size": size,
                "peak_kib": _peak_kib(),
            }
        )
    server.engine.dispose()
    return {"started_kib": started_kib, "peak_kib": _peak_kib(), "verbs": verbs}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    config_path, result_path = Path(args[0]), Path(args[1])
    result = serve(json.loads(config_path.read_text()))
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
