import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from truce.extract.dates import PubDate, parse_published


@pytest.fixture(scope="module")
def finders(services):
    return {lang: services.dates(lang) for lang in ("en", "uk", "ru")}


PUB = PubDate(dt.date(2024, 4, 11), "day")  # a Thursday


def first(finders, lang, text, pub=PUB):
    found = finders[lang].find(text, pub)
    assert found, f"no date in {text!r}"
    return found[0]


@pytest.mark.parametrize("lang,text,expected", [
    ("en", "on the night of April 10-11 drones attacked", "2024-04-11"),
    ("en", "on the night of 10 to 11 April", "2024-04-11"),
    ("en", "overnight on Tuesday", "2024-04-09"),
    ("en", "on March 20, the plant was hit", "2024-03-20"),
    ("en", "early on Saturday", "2024-04-06"),
    ("uk", "у ніч проти 3 лютого", "2024-02-03"),
    ("uk", "У ніч з 10 на 11 квітня", "2024-04-11"),
    ("uk", "у ніч на середу", "2024-04-10"),
    ("uk", "20 березня 2024 року", "2024-03-20"),
    ("uk", "у понеділок, 8 квітня", "2024-04-08"),
    ("ru", "в ночь на 18 марта", "2024-03-18"),
    ("ru", "В ночь с 17 на 18 марта", "2024-03-18"),
    ("ru", "в ночь на среду", "2024-04-10"),
    ("ru", "11.04.2024 в 03:40", "2024-04-11"),
])
def test_night_and_explicit_dates(finders, lang, text, expected):
    assert first(finders, lang, text).date.isoformat() == expected


@pytest.mark.parametrize("lang,text,delta", [
    ("en", "today", 0), ("en", "yesterday evening", -1), ("en", "overnight", 0),
    ("uk", "сьогодні", 0), ("uk", "вчора ввечері", -1), ("uk", "минулої ночі", 0), ("uk", "позавчора", -2),
    ("ru", "сегодня утром", 0), ("ru", "вчера вечером", -1), ("ru", "минувшей ночью", 0),
    ("en", "two days ago", -2), ("ru", "2 дня назад", -2),
])
def test_relative_dates(finders, lang, text, delta):
    d = first(finders, lang, text)
    assert d.date == PUB.date + dt.timedelta(days=delta)
    assert d.basis == "resolved_relative"


def test_date_without_year_takes_the_publication_year_or_the_year_before(finders):
    jan = PubDate(dt.date(2025, 1, 5), "day")
    assert first(finders, "en", "on December 25 the plant was hit", jan).date == dt.date(2024, 12, 25)
    assert first(finders, "en", "on April 17 the moratorium will expire", PubDate(dt.date(2025, 3, 20), "day")).date == dt.date(2025, 4, 17)


def test_no_year_is_invented_without_a_publication_date(finders):
    d = first(finders, "en", "on March 20 the plant was hit", PubDate(None, "unknown"))
    assert d.date is None
    assert finders["uk"].find("сьогодні вранці", PubDate(None, "unknown")) == []


def test_multi_day_attacks_are_intervals(finders):
    d = first(finders, "uk", "протягом трьох діб ворог атакував")
    assert d.precision == "interval" and d.date_end == PUB.date and d.date == PUB.date - dt.timedelta(days=2)


def test_month_precision(finders):
    d = first(finders, "en", "in March 2024 drones hit refineries")
    assert d.precision == "month" and d.date == dt.date(2024, 3, 1)


@pytest.mark.parametrize("value,expected,precision", [
    ("2024-04-11", "2024-04-11", "day"), ("2024-10", "2024-10-01", "month"), ("2024", "2024-01-01", "year"),
    ("2024-04-10T23:30:00Z", "2024-04-11", "day"),  # Kyiv/Moscow local date
    (None, None, "unknown"), ("Thu, 11 Apr 2024 08:00:00 +0300", "2024-04-11", "day"),
])
def test_parse_published(value, expected, precision):
    p = parse_published(value)
    assert (p.date.isoformat() if p.date else None) == expected
    assert p.precision == precision


# --- the folded text: case-sensitive patterns on lower-cased text match as case-insensitive ones do ---

def _pattern_letters(finders) -> set[str]:
    from truce.extract.dates import _NOT_LETTERS

    out: set[str] = set()
    for f in finders.values():
        for _, rx, _twin in f._patterns:
            out |= {c for c in _NOT_LETTERS.sub("", rx.pattern) if c.isalpha()}
    return out


def test_folding_matches_each_pattern_letter_where_ignoring_case_does(finders):
    import re

    from truce.extract.dates import _FOLD

    letters = _pattern_letters(finders)
    assert {"j", "y", "ж", "я", "і"} <= letters  # the month and weekday words made it in
    # and every Latin and Cyrillic letter a lexicon might add
    letters |= {chr(c) for c in range(ord("a"), ord("z") + 1)} | {chr(c) for c in range(0x430, 0x460)} | {"ґ"}
    every = "".join(map(chr, range(0x110000)))
    # a character whose lower-case form is longer makes the finder read the text as given
    kept = [len(c.lower()) == 1 for c in every]
    folded = "".join(c.lower().translate(_FOLD) if k else "\0" for c, k in zip(every, kept))
    for p in sorted(letters):
        ignoring = {m.start() for m in re.finditer(re.escape(p), every, re.IGNORECASE) if kept[m.start()]}
        assert {m.start() for m in re.finditer(re.escape(p), folded)} == ignoring, p
    for cls in (r"\w", r"\d", r"\s"):  # \b, \W, \S and look-behinds follow from these
        here = {m.start() for m in re.finditer(cls, every) if kept[m.start()]}
        assert {m.start() for m in re.finditer(cls, folded) if kept[m.start()]} == here, cls


_WORDS = ["the", "night", "of", "on", "overnight", "into", "days", "ago", "over", "last", "in", "March", "APRIL",
          "Sept", "September", "february", "Monday", "SATURDAY", "Tuesday", "yesterday", "today", "this", "week",
          "ніч", "проти", "на", "з", "березня", "КВІТНЯ", "середу", "вчора", "тому", "днів", "ночь", "с", "марта",
          "Среду", "вчера", "назад", "дней", "1", "10", "11", "2024", "2024-04-11", "11.04.2024", "3", "three",
          "ſeptember", "frıday", "İ", "Kelvin", "ᲀ", "ſ", "ı", "x", "_", "5th", "19", "20", "2020", "1.2", "04"]


@settings(max_examples=300, deadline=None)
@given(lang=st.sampled_from(["en", "uk", "ru"]),
       parts=st.lists(st.tuples(st.sampled_from(_WORDS),
                                st.sampled_from([" ", "  ", ", ", ". ", "-", "\n", " (", "’", "", "."])), max_size=14))
@example(lang="en", parts=[("on", " "), ("ſeptember", " "), ("3", " ")])
@example(lang="en", parts=[("İ", " "), ("April", " "), ("3", "")])
@example(lang="ru", parts=[("x", ""), ("11.04.2024", " "), ("1.2", "."), ("04", "."), ("2020", " ")])
@example(lang="en", parts=[("x", ""), ("3", " "), ("March", " "), ("_", ""), ("2020-01-02", "")])
def test_finding_dates_on_folded_text_finds_what_ignoring_case_finds(finders, lang, parts):
    import copy

    text = "".join(w + sep for w, sep in parts)
    f = finders[lang]
    plain = copy.copy(f)  # the same finder, its patterns always run ignoring case on the text as given
    plain._patterns = [(k, rx, None) for k, rx, _ in f._patterns]
    plain._rel = (f._rel[0], None) if f._rel is not None else None
    for pub in (PUB, PubDate(None, "unknown")):
        assert f.find(text, pub) == plain.find(text, pub)
