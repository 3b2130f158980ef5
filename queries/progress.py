"""Progress of the long jobs (import, seed, the replica build), reported on stderr.

A job reports each of its phases: `with progress.phase("import: purchases.csv", total=n) as
step: step.advance(rows)`. Library callers get `SILENT`; the command line picks `for_stderr()`:
bars on a terminal (queries/bars.py), one summary line per phase anywhere else (a pipe, a CI
log).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

# A count, or what counts it: a total that costs a pass over the data is only worked out
# when a bar is there to show it.
Total = int | Callable[[], int] | None


class Step(Protocol):
    def advance(self, n: int = 1) -> None: ...


class Progress(Protocol):
    """`kind` names the implementation, for a child process to report the same way."""

    kind: str

    def phase(
        self, name: str, *, total: Total = None, unit: str | None = "rows"
    ) -> AbstractContextManager[Step]:
        """One phase of a job; `unit=None`: it counts nothing, only its time is shown."""
        ...


class _Ignored:
    def advance(self, n: int = 1) -> None:
        pass


class Silent:
    kind = "silent"

    @contextmanager
    def phase(self, name: str, *, total: Total = None, unit: str | None = "rows") -> Iterator[Step]:
        yield _Ignored()


SILENT = Silent()


class _Tally:
    def __init__(self) -> None:
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n


class Lines:
    """One line per phase when it ends, e.g. `import: purchases.csv 5,012,345 rows in 21.4 s
    (234,000 rows/s)`."""

    kind = "lines"

    @contextmanager
    def phase(self, name: str, *, total: Total = None, unit: str | None = "rows") -> Iterator[Step]:
        tally = _Tally()
        started = time.perf_counter()
        try:
            yield tally
        except BaseException:
            seconds = time.perf_counter() - started
            counted = f" ({tally.done:,} {unit})" if unit else ""
            _say(f"{name} stopped after {seconds:.1f} s{counted}")
            raise
        seconds = time.perf_counter() - started
        if unit is None:
            _say(f"{name} in {seconds:.1f} s")
            return
        # A rate over less than a tenth of a second measures the set-up, not the work.
        rate = f" ({tally.done / seconds:,.0f} {unit}/s)" if seconds >= 0.1 else ""
        _say(f"{name} {tally.done:,} {unit} in {seconds:.1f} s{rate}")


def _say(line: str) -> None:
    # sys.stderr as it is now, not at import: tests and the CLI may have replaced it.
    print(line, file=sys.stderr, flush=True)


def named(kind: str) -> Progress:
    """The implementation called `kind` (what a parent process hands its child)."""
    if kind == "bars":
        from queries.bars import Bars  # rich stays out of serving processes, which never draw

        return Bars()
    return Lines() if kind == "lines" else SILENT


def for_stderr() -> Progress:
    """Bars when stderr is an interactive terminal, summary lines otherwise."""
    from queries.bars import Bars, interactive

    return Bars() if interactive() else Lines()
