"""The message catalogs (SPEC §11): every message the code marks has a translation in every
language, with the same placeholders and all its plural forms, and Babel compiles them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, KEYWORDS, LANGUAGES, LOCALES

ROOT = Path(__file__).parent.parent
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MessageId = str | tuple[str, str]


def _extracted() -> dict[MessageId, str]:
    """Every message the code marks, as `pybabel extract` finds it, and where."""
    found: dict[MessageId, str] = {}
    for folder in ("bot", "queries"):
        for filename, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            key = message if isinstance(message, str) else (message[0], message[1])
            found.setdefault(key, f"{folder}/{filename}")
    return found


EXTRACTED = _extracted()


def _catalog(lang: str) -> Catalog:
    with (LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def _placeholders(msgid: MessageId) -> set[str]:
    forms = (msgid,) if isinstance(msgid, str) else msgid
    return {name for form in forms for name in PLACEHOLDER.findall(form)}


def test_the_code_marks_messages() -> None:
    assert len(EXTRACTED) > 200
    assert "Installed base" in EXTRACTED


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(lang: str) -> None:
    catalog = _catalog(lang)
    problems = []
    for msgid, where in EXTRACTED.items():
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"{where}: missing: {msgid!r}")
            continue
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"{where}: fuzzy: {msgid!r}")
        if isinstance(msgid, tuple) and len(forms) != catalog.num_plurals:
            problems.append(f"{where}: {len(forms)} of {catalog.num_plurals} plural forms")
        for form in forms:
            if not form:
                problems.append(f"{where}: untranslated: {msgid!r}")
            elif set(PLACEHOLDER.findall(form)) != _placeholders(msgid):
                problems.append(f"{where}: placeholders differ: {msgid!r} → {form!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_translation_is_left_behind_by_the_code(lang: str) -> None:
    # A message the code no longer marks: `pybabel update` keeps it only as obsolete (#~).
    stale = [m.id for m in _catalog(lang) if m.id and m.id not in EXTRACTED]
    assert not stale


def test_the_template_is_what_the_code_marks() -> None:
    with (LOCALES / f"{DOMAIN}.pot").open("rb") as pot:
        template = {m.id for m in read_po(pot) if m.id}
    assert template == set(EXTRACTED), "run pybabel extract (README, Languages)"


def test_pybabel_compiles_every_catalog(tmp_path: Path) -> None:
    shutil.copytree(LOCALES, tmp_path / "locales")
    status = CommandLineInterface().run(
        ["pybabel", "-q", "compile", "-D", DOMAIN, "-d", str(tmp_path / "locales")]
    )
    assert status in (0, None)
    for lang in TRANSLATED:
        assert (tmp_path / "locales" / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").stat().st_size


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_plural_forms_are_cldr_s(lang: str) -> None:
    expected = {"de": 2, "fr": 3, "it": 3, "ro": 3, "ru": 3}[lang]
    assert _catalog(lang).num_plurals == expected
