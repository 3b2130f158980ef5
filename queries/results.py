"""Shared shapes of query results and their JSON (SPEC §6)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import date
from functools import cache
from typing import Any, Protocol

from queries.request import Request
from queries.view import View


class Answer(Protocol):
    """What every predefined query returns: its request, and its SPEC §6 JSON."""

    @property
    def kind(self) -> str: ...

    @property
    def request(self) -> Request: ...

    def to_json(self) -> dict[str, Any]: ...

    def view(self) -> View: ...


def iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def header(kind: str, request: Request) -> dict[str, Any]:
    return {
        "kind": kind,
        "as_of": request.as_of.isoformat(),
        "target": request.target_name,
        "filters": [f.describe() for f in request.filters],
    }


_PLAIN = (str, int, float, bool, type(None))


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def jsonable(value: Any) -> Any:
    """Dataclasses, dates and containers → plain JSON values."""
    # Plain values first: a long list holds millions of them.
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        # Not asdict(): it deep-copies every value first (seconds for a long list).
        return {name: jsonable(getattr(value, name)) for name in _field_names(type(value))}
    return value
