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
