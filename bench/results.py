"""What a benchmark run measured, and the statistics over its samples."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from bench.databases import ImportStats
from bench.datagen import Dataset
from bench.explain import VerbPlans
from bench.verbs import Verb


def p95(samples: list[float]) -> float:
    """95th percentile, linear interpolation between the closest ranks."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


@dataclass(frozen=True)
class Timing:
    samples_s: tuple[float, ...]

    @property
    def runs(self) -> int:
        return len(self.samples_s)

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_s) * 1000 if self.samples_s else None

    @property
    def p95_ms(self) -> float | None:
        return p95(list(self.samples_s)) * 1000 if self.samples_s else None


def _ratio(numerator: Timing, denominator: Timing) -> float | None:
    top, bottom = numerator.median_ms, denominator.median_ms
    if top is None or not bottom:
        return None
    return top / bottom


@dataclass(frozen=True)
class Baseline:
    """A baseline's timing and where its answer differed from basebot's (empty: agreed)."""

    timing: Timing
    differences: tuple[str, ...]

    @property
    def agreed(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class VerbResult:
    verb: Verb
    timing: Timing
    size: int
    peak_kib: int
    timed_out: bool = False  # a run was cancelled at the timeout (then no more runs)
    floor: Baseline | None = None
    pandas: Baseline | None = None
    full_s: float | None = None  # the whole JSON answer, once (baselined verbs)

    @property
    def compared(self) -> Timing:
        """What the baselines are compared with: the whole JSON answer for a long list."""
        if self.verb.lists and self.full_s is not None:
            return Timing((self.full_s,))
        return self.timing

    @property
    def slowness(self) -> float:
        """For ranking: a timed-out verb is the slowest."""
        median = self.timing.median_ms
        return float("inf") if self.timed_out or median is None else median

    def floor_ratio(self) -> float | None:
        return None if self.floor is None else _ratio(self.compared, self.floor.timing)

    def pandas_ratio(self) -> float | None:
        return None if self.pandas is None else _ratio(self.compared, self.pandas.timing)


@dataclass(frozen=True)
class BackendResult:
    backend: str
    url: str  # without password
    server: dict[str, str]
    load: ImportStats
    started_kib: int
    peak_kib: int  # including the whole JSON answers computed at the end
    verbs: tuple[VerbResult, ...]
    serving_peak_kib: int = 0  # while answering the Slack commands
    replica: dict[str, float] | None = None  # {"seconds", "bytes"} of its build
    plans: tuple[VerbPlans, ...] = ()
    seconds: float = 0.0

    @property
    def agreed(self) -> bool:
        return all(b.agreed for v in self.verbs for b in (v.floor, v.pandas) if b is not None)


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_gib: float
    cpu_model: str
    load_average: tuple[float, float, float]


@dataclass(frozen=True)
class Report:
    started: datetime
    machine: Machine
    commit: str
    dataset: Dataset
    repeat: int
    pandas_repeat: int
    budget_s: float
    timeout_s: float
    backends: list[BackendResult] = field(default_factory=list)

    @property
    def agreed(self) -> bool:
        return all(b.agreed for b in self.backends)


@dataclass(frozen=True)
class PhaseTiming:
    """One verb's slash commands in one phase of the live bench."""

    timing: Timing
    failed: int = 0  # an error or apology came back
    timed_out: int = 0  # no reply within the timeout


@dataclass(frozen=True)
class LiveVerb:
    verb: Verb
    still: PhaseTiming
    live: PhaseTiming

    def p95_ratio(self) -> float | None:
        still, live = self.still.timing.p95_ms, self.live.timing.p95_ms
        return None if still is None or live is None or not still else live / still


@dataclass(frozen=True)
class Freshness:
    """Answers through the bench's read path against the database's, right after commits."""

    command: str
    checks: int
    differing: int
    on_replica: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveBackend:
    backend: str
    url: str  # without password
    server: dict[str, str]
    load: ImportStats
    replica: bool
    replica_ready_s: float | None  # from the server's start to its first replica
    still_s: float
    live_s: float
    verbs: tuple[LiveVerb, ...]
    commits: int
    kinds: dict[str, int]
    commit: Timing  # the writer's transactions, begin to commit
    apply: Timing  # read-path entry after a commit minus entry with none new
    entry_after_commit: Timing
    entry_idle: Timing
    freshness: tuple[Freshness, ...]
    started_kib: int  # the serving process once its replica is ready
    still_peak_kib: int
    peak_kib: int
    seconds: float

    @property
    def write_rate(self) -> float:
        return self.commits / self.live_s if self.live_s else 0.0


@dataclass(frozen=True)
class LiveReport:
    started: datetime
    machine: Machine
    commit: str
    dataset: Dataset
    still_seconds: float
    live_seconds: float
    write_every: float
    timeout_s: float
    backends: list[LiveBackend] = field(default_factory=list)
