"""The command language of SPEC §3: what parses to what, and what each mistake is told."""

from __future__ import annotations

from datetime import date

import pytest

from bot.parsing import ParseError, parse, singular
from queries.request import Filter, Target
from queries.vocabulary import ProductWord, Vocabulary

TODAY = date(2026, 6, 30)
VOCAB = Vocabulary(
    categories=("copiers", "printers", "service", "toner"),
    products=(
        ProductWord("PRN-400", "LaserPro 400", "printers"),
        ProductWord("CPY-1", "Printers", "copiers"),  # a product named like a category
        ProductWord("TON-BK", "Black Toner Cartridge", "toner"),
    ),
    values={
        "segment": ("business", "government", "consumer"),
        "channel": ("direct", "indirect"),
        "industry": ("retail", "wholesale"),
        "region": ("EMEA", "AMER", "APAC"),
        "country": ("US", "DE", "FR"),
        # "retail" in two dimensions must be qualified.
    },
)
CLASH = Vocabulary(
    categories=VOCAB.categories,
    products=VOCAB.products,
    values=VOCAB.values | {"channel": ("direct", "retail")},
)


def p(text: str, vocab: Vocabulary = VOCAB):  # type: ignore[no-untyped-def]
    return parse(text, vocab, today=TODAY, home_country="US")


def error(text: str, vocab: Vocabulary = VOCAB) -> ParseError:
    with pytest.raises(ParseError) as info:
        p(text, vocab)
    assert "For example: /base " in info.value.message
    return info.value


@pytest.mark.parametrize("word", ["printers", "printer", "Printers", "PRINTER", "/base printers"])
def test_category_in_any_case_or_number(word: str) -> None:
    text = f"installed {word}" if not word.startswith("/") else "/base installed printers"
    req = p(text)
    assert req.verb == "installed"
    assert req.target == Target(kind="category", value="printers", category="printers")


def test_a_category_wins_over_a_product_of_the_same_name() -> None:
    assert p("customers printers").target == Target(
        kind="category", value="printers", category="printers"
    )


def test_products_by_sku_or_name() -> None:
    assert p("installed prn-400").target == Target(
        kind="product", value="PRN-400", category="printers"
    )
    assert p("installed laserpro 400").target == Target(
        kind="product", value="PRN-400", category="printers"
    )
    assert p('top "black toner cartridges"').target == Target(
        kind="product", value="TON-BK", category="toner"
    )


def test_modifiers_in_any_order() -> None:
    req = p("installed by region printers in government as of 2026-01-31 in EMEA public csv")
    assert req.by == "region"
    assert req.as_of == date(2026, 1, 31)
    assert req.filters == (
        Filter(dimension="segment", value="government", label="government"),
        Filter(dimension="region", value="EMEA", label="EMEA"),
    )
    assert (req.public, req.csv) == (True, True)
    assert p("customers by Regions").by == "region"
    assert p("installed").as_of == TODAY


def test_in_values_are_case_insensitive_and_resolve_to_stored_values() -> None:
    assert p("customers in emea").filters[0].value == "EMEA"
    assert p("customers in de").filters[0] == Filter(dimension="country", value="DE", label="DE")
    intl = p("customers in international").filters[0]
    assert (intl.dimension, intl.value, intl.negate) == ("country", "US", True)
    home = p("customers in domestic").filters[0]
    assert (home.value, home.negate) == ("US", False)


def test_a_value_of_two_dimensions_must_be_qualified() -> None:
    err = error("customers in retail", CLASH)
    assert "more than one dimension" in err.message
    assert "in industry:retail" in err.suggestions and "in channel:retail" in err.suggestions
    assert p("customers in industry:retail", CLASH).filters[0].dimension == "industry"


def test_unknown_target_names_the_closest_categories() -> None:
    err = error("installed printrs")
    assert err.suggestions[0] == "printers"
    assert "Known categories: copiers, printers, service, toner" in err.message


def test_top_upsell_and_rules() -> None:
    req = p("top 5 printers by units")
    assert (req.verb, req.top, req.rank_by, req.target_name) == ("top", 5, "units", "printers")
    assert p("top 10 customers").top == 10
    req = p("upsell printers service top 3")
    assert (req.rule, req.top, req.target_name) == ("service", 3, "printers")
    assert p("upsell aging").rule == "aging"


def test_upsell_since_a_day_before_the_answers_own() -> None:
    req = p("upsell printers since 2026-05-31 service")
    assert (req.since, req.rule, req.as_of) == (date(2026, 5, 31), "service", TODAY)
    req = p("upsell since 2026-01-01 as of 2026-03-01 top 5")
    assert (req.since, req.as_of, req.top) == (date(2026, 1, 1), date(2026, 3, 1), 5)
    assert p("upsell since yesterday").since == date(2026, 6, 29)
    assert p("upsell printers").since is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("upsell printers since", "“since” needs a date (YYYY-MM-DD)."),
        ("upsell printers since 2026-02-30", "“2026-02-30” is not a date I can read"),
        ("upsell printers since last week", "“last” is not a date I can read"),
        ("upsell printers since 2026-06-30", "“since” needs a day before Jun 30, 2026"),
        ("upsell printers since 2026-07-01", "“since” needs a day before Jun 30, 2026"),
        ("upsell since 2026-03-01 as of 2026-03-01", "“since” needs a day before Mar 1, 2026"),
        ("upsell since today", "“since” needs a day before Jun 30, 2026"),
        ("installed printers since 2026-05-01", "“since” works with upsell, not with installed"),
    ],
)
def test_since_mistakes_say_what_was_wrong_and_how_to_say_it(text: str, says: str) -> None:
    err = error(text)
    assert says in err.message
    # The example works: a day 30 days before the answer's date.
    assert err.example.startswith("/base upsell printers service since ")
    example = p(err.example.removeprefix("/base "))
    assert example.since is not None and example.since < example.as_of


def test_customer_lookup_keeps_the_name_whole() -> None:
    req = p("customer Bits by Design in Berlin as of 2026-01-01 public")
    assert (req.lookup, req.as_of, req.public) == (
        "Bits by Design in Berlin",
        date(2026, 1, 1),
        True,
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("instaled printers", "I don't know the command"),
        ("installed printers as of 2026-13-01", "not a date"),
        ("installed printers as of", "needs a date"),
        ("installed by colour", "can't break installed down"),
        ("installed by", "needs a dimension"),
        ("compare by region", "has no breakdown"),
        ("loyal by category", "can't break loyal down"),
        ("installed in Narnia", "No customer group"),
        ("installed in printers", "is a product category"),
        ("customers in planet:mars", "not a customer dimension"),
        ("customers in region:mars", "No customer has region"),
        ("top 0", "whole number from 1"),
        ("top 5 by colour", "`by revenue` or `by units`"),
        ("installed top 5", "works with top, upsell"),
        ("health printers", "takes no target"),
        ("customer", "which customer"),
        ('customer "Acme', "quote is not closed"),
        ("x" * 1001, "the limit is 1,000"),
    ],
)
def test_every_mistake_gets_a_reason_and_an_example(text: str, says: str) -> None:
    assert says in error(text).message


def test_help_and_empty() -> None:
    assert p("").verb == "help"
    assert p("help").verb == "help"
    assert p("HELP").verb == "help"


@pytest.mark.parametrize(
    "text",
    [
        "installed printers'; DROP TABLE customers; --",
        "customer ' OR 1=1 --",
        "installed 🖨️ in 🌍",
        "installed \x00\x07printers\x1b",
        "in in in by by as of of",
        "top 99999999999999999999999",
    ],
)
def test_hostile_text_is_an_error_or_a_request(text: str) -> None:
    try:
        p(text)
    except ParseError as exc:
        assert exc.message


def test_singular() -> None:
    assert [singular(w) for w in ("printers", "batteries", "boxes", "glass", "laser printers")] == [
        "printer",
        "battery",
        "box",
        "glass",
        "laser printer",
    ]
