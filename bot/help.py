"""Usage text generated from the query registry (the same for the CLI and Slack)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from queries.registry import QUERIES
from queries.request import DIMENSIONS, Request
from queries.results import header


@dataclass(frozen=True, kw_only=True)
class HelpAnswer:
    request: Request
    command: str = "/base"
    kind: str = "help"
    verbs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return header(self.kind, self.request) | {
            "verbs": [
                {
                    "verb": q.verb,
                    "usage": f"{self.command} {q.usage}",
                    "summary": q.summary,
                    "examples": [f"{self.command} {e}" for e in q.examples],
                }
                for q in QUERIES.values()
            ],
            "modifiers": MODIFIERS,
        }


MODIFIERS = {
    "by <dimension>": ", ".join(DIMENSIONS),
    "in <value>": "a region, segment, channel, industry or country (in EMEA, in government,"
    " in DE, in international); qualify clashes as in industry:retail",
    "as of YYYY-MM-DD": "figures as they stood that day (default: today)",
    "top <N>": "how many rows (top, upsell)",
    "csv": "attach the full result as a CSV file",
    "public": "post in the channel instead of only to you",
}
