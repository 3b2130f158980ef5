"""The progress of a long job as a rich bar per phase, for a terminal (queries/progress.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID, TextColumn
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text

from queries.progress import Step, Total


def interactive() -> bool:
    """Whether stderr is a terminal that can redraw a bar."""
    # rich's test also honours TERM=dumb and TTY_INTERACTIVE; isatty keeps a FORCE_COLOR
    # set for colour in a CI log from drawing bars there.
    return sys.stderr.isatty() and Console(stderr=True).is_interactive


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        unit = task.fields["unit"]
        if unit is None:
            return Text("")
        done = f"{int(task.completed):,}"
        if task.total is not None and not task.finished:
            done += f"/{int(task.total):,}"
        return Text(f"{done} {unit}", style="progress.download")


def _done(task: Task) -> bool:
    """Whether the phase counted all it will (it may still be finishing), or was stopped."""
    return task.total is None or task.completed >= task.total or task.stop_time is not None


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        unit = task.fields["unit"]
        # Running: the recent rate; done: the whole phase's.
        speed = task.completed / task.elapsed if _done(task) and task.elapsed else task.speed
        if unit is None or speed is None:
            return Text("")
        return Text(f"{speed:,.0f} {unit}/s", style="progress.data.speed")


class _Time(ProgressColumn):
    def render(self, task: Task) -> Text:
        if _done(task):
            return Text(f"{task.elapsed or 0.0:.1f} s", style="progress.elapsed")
        left = task.time_remaining
        shown = "…" if left is None else f"{int(left) // 60}:{int(left) % 60:02d}"
        return Text(f"{shown} left", style="progress.remaining")


class Bars:
    """A rich progress bar per phase, left on the terminal when the phase ends."""

    kind = "bars"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    @contextmanager
    def phase(self, name: str, *, total: Total = None, unit: str | None = "rows") -> Iterator[Step]:
        fixed = Column(no_wrap=True)  # where the line is short of room, the bar gives way
        bars = RichProgress(
            # The bars of phases one under another line up where the terminal has room.
            TextColumn(
                "{task.description}",
                table_column=Column(
                    min_width=44 if self.console.width >= 120 else None,
                    no_wrap=True,
                    overflow="ellipsis",
                ),
            ),
            BarColumn(),
            _Count(table_column=fixed),
            _Rate(table_column=fixed),
            _Time(table_column=fixed),
            console=self.console,
            # A child's stdout carries its result: nothing may be drawn there.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        with bars:
            task = bars.add_task(name, total=None, unit=unit)
            if unit is not None:
                bars.update(task, total=total() if callable(total) else total)
            try:
                yield _BarStep(bars, task)
            except BaseException:
                bars.update(task, description=f"{name} (stopped)")
                bars.stop_task(task)
                raise
            completed = bars.tasks[0].completed if unit is not None else 1
            bars.update(task, total=completed, completed=completed)
            bars.stop_task(task)


class _BarStep:
    def __init__(self, bars: RichProgress, task: TaskID) -> None:
        self.bars = bars
        self.task = task

    def advance(self, n: int = 1) -> None:
        self.bars.advance(self.task, n)
