"""Effects of a strike: fire, damage, destruction, outage counts, casualties.

Counts come from the lexicon's ``patterns`` (regular expressions per
language) over the claim's sentences and the rest of their paragraph.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Sequence

from truce.records import Effects

if TYPE_CHECKING:
    from truce.extract.analysis import Document, SentenceInfo
    from truce.extract.targets import Target

_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "один": 1, "одна": 1, "двоє": 2, "двох": 2, "троє": 3, "трьох": 3, "четверо": 4, "двое": 2, "двух": 2,
    "трое": 3, "трех": 3, "пятеро": 5, "два": 2, "две": 2, "дві": 2, "три": 3, "четыре": 4, "чотири": 4,
    "пять": 5,
}
_MULT = {"thousand": 1_000, "k": 1_000, "million": 1_000_000, "тис": 1_000, "тыс": 1_000, "млн": 1_000_000}


def parse_count(n: str, mult: str | None = None) -> int | None:
    n = n.strip().lower()
    if n in _WORD_NUMBERS:
        value: float = _WORD_NUMBERS[n]
    elif n.startswith("п") and (n.endswith("ятеро") or n.endswith("ять")):
        value = 5
    else:
        digits = re.sub(r"[\s\u00a0\u202f]", "", n)
        if re.fullmatch(r"\d{1,3}([,.]\d{3})+", digits):
            digits = re.sub(r"[,.]", "", digits)
        digits = digits.replace(",", ".")
        try:
            value = float(digits)
        except ValueError:
            return None
    if mult:
        m = mult.lower().rstrip(".")
        for k, v in _MULT.items():
            if m.startswith(k) or (k == "million" and m.startswith("мільйон")) or (k == "million" and m.startswith("миллион")):
                value *= v
                break
    return int(round(value))


def _first(patterns: Sequence[re.Pattern[str]], text: str) -> int | None:
    return _first_cached(tuple(patterns), text) if patterns else None


@functools.lru_cache(maxsize=4096)
def _first_cached(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    # a paragraph is read once per claim it holds: the counts are remembered per text
    for rx in patterns:
        m = rx.search(text)
        if m:
            got = parse_count(m.group("n"), m.groupdict().get("mult"))
            if got is not None:
                return got
    return None


def effects_for(doc: "Document", sentences: Sequence["SentenceInfo"], target: "Target") -> Effects:
    from truce.extract.analysis import SentenceInfo  # noqa: F401 - typing only

    paras = {s.sent.paragraph for s in sentences}
    scope = [s for s in doc.sentences if s.sent.paragraph in paras and s.background == sentences[0].background]
    own = " ".join(s.sent.text for s in sentences)
    wider = " ".join(s.sent.text for s in scope)
    lex_patterns = _patterns(doc)
    fire = any(s.cues.get("fire") for s in sentences) or None
    destroyed = any(s.cues.get("destroyed") for s in sentences) or None
    damage = any(s.cues.get("damage") or s.cues.get("destroyed") for s in sentences) or None
    fire_area = _first(lex_patterns.get("fire_area", ()), own)
    return Effects(
        fire=fire, damage=damage, destroyed=destroyed,
        outage_customers=_first(lex_patterns.get("outage", ()), own) or _first(lex_patterns.get("outage", ()), wider),
        killed=_first(lex_patterns.get("killed", ()), own),
        injured=_first(lex_patterns.get("injured", ()), own),
        fire_area_m2=float(fire_area) if fire_area is not None else None,
    )


def _patterns(doc: "Document") -> dict[str, list[re.Pattern[str]]]:
    return getattr(doc, "patterns", {}) or {}
