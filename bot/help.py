"""Usage text generated from the query registry (the same for the CLI and Slack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.i18n import speaker
from queries.registry import BY, COUNT, IN, QUERIES, RANK, RULE, SINCE, TOP, QuerySpec
from queries.request import DIMENSIONS, UPSELL_RULES, Request
from queries.results import header
from queries.view import Listing, Msg, View, _


def _taking(*modifiers: str) -> str:
    return ", ".join(q.verb for q in QUERIES.values() if q.modifiers & set(modifiers))


def modifiers() -> dict[str, Msg]:
    """Each modifier as typed, and what it does (with the verbs that take it, from the registry)."""
    return {
        "by <dimension>": _(
            "{dimensions} ({verbs})", dimensions=", ".join(DIMENSIONS), verbs=_taking(BY)
        ),
        "by revenue|units": _("how top ranks customers ({verbs})", verbs=_taking(RANK)),
        "in <value>": _(
            "a region, segment, channel, industry or country (in EMEA, in government, in DE,"
            " in international); qualify clashes as in industry:retail"
        ),
        "as of YYYY-MM-DD": _("figures as they stood that day (default: today)"),
        "top <N>": _("how many rows ({verbs})", verbs=_taking(TOP, COUNT)),
        " | ".join(UPSELL_RULES): _("one upsell rule ({verbs})", verbs=_taking(RULE)),
        "since YYYY-MM-DD": _(
            "only the candidates that are new since that day, and how many dropped out ({verbs})",
            verbs=_taking(SINCE),
        ),
        "mine": _(
            "only your own accounts: those whose owner is your Slack user or your email ({verbs})",
            verbs=_taking(IN),
        ),
        "csv": _("attach the full result as a CSV file"),
        "public": _("post in the channel instead of only to you"),
    }


@dataclass(frozen=True)
class Command:
    """A command that is not a question: it changes what basebot posts by itself."""

    verb: str
    usage: str
    summary: Msg
    examples: tuple[str, ...]


# The subscriptions besides `digest subscribe` (whose words the digest's usage lists).
SUBSCRIPTIONS = (
    Command(
        verb="alert",
        usage="alert <#channel|me> <rule> [target] [in <value>] [mine] [HH:MM] [time zone]"
        " · alert list · alert unsubscribe <#channel|me> [rule]",
        summary=_(
            "every morning, only the candidates of one upsell rule that are new since the"
            " previous post, in a channel or your direct messages"
        ),
        examples=("alert me service printers mine 08:00", "alert #sales renewal in EMEA"),
    ),
)


def commands() -> tuple[QuerySpec | Command, ...]:
    """Everything help lists: the questions, then the subscriptions."""
    return (*QUERIES.values(), *SUBSCRIPTIONS)


@dataclass(frozen=True, kw_only=True)
class HelpAnswer:
    request: Request
    command: str = "/base"
    kind: str = "help"

    def to_json(self) -> dict[str, Any]:
        english = speaker()
        return header(self.kind, self.request) | {
            "verbs": [
                {
                    "verb": q.verb,
                    "usage": f"{self.command} {q.usage}",
                    "summary": english(q.summary),
                    "examples": [f"{self.command} {e}" for e in q.examples],
                }
                for q in commands()
            ],
            "modifiers": {word: english(text) for word, text in modifiers().items()},
        }

    def view(self) -> View:
        verbs = tuple(
            Listing(
                title=f"{self.command} {q.usage}",
                lines=(
                    q.summary,
                    _(
                        "e.g. {examples}",
                        examples=" · ".join(f"`{self.command} {e}`" for e in q.examples),
                    ),
                ),
            )
            for q in commands()
        )
        return View(
            title=_("Help · {command} commands", command=self.command),
            as_of=None,
            headline=_("basebot answers questions about your customer base and installed base."),
            sentences=(
                _("basebot answers questions about your customer base and installed base."),
            ),
            listings=(
                *verbs,
                Listing(
                    title=_("Modifiers"),
                    lines=tuple(
                        _("{word}: {meaning}", word=word, meaning=meaning)
                        for word, meaning in modifiers().items()
                    ),
                ),
            ),
            shareable=False,
        )
