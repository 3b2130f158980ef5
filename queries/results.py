"""Shared shapes of query results and their JSON (SPEC §6)."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any, Protocol

from queries.request import Request


class Answer(Protocol):
    """What every predefined query returns: its request, and its SPEC §6 JSON."""

    @property
    def kind(self) -> str: ...

    @property
    def request(self) -> Request: ...

    def to_json(self) -> dict[str, Any]: ...


def iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def header(kind: str, request: Request) -> dict[str, Any]:
    return {
        "kind": kind,
        "as_of": request.as_of.isoformat(),
        "target": request.target_name,
        "filters": [f.describe() for f in request.filters],
    }


def jsonable(value: Any) -> Any:
    """Dataclasses, dates and containers → plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
