"""Slack's rate limits, kept by the caller: each Web API method waits for its next free slot
before it is called, so a bulk send (one DM per account owner) never runs into 429s; one that
does is still waited out by the client's retry handler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

# Slack's rates (seconds between two calls of a method): Tier 3 is about 50 a minute, Tier 4
# about 100, chat.postMessage about one a second.
TIER_3, TIER_4 = 60 / 50, 60 / 100
INTERVALS = {
    "users.lookupByEmail": TIER_3,
    "conversations.open": TIER_3,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "chat.postMessage": 1.0,
}


class Pacer:
    """One Web API method's pace: each call gets the next free slot, `interval` apart."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Wait for this call's slot; the seconds waited."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            self._sleep(at - now)
        return at - now


@dataclass
class Spent:
    """Where a run's time went, summed over its threads."""

    paced: float = 0.0  # waiting for a pacer's slot
    slack: float = 0.0  # inside Web API calls (a 429's Retry-After included)
    building: float = 0.0  # queries, rendering and the chart
    calls: int = 0


class Pacing:
    """The pacers of one process: Slack's limits are the app's, whatever runs."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor
        self._pacers = {m: Pacer(s * factor) for m, s in INTERVALS.items() if factor > 0}

    def wait(self, method: str) -> float:
        pacer = self._pacers.get(method)
        return pacer.wait() if pacer is not None else 0.0


_PACINGS: dict[float, Pacing] = {}
_PACINGS_LOCK = threading.Lock()


def shared_pacing(factor: float) -> Pacing:
    """This process's pacers at `factor` times Slack's intervals (Settings.slack_pace): the
    limits are the app's, whichever run calls."""
    with _PACINGS_LOCK:
        return _PACINGS.setdefault(factor, Pacing(factor))


class PacedClient(WebClient):
    """The client it copies (token, URL, retry handlers: a 429 is still waited out), with
    each call first waiting for its method's pacer."""

    def __init__(self, client: WebClient, pacing: Pacing) -> None:
        super().__init__(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=dict(client.headers),
            logger=client.logger,
            retry_handlers=client.retry_handlers,
        )
        self.default_params = dict(client.default_params)
        self.pacing = pacing
        self.spent = Spent()
        self._lock = threading.Lock()

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        paced = self.pacing.wait(api_method)
        started = time.perf_counter()
        try:
            return super().api_call(api_method, **kwargs)
        finally:
            with self._lock:
                self.spent.paced += paced
                self.spent.slack += time.perf_counter() - started
                self.spent.calls += 1


__all__ = ["INTERVALS", "PacedClient", "Pacer", "Pacing", "Spent", "shared_pacing"]
