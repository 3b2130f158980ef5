"""The alert subscriptions (SPEC §10) and how each last went: `alert list` (JSON kind `alert`).

Alerts are made in Slack (`/base alert …`, bot/listeners/alerts.py) and posted by the
scheduler (bot/alerts.py); this is what both the Slack list and `basebot ask "alert list"` read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from queries.models import DigestSubscription
from queries.request import Request, is_user_id
from queries.results import header
from queries.subscriptions import ALERT, POSTED, last_delivery
from queries.upsell import RULES
from queries.view import Column, Label, Msg, Table, View, _, _n

STATUSES = {"posted": _("posted"), "quiet": _("nothing new"), "failed": _("failed")}
EXAMPLE = "/base alert #sales service printers in EMEA 08:00 Europe/Berlin"


@dataclass(frozen=True)
class Alert:
    id: int
    channel: str  # a channel id, or for a direct-message alert its subscriber's user id
    dm: bool
    rule: str
    scope: str  # the slice, as command words: "printers in EMEA mine"
    local_time: str
    tz: str
    lang: str | None
    active: bool
    created_by: str | None
    last_post: str | None  # the day of the last post (YYYY-MM-DD)
    last_day: str | None  # the last day it ran, whatever happened
    last_status: str | None  # posted, quiet (nothing new), failed
    last_error: str | None


def alerts(session: Session, *, seen_by: str | None = None) -> list[Alert]:
    """Every alert, channels' first; with `seen_by`, other users' direct-message alerts are
    left out (they are theirs alone)."""
    found = []
    for sub in session.scalars(
        select(DigestSubscription)
        .where(DigestSubscription.kind == ALERT)
        .order_by(DigestSubscription.channel_id, DigestSubscription.rule, DigestSubscription.id)
    ):
        dm = is_user_id(sub.channel_id)
        if dm and seen_by is not None and sub.channel_id != seen_by:
            continue
        posted = last_delivery(session, sub.id, status=POSTED)
        last = last_delivery(session, sub.id)
        found.append(
            Alert(
                id=sub.id,
                channel=sub.channel_id,
                dm=dm,
                rule=sub.rule,
                scope=sub.scope,
                local_time=sub.local_time,
                tz=sub.tz,
                lang=sub.lang,
                active=sub.active,
                created_by=sub.created_by,
                last_post=posted.day.isoformat() if posted else None,
                last_day=last.day.isoformat() if last else None,
                last_status=last.status if last else None,
                last_error=sub.last_error,
            )
        )
    return sorted(found, key=lambda a: (a.dm, not a.active))


@dataclass(frozen=True, kw_only=True)
class AlertList:
    request: Request
    alerts: list[Alert] = field(default_factory=list)
    kind: str = "alert"

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {"alerts": [asdict(a) for a in self.alerts]}

    def view(self) -> View:
        return View(
            title=_("Alerts"),
            as_of=None,
            headline=_n("{n} alert", "{n} alerts", len(self.alerts)),
            tables=(
                Table(
                    columns=(
                        Column("channel", _("where")),
                        Column("rule", _("rule"), "label"),
                        Column("scope", _("slice")),
                        Column("time", _("time")),
                        Column("active", _("running"), "bool"),
                        Column("last_post", _("last post"), "date"),
                        Column("last_status", _("last day"), "label"),
                        Column("last_error", _("error"), "long"),
                    ),
                    rows=[
                        (
                            a.channel,
                            Label(a.rule, RULES.get(a.rule, Msg(a.rule))),
                            a.scope,
                            f"{a.local_time} {a.tz}",
                            a.active,
                            _day(a.last_post),
                            _last(a),
                            a.last_error,
                        )
                        for a in self.alerts
                    ],
                    empty=_(
                        "No alerts yet: they are made in Slack, e.g. {example}", example=EXAMPLE
                    ),
                ),
            ),
            shareable=False,
        )


def _last(a: Alert) -> Label | None:
    if a.last_status is None or a.last_day is None:
        return None
    words = STATUSES.get(a.last_status, Msg(a.last_status))
    return Label(a.last_status, _("{day}: {status}", day=_day(a.last_day), status=words))


def _day(iso: str | None) -> date | None:
    return date.fromisoformat(iso) if iso else None


__all__ = ["EXAMPLE", "STATUSES", "Alert", "AlertList", "alerts"]
