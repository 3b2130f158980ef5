"""Command text → a typed Request, or a ParseError that says what was wrong and how to say it."""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from datetime import date, timedelta

from bot.i18n import Speaker, speaker
from queries.claims import CLAIMED
from queries.claims import STATUSES as CLAIM_STATUSES
from queries.registry import (
    BY,
    COUNT,
    CSV,
    IN,
    PUBLIC,
    QUERIES,
    RANK,
    RULE,
    SINCE,
    TOP,
    UNCLAIMED_ONLY,
)
from queries.request import (
    CUSTOMER_DIMENSIONS,
    MINE,
    UPSELL_RULES,
    Filter,
    Me,
    Request,
    Target,
)
from queries.view import Msg, _, dimension
from queries.vocabulary import Vocabulary

MAX_LENGTH = 1000
MAX_TOP = 1000
VERBS = ("help", *QUERIES)
FLAGS = (CSV, PUBLIC)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# With should_escape (the manifest sets it, for digest channel ids) Slack sends an email or a
# link typed in the command as <mailto:a@b.c|a@b.c> / <https://x|x>: keep what was typed.
_SLACK_LINK = re.compile(r"<(?:mailto:|https?://)[^|>]*\|([^>]*)>|<((?:https?://)[^|>]*)>")


def unescape_links(text: str) -> str:
    """Slack's escaped links and emails back to the text the user typed."""
    return _SLACK_LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ParseError(ValueError):
    """A command that cannot be answered as typed: what was wrong (a message to translate),
    the nearest valid words, and a correct example (commands are English in every language)."""

    def __init__(self, problem: Msg, *, example: str, suggestions: tuple[str, ...] = ()) -> None:
        self.problem = problem
        self.example = example
        self.suggestions = suggestions
        super().__init__(self.message)

    def text(self, speak: Speaker) -> str:
        """The whole message for the user, in the speaker's language."""
        text = speak(self.problem)
        if self.suggestions:
            text += " " + speak(_("Did you mean: {words}?", words=", ".join(self.suggestions)))
        return text + "\n" + speak(_("For example: {example}", example=self.example))

    @property
    def message(self) -> str:
        return self.text(speaker())


@dataclass(frozen=True)
class _Context:
    vocab: Vocabulary
    command: str
    home_country: str
    me: Me | None = None

    def example(self, verb: str) -> str:
        spec = QUERIES.get(verb)
        return f"{self.command} {spec.examples[0] if spec else 'installed printers'}"


def singular(word: str) -> str:
    """printers → printer, batteries → battery, boxes → box (only the last word changes)."""
    head, _sep, last = word.rpartition(" ")
    if len(last) > 3 and last.endswith("ies"):
        last = last[:-3] + "y"
    elif len(last) > 3 and last.endswith(("ses", "xes", "ches", "shes")):
        last = last[:-2]
    elif len(last) > 2 and last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return f"{head} {last}" if head else last


def _closest(word: str, choices: list[str] | tuple[str, ...], n: int = 3) -> tuple[str, ...]:
    by_lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.5)
    return tuple(by_lower[h] for h in hits)


def _tokens(text: str, ctx: _Context) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        raise ParseError(
            _("A quote is not closed."), example=f'{ctx.command} customer "Acme Logistics"'
        ) from None


def parse(
    text: str,
    vocab: Vocabulary,
    *,
    today: date,
    home_country: str = "US",
    command: str = "/base",
    me: Me | None = None,
) -> Request:
    """Parse `<verb> [target] [modifiers…]` (the part after the slash command); `me`: who
    asks, for `mine`."""
    ctx = _Context(vocab, command, home_country, me)
    if len(text) > MAX_LENGTH:
        raise ParseError(
            _(
                "That command is {length} characters long; the limit is {limit}.",
                length=len(text),
                limit=MAX_LENGTH,
            ),
            example=ctx.example("installed"),
        )
    clean = _CONTROL.sub(" ", unescape_links(text)).strip()
    if clean.lower().startswith(command.lower() + " ") or clean.lower() == command.lower():
        clean = clean[len(command) :].strip()
    tokens = _tokens(clean, ctx)
    if not tokens or tokens[0].lower() in ("help", "?"):
        return Request(verb="help", as_of=today, text="help")
    verb = tokens[0].lower()
    if verb not in VERBS:
        raise ParseError(
            _("I don't know the command “{word}”.", word=tokens[0][:40]),
            example=ctx.example("installed"),
            suggestions=tuple(f"{command} {v}" for v in _closest(verb, VERBS)),
        )
    if QUERIES[verb].lookup:
        return _parse_lookup(verb, tokens, ctx, today)
    if QUERIES[verb].act:
        return _parse_act(verb, tokens, ctx, today)
    return _parse_query(verb, tokens[1:], ctx, today)


def _parse_date(
    word: str | None, ctx: _Context, today: date, verb: str, *, example: str | None = None
) -> date:
    example = example or f"{ctx.example(verb)} as of {(today - timedelta(days=30)).isoformat()}"
    if word is None:
        raise ParseError(_("“as of” needs a date (YYYY-MM-DD)."), example=example)
    low = word.lower()
    if low == "today":
        return today
    if low == "yesterday":
        return today - timedelta(days=1)
    if _DATE.match(word):
        try:
            return date.fromisoformat(word)
        except ValueError:
            pass
    raise ParseError(
        _("“{word}” is not a date I can read: write it as YYYY-MM-DD.", word=word[:40]),
        example=example,
    )


def _parse_lookup(verb: str, tokens: list[str], ctx: _Context, today: date) -> Request:
    words = tokens[1:]
    as_of, flags = today, set()
    while words:
        if words[-1].lower() in FLAGS:
            flags.add(words.pop().lower())
        elif len(words) >= 3 and [w.lower() for w in words[-3:-1]] == ["as", "of"]:
            as_of = _parse_date(words[-1], ctx, today, verb)
            del words[-3:]
        else:
            break
    lookup = " ".join(words).strip()
    if not lookup:
        raise ParseError(
            _("Tell me which customer: a name, a customer ref or an email."),
            example=ctx.example(verb),
        )
    return Request(
        verb=verb,
        as_of=as_of,
        lookup=lookup,
        csv="csv" in flags,
        public="public" in flags,
        text=" ".join(tokens),
    )


def _parse_query(verb: str, words: list[str], ctx: _Context, today: date) -> Request:
    spec = QUERIES[verb]
    takes = spec.modifiers
    as_of = today
    by: str | None = None
    rank_by = "revenue"
    filters: list[Filter] = []
    top: int | None = None
    rule: str | None = None
    since: date | None = None  # checked against the answer's date once that is known
    flags: set[str] = set()
    leftover: list[str] = []
    i = 0
    while i < len(words):
        word, low = words[i], words[i].lower()
        nxt = words[i + 1] if i + 1 < len(words) else None
        if low == "as" and nxt is not None and nxt.lower() == "of":
            as_of = _parse_date(words[i + 2] if i + 2 < len(words) else None, ctx, today, verb)
            i += 3
            continue
        if low == SINCE:
            if SINCE not in takes:
                dated = sorted(q.verb for q in QUERIES.values() if SINCE in q.modifiers)
                raise ParseError(
                    _(
                        "“since” works with {verbs}, not with {verb}.",
                        verbs=", ".join(dated),
                        verb=verb,
                    ),
                    example=_since_example(ctx, today),
                )
            if nxt is None:
                raise ParseError(
                    _("“since” needs a date (YYYY-MM-DD)."), example=_since_example(ctx, today)
                )
            since = _parse_date(nxt, ctx, today, verb, example=_since_example(ctx, today))
            i += 2
            continue
        if low == "by":
            if RANK in takes:
                rank_by = _rank(nxt, ctx)
            else:
                by = _dimension(nxt, verb, ctx)
            i += 2
            continue
        if low == "in":
            filters.append(_filter(nxt, ctx, verb))
            i += 2
            continue
        if low == MINE:
            filters.append(_mine(ctx, verb))
            i += 1
            continue
        if low == "top" and COUNT not in takes:
            top = _count(nxt, ctx, verb)
            i += 2
            continue
        if COUNT in takes and top is None and low.isdigit():
            top = _count(word, ctx, verb)
        elif low in FLAGS or (low == UNCLAIMED_ONLY and UNCLAIMED_ONLY in takes):
            flags.add(low)
        elif RULE in takes and low in UPSELL_RULES and rule is None:
            rule = low
        elif low not in spec.ignored:
            leftover.append(word)
        i += 1

    if top is not None and not takes & {TOP, COUNT}:
        ranked = sorted(q.verb for q in QUERIES.values() if q.modifiers & {TOP, COUNT})
        raise ParseError(
            _(
                "“top N” works with {verbs}, not with {verb}.",
                verbs=", ".join(ranked),
                verb=verb,
            ),
            example=ctx.example(ranked[0]),
        )
    if filters and IN not in takes:
        raise ParseError(_("{verb} takes no “in” or “mine”.", verb=verb), example=ctx.example(verb))
    target = None
    if leftover:
        phrase = " ".join(leftover)
        if not spec.target:
            raise ParseError(
                _("{verb} takes no target, but I got “{words}”.", verb=verb, words=phrase[:60]),
                example=ctx.example(verb),
            )
        target = _target(phrase, ctx, verb)
    return Request(
        verb=verb,
        as_of=as_of,
        target=target,
        by=by,
        filters=tuple(filters),
        top=top,
        rule=rule,
        rank_by=rank_by,
        csv=CSV in flags,
        public=PUBLIC in flags,
        text=" ".join([verb, *words]),
        user=_user(ctx),
        unclaimed=UNCLAIMED_ONLY in flags,
        since=None if since is None else _before(since, as_of, ctx),
    )


def _since_example(ctx: _Context, d: date) -> str:
    return f"{ctx.command} upsell printers service since {(d - timedelta(days=30)).isoformat()}"


def _before(since: date, as_of: date, ctx: _Context) -> date:
    """`since` a day before the answer's own date (`as of`, else today)."""
    if since >= as_of:
        raise ParseError(
            _(
                "“since” needs a day before {day}, the date the candidates are listed for.",
                day=as_of,
            ),
            example=_since_example(ctx, as_of),
        )
    return since


def _user(ctx: _Context) -> str | None:
    """Who asks, as a claim names its holder: the Slack user id, else the email."""
    if ctx.me is None:
        return None
    return ctx.me.user_id or ctx.me.email


def _parse_act(verb: str, tokens: list[str], ctx: _Context, today: date) -> Request:
    """`claim <customer_ref> <category> <rule> [contacted|dismissed]`, `unclaim … <rule>`."""
    spec = QUERIES[verb]
    words = tokens[1:]
    for n in range(len(words) - 2):
        if [w.lower() for w in words[n : n + 2]] == ["as", "of"]:
            _parse_date(words[n + 2], ctx, today, verb)  # an act happens now, whatever the date
            del words[n : n + 3]
            break
    status = spec.act
    if spec.act == CLAIMED and words and words[-1].lower() in CLAIM_STATUSES:
        status = words.pop().lower()
    example = ctx.example(verb)
    if len(words) < 3:
        raise ParseError(
            _(
                "Say which candidate: a customer ref, a category and an upsell rule ({rules}).",
                rules=", ".join(UPSELL_RULES),
            ),
            example=example,
        )
    ref, *middle, rule = words
    if rule.lower() not in UPSELL_RULES:
        raise ParseError(
            _(
                "“{word}” is not an upsell rule: {rules}.",
                word=rule[:40],
                rules=", ".join(UPSELL_RULES),
            ),
            example=example,
            suggestions=_closest(rule, UPSELL_RULES),
        )
    phrase = " ".join(middle)
    category = _match_category(phrase, ctx.vocab)
    if category is None:
        raise ParseError(
            _("“{words}” is not a product category.", words=phrase[:60]),
            example=example,
            suggestions=_closest(phrase, ctx.vocab.categories) or ctx.vocab.categories[:5],
        )
    user = _user(ctx)
    if user is None:
        raise ParseError(
            _(
                "A claim needs to know who asks: in Slack that is you; on the command line, add"
                " {option} with your Slack user id or email.",
                option="--user",
            ),
            example=f'basebot ask "{" ".join(tokens)}" --user ann@acme.example',
        )
    return Request(
        verb=verb,
        as_of=today,
        lookup=ref,
        target=Target(kind="category", value=category, category=category),
        rule=rule.lower(),
        status=status,
        user=user,
        text=" ".join(tokens),
    )


def _mine(ctx: _Context, verb: str) -> Filter:
    mine = ctx.me.mine() if ctx.me else None
    if mine is None:
        raise ParseError(
            _(
                "“mine” needs to know who asks: in Slack that is you; on the command line, add"
                " {option} with your Slack user id or email.",
                option="--user",
            ),
            example=f'basebot ask "{verb} mine" --user ann@acme.example',
        )
    return mine


def _rank(word: str | None, ctx: _Context) -> str:
    if word is not None and word.lower() in ("revenue", "units", "unit"):
        return "units" if word.lower().startswith("unit") else "revenue"
    raise ParseError(
        _(
            "top ranks customers {by_revenue} or {by_units}.",
            by_revenue="`by revenue`",
            by_units="`by units`",
        ),
        example=f"{ctx.command} top 5 printers by units",
    )


def _count(word: str | None, ctx: _Context, verb: str) -> int:
    if word is not None and word.isdigit() and 1 <= int(word) <= MAX_TOP:
        return int(word)
    bare = COUNT in QUERIES[verb].modifiers
    raise ParseError(
        _("“top” needs a whole number from 1 to {limit}.", limit=MAX_TOP),
        example=f"{ctx.command} {'top 10 customers' if bare else 'upsell printers top 5'}",
    )


def _dimension(word: str | None, verb: str, ctx: _Context) -> str:
    spec = QUERIES[verb]
    allowed = spec.dimensions if BY in spec.modifiers else ()
    if not allowed:
        raise ParseError(
            _("{verb} has no breakdown, so “by” does not apply.", verb=verb),
            example=ctx.example(verb),
        )
    if word is None:
        raise ParseError(
            _("“by” needs a dimension: {dimensions}.", dimensions=", ".join(allowed)),
            example=f"{ctx.command} {verb} by region",
        )
    low = word.lower()
    dim = "country" if low == "countries" else singular(low)
    if dim in allowed:
        return dim
    raise ParseError(
        _(
            "I can't break {verb} down by “{word}”. Dimensions: {dimensions}.",
            verb=verb,
            word=word[:40],
            dimensions=", ".join(allowed),
        ),
        example=f"{ctx.command} {verb} by region",
        suggestions=tuple(f"by {d}" for d in _closest(low, allowed)),
    )


def _filter(word: str | None, ctx: _Context, verb: str) -> Filter:
    example = f"{ctx.example(verb)} in EMEA"
    if word is None:
        raise ParseError(
            _("“in” needs a value, such as a region, segment or country."), example=example
        )
    values = ctx.vocab.values
    if ":" in word:
        dim_word, _sep, value = word.partition(":")
        dim = singular(dim_word.lower()) if dim_word.lower() != "countries" else "country"
        if dim not in CUSTOMER_DIMENSIONS:
            raise ParseError(
                _(
                    "“{word}” is not a customer dimension: {dimensions}.",
                    word=dim_word[:40],
                    dimensions=", ".join(CUSTOMER_DIMENSIONS),
                ),
                example=f"{ctx.example(verb)} in industry:retail",
            )
        for stored in values.get(dim, ()):
            if stored.lower() == value.lower():
                return Filter(dimension=dim, value=stored, label=f"{dim}:{stored}")
        raise ParseError(
            _("No customer has {dimension} “{value}”.", dimension=dimension(dim), value=value[:40]),
            example=example,
            suggestions=tuple(f"in {dim}:{v}" for v in _closest(value, values.get(dim, ()))),
        )
    low = word.lower()
    if low in ("international", "domestic"):
        return Filter(
            dimension="country", value=ctx.home_country, negate=low == "international", label=low
        )
    hits = [
        (dim, v) for dim in CUSTOMER_DIMENSIONS for v in values.get(dim, ()) if v.lower() == low
    ]
    if len(hits) == 1:
        dim, stored = hits[0]
        return Filter(dimension=dim, value=stored, label=stored)
    if len(hits) > 1:
        raise ParseError(
            _(
                "“{word}” is a value of more than one dimension ({dimensions}): say which.",
                word=word[:40],
                dimensions=", ".join(dim for dim, _v in hits),
            ),
            example=f"{ctx.example(verb)} in {hits[0][0]}:{hits[0][1]}",
            suggestions=tuple(f"in {dim}:{v}" for dim, v in hits),
        )
    if _match_category(word, ctx.vocab) is not None:
        raise ParseError(
            _(
                "“{word}” is a product category, not a customer group: put it after the verb.",
                word=word[:40],
            ),
            example=f"{ctx.command} {verb} {word[:40]}",
        )
    every = [v for dim in CUSTOMER_DIMENSIONS for v in values.get(dim, ())]
    raise ParseError(
        _(
            "No customer group is called “{word}” (I looked at {dimensions}, and"
            " international/domestic).",
            word=word[:40],
            dimensions=", ".join(CUSTOMER_DIMENSIONS),
        ),
        example=example,
        suggestions=tuple(f"in {v}" for v in _closest(word, [*every, "international", "domestic"])),
    )


def _match_category(phrase: str, vocab: Vocabulary) -> str | None:
    low = phrase.lower()
    for c in vocab.categories:
        if c.lower() == low or singular(c.lower()) == singular(low):
            return c
    return None


def _target(phrase: str, ctx: _Context, verb: str) -> Target:
    vocab = ctx.vocab
    category = _match_category(phrase, vocab)
    if category is not None:
        return Target(kind="category", value=category, category=category)
    low = phrase.lower()
    for match in (
        lambda p: p.sku.lower() == low,
        lambda p: p.name.lower() == low,
        lambda p: singular(p.name.lower()) == singular(low),
    ):
        for p in vocab.products:
            if match(p):
                return Target(kind="product", value=p.sku, category=p.category)
    close = _closest(phrase, vocab.categories) or vocab.categories[:5]
    return _unknown_target(phrase, ctx, verb, close)


def _unknown_target(phrase: str, ctx: _Context, verb: str, close: tuple[str, ...]) -> Target:
    problem = (
        _(
            "I don't know a category or product called “{words}”. Known categories: {known}.",
            words=phrase[:60],
            known=", ".join(ctx.vocab.categories[:12]),
        )
        if ctx.vocab.categories
        else _("I don't know a category or product called “{words}”.", words=phrase[:60])
    )
    raise ParseError(
        problem,
        example=f"{ctx.command} {verb} {close[0] if close else 'printers'}",
        suggestions=close,
    )
