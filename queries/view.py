"""What a person sees of an answer, in no language yet: the presentation model.

Every verb's result returns a `View` from `view()`: a title, headline figures, sentences,
tables with typed columns, the definition, and what its buttons may offer. The renderers in
bot/render turn a View into text, Block Kit or CSV, once for every verb, in any language:
words are `Msg`s (gettext message ids, translated when rendered), figures are typed values
(formatted by Babel from CLDR when rendered), and data (names, refs, categories) stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from queries.request import Request

# How a cell or a figure is shown; CSV writes the raw value whatever the kind.
#   text, long: data as it is (long wraps) · count: a whole number · decimal, money: two
#   decimals (a figure of money also names its currency) · percent: one decimal and %
#   signed: +5 / −3 · date · bool: yes / no · label: a Label (raw in CSV, its words for people)
Kind = Literal[
    "text", "long", "count", "decimal", "money", "percent", "signed", "date", "bool", "label"
]


@dataclass(frozen=True)
class Msg:
    """A message for a person: a gettext message id (and plural form), with {named} parameters.

    Parameters are data (str, shown as is), numbers (int: a count), dates, typed values
    (Money, Percent, Signed) or other Msgs; the renderer formats each in the reader's locale.
    """

    id: str
    plural: str | None = None
    n: int | None = None
    params: tuple[tuple[str, Any], ...] = ()

    def but(self, **params: Any) -> Msg:
        """The same message with these parameters set anew."""
        kept = tuple((name, value) for name, value in self.params if name not in params)
        return Msg(self.id, self.plural, self.n, kept + tuple(params.items()))


def _(msgid: str, /, **params: Any) -> Msg:
    """Mark a message for translation (extracted by `pybabel extract`)."""
    return Msg(msgid, params=tuple(params.items()))


def _n(singular: str, plural: str, n: int, /, **params: Any) -> Msg:
    """A message whose words follow the count `n` (also available as {n})."""
    return Msg(singular, plural, n, tuple({"n": n, **params}.items()))


@dataclass(frozen=True)
class Money:
    amount: float | None


@dataclass(frozen=True)
class Percent:
    value: float | None


@dataclass(frozen=True)
class Signed:
    value: int


@dataclass(frozen=True)
class Person:
    """Someone, as an account owner or a claim is written: a Slack user id or an email.

    People who know them by name (Slack readers) are shown their name."""

    id: str


@dataclass(frozen=True)
class Label:
    """A word from a fixed set (a rule, a verdict, a check): `raw` in CSV, `msg` for people."""

    raw: str
    msg: Msg


@dataclass(frozen=True)
class Figure:
    value: Any
    kind: Kind
    label: Msg


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header: the same in every language
    label: Msg
    kind: Kind = "text"


@dataclass(frozen=True, kw_only=True)
class Table:
    columns: tuple[Column, ...]
    rows: Sequence[tuple[Any, ...]]
    title: Msg | None = None
    empty: Msg | None = None
    # The whole list's rows when `rows` holds only its head (a Slack page was asked for).
    total: int | None = None

    @property
    def row_count(self) -> int:
        return len(self.rows) if self.total is None else self.total


@dataclass(frozen=True, kw_only=True)
class Listing:
    """Short lines under a heading (readable on a phone), e.g. a digest's candidates per rule."""

    title: Msg | str
    lines: tuple[Msg | str, ...]


@dataclass(frozen=True)
class Choice:
    """An act offered on one row of the answer's list (Slack: a menu under the page shown).

    `command` is the command text the act runs (`claim C000042 printers service`): choosing
    it can never do more than typing it would."""

    row: int
    label: Msg
    command: str


@dataclass(frozen=True, kw_only=True)
class View:
    """One answer as a person should see it.

    The first table is the answer's list: Slack pages it, the CSV file holds all of it, and
    `paged=False` shows it only in the CSV file. Further tables are shown whole.
    """

    title: Msg
    as_of: date | None
    headline: Msg  # one sentence: the notification text, and the text reply's first line
    subject: tuple[str, ...] = ()  # the target and `in` filters, as the asker typed them
    figures: tuple[Figure, ...] = ()
    sentences: tuple[Msg, ...] = ()
    # Lines under the headline: data shown as it is (a customer's profile), or messages.
    lines: tuple[str | Msg, ...] = ()
    tables: tuple[Table, ...] = ()
    listings: tuple[Listing, ...] = ()
    definition: Msg | None = None
    paged: bool = True
    picks: tuple[tuple[str, str], ...] = ()  # (button label, customer_ref): pick one of several
    shareable: bool = True
    contact: str | None = None  # an email, shown only where the access rules allow it
    # Acts on the rows of the list, in private answers: claims on upsell candidates.
    choices: tuple[Choice, ...] = ()
    choose: Msg | None = None  # what the menu of choices says before one is picked

    @property
    def main(self) -> Table | None:
        return self.tables[0] if self.tables else None


def people(*parts: Any) -> set[str]:
    """The ids of every Person named anywhere in these views, messages, tables or labels."""
    found: set[str] = set()
    stack = list(parts)
    while stack:
        part = stack.pop()
        if isinstance(part, Person):
            found.add(part.id)
        elif isinstance(part, Msg):
            stack.extend(value for _name, value in part.params)
        elif isinstance(part, Label):
            stack.append(part.msg)
        elif isinstance(part, View | Table | Listing | Figure):
            stack.extend(getattr(part, f.name) for f in fields(part))
        elif isinstance(part, tuple | list):
            stack.extend(part)
    return found


def code(text: str) -> str:
    """A command, id or error as code (`…`): a parameter's markup, never translated."""
    return f"`{text}`"


def mention(channel_id: str) -> str:
    """A Slack channel mention, which Slack shows as the channel's name."""
    return f"<#{channel_id}>"


def framing(request: Request) -> dict[str, Any]:
    """The as-of date and subject (target, `in` filters) every answer's title shows."""
    subject = ([request.target.value] if request.target else []) + [
        f.describe() for f in request.filters
    ]
    return {"as_of": request.as_of, "subject": tuple(subject)}


# Column labels several verbs share.
CUSTOMERS = _("customers")
UNITS = _("units")
REVENUE = _("revenue ({currency})")
CUSTOMER_REF = _("customer")
NAME = _("name")
CATEGORY = _("category")
SKU = _("sku")


def dimension(by: str) -> Msg:
    """A dimension's name as a column header."""
    return {
        "segment": _("segment"),
        "channel": _("channel"),
        "industry": _("industry"),
        "region": _("region"),
        "country": _("country"),
        "owner": _("owner"),
        "category": CATEGORY,
        "product": _("product"),
        "year": _("year"),
        "quarter": _("quarter"),
        "month": _("month"),
    }.get(by, Msg(by))


__all__ = [
    "Choice",
    "Column",
    "Figure",
    "Kind",
    "Label",
    "Listing",
    "Money",
    "Msg",
    "Percent",
    "Person",
    "Signed",
    "Table",
    "View",
    "_",
    "_n",
    "dimension",
    "framing",
    "people",
]
