"""`basebot scheduler`: posts each subscription (digest, alert, owners' digest) at its local
time, once a day.

Every tick asks the database what is due and claims it there (digest_deliveries' unique key;
owner_deliveries' for each owner's DM), so any number of scheduler processes, restarted at
any moment, post each at most once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import deliver_alert
from bot.digest import Outcome, deliver_due, worker_name
from bot.owners import deliver_owners
from bot.settings import Settings
from queries.db import Reader
from queries.subscriptions import ALERT, DIGEST, OWNERS, Due, due


class Deliver(Protocol):
    def __call__(
        self,
        factory: sessionmaker[Session],
        client: WebClient,
        settings: Settings,
        item: Due,
        *,
        now: datetime,
        worker: str,
        reads: Reader | None = None,
    ) -> Outcome: ...


# How each kind of subscription is delivered.
DELIVERIES: dict[str, Deliver] = {
    DIGEST: deliver_due,
    ALERT: deliver_alert,
    OWNERS: deliver_owners,
}

log = logging.getLogger(__name__)

TICK_SECONDS = 30


def tick(
    factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    *,
    now: datetime | None = None,
    worker: str | None = None,
    reads: Reader | None = None,
) -> list[Outcome]:
    """Deliver every digest due at `now` (default: the current time) that no one has claimed."""
    at = now or datetime.now(UTC)
    who = worker or worker_name()
    with factory() as session:
        items = due(session, at)
    return [
        DELIVERIES[item.subscription.kind](
            factory, client, settings, item, now=at, worker=who, reads=reads
        )
        for item in items
    ]


def run_forever(
    factory: sessionmaker[Session],
    client: WebClient,
    settings: Settings,
    *,
    every: float = TICK_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    reads: Reader | None = None,
) -> None:
    """Tick until stopped; a failing tick is logged and the next one tries again."""
    while True:
        try:
            for outcome in tick(factory, client, settings, reads=reads):
                log.info(
                    "digest %s for %s: %s",
                    outcome.subscription_id,
                    outcome.day,
                    outcome.status,
                )
        except Exception:
            log.exception("a scheduler tick failed")
        sleep(every)


__all__ = ["TICK_SECONDS", "run_forever", "tick"]
