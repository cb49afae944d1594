"""Dates in report text, resolved against the publication date.

Handles what dateparser misses in news about night attacks: "on the night
of April 10-11", "overnight on Tuesday", "в ночь на 18 марта", "у ніч з 2 на
3 лютого", "в ночь на среду", weekdays, dates without a year, "today",
"вчора ввечері", "over three days". A night belongs to the date it ends on.
A year is only ever taken from the text or implied by the publication date;
with neither, the date stays unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

_MOSCOW = dt.timezone(dt.timedelta(hours=3))


@dataclass(frozen=True)
class PubDate:
    """The publication date as far as it is known."""

    date: dt.date | None
    precision: str  # day | month | year | unknown

    @property
    def usable(self) -> bool:
        return self.date is not None and self.precision == "day"


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    text: str
    date: dt.date | None
    date_end: dt.date | None
    precision: str  # day | month | year | week | interval
    basis: str  # explicit | resolved_relative
    night: bool = False


def parse_published(value: Any) -> PubDate:
    """ISO date, reduced precision (``2024-10``, ``2024``), datetime (converted to
    Kyiv/Moscow summer time), or a free-form date understood by dateparser."""
    got = _parse_published(value)
    # far dates (year 1, 9999) would overflow date arithmetic ("3 days ago", last Tuesday):
    # outside 1900-2100 a publication date is unknown
    if got.date is not None and not _MIN_YEAR <= got.date.year <= _MAX_YEAR:
        return PubDate(None, "unknown")
    return got


_MIN_YEAR, _MAX_YEAR = 1900, 2100


def _parse_published(value: Any) -> PubDate:
    if value is None or value == "":
        return PubDate(None, "unknown")
    if isinstance(value, dt.datetime):
        try:
            return PubDate(_local(value).date(), "day")
        except (OverflowError, ValueError):
            return PubDate(None, "unknown")
    if isinstance(value, dt.date):
        return PubDate(value, "day")
    if not isinstance(value, str) or len(value) > 100:
        return PubDate(None, "unknown")
    s = value.strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", s)
    if m:
        y, mo, d = m.groups()
        try:
            if d:
                return PubDate(dt.date(int(y), int(mo), int(d)), "day")
            if mo:
                return PubDate(dt.date(int(y), int(mo), 1), "month")
            return PubDate(dt.date(int(y), 1, 1), "year")
        except ValueError:
            return PubDate(None, "unknown")
    try:
        return PubDate(_local(dt.datetime.fromisoformat(s.replace("Z", "+00:00"))).date(), "day")
    except (ValueError, OverflowError):
        pass
    parsed = _dateparser(s)
    return PubDate(parsed, "day") if parsed else PubDate(None, "unknown")


def _local(d: dt.datetime) -> dt.datetime:
    # Kyiv and Moscow share UTC+3 for most of the year; an hour's difference in
    # winter never moves a date that matters at day precision for a night strike.
    return d.astimezone(_MOSCOW) if d.tzinfo else d


@lru_cache(maxsize=4096)
def _dateparser(s: str) -> dt.date | None:
    import dateparser

    try:
        r = dateparser.parse(s, languages=["en", "uk", "ru"], settings={"PREFER_DATES_FROM": "past"})
        return _local(r).date() if r else None
    except (ValueError, OverflowError, TypeError, RecursionError):  # dateparser on hostile strings
        return None


class DateFinder:
    """Compiled date patterns for one language (from the lexicon's ``dates`` words)."""

    def __init__(self, lang: str, words: dict[str, Any]):
        self.lang = lang
        self.month_of: dict[str, int] = {}
        for num, forms in words["months"].items():
            for f in forms:
                self.month_of[f.lower()] = int(num)
        self.weekday_of: dict[str, int] = {}
        for num, forms in words["weekdays"].items():
            for f in forms:
                self.weekday_of[f.lower().replace("’", "'")] = int(num)
        self.numbers = {k.lower(): int(v) for k, v in (words.get("numbers") or {}).items()}
        M = _alt(self.month_of)
        W = _alt(self.weekday_of)
        D = r"(?P<d>\d{1,2})(?:st|nd|rd|th|-?го|-?го|-?е)?"
        D1 = r"(?P<d1>\d{1,2})(?:st|nd|rd|th|-?го)?"
        Y = r"(?:,?\s*(?P<y>(?:19|20)\d{2})(?:\s*(?:року|р\.|года|г\.|рік|год))?)?"
        N = _alt(self.numbers) + r"|\d+"
        DW = _alt({w.lower(): 1 for w in words.get("days_word") or ["days"]})
        AGO = _alt({w.lower(): 1 for w in words.get("ago") or ["ago"]})
        pats: list[tuple[str, str]] = []
        # two days sharing one month come first, before either is read alone
        if lang == "en":
            pats += [("date_pair", rf"\b(?P<m>{M})\.?\s+{D1}\s*(?:and|,|&)\s*{D}\b{Y}"),
                     ("date_pair", rf"\b{D1}\s*(?:and|,|&)\s*{D}\s+(?:of\s+)?(?P<m>{M})\b{Y}")]
        else:
            pats += [("date_pair", rf"(?<![\d.]){D1}\s*(?:та|і|й|и|,)\s*(?:на\s+|проти\s+)?{D}\s+(?P<m>{M}){Y}")]
        if lang == "en":
            pats += [
                ("night_range", rf"\b(?:on\s+|during\s+|in\s+)?the\s+night\s+(?:of|from|between)\s+{D1}\s*(?:to|into|and|-|–|—)\s*{D}\s+(?P<m>{M})\b{Y}"),
                ("night_range", rf"\b(?:on\s+|during\s+|in\s+)?the\s+night\s+(?:of|from|between)\s+(?P<m>{M})\s+{D1}\s*(?:to|into|and|-|–|—)\s*{D}\b{Y}"),
                ("night_date", rf"\b(?:on\s+|during\s+)?the\s+night\s+(?:of|to|into)\s+{D}\s+(?P<m>{M})\b{Y}"),
                ("night_date", rf"\b(?:on\s+|during\s+)?the\s+night\s+(?:of|to|into)\s+(?P<m>{M})\s+{D}\b{Y}"),
                ("night_date", rf"\bovernight\s+(?:on|into|to)\s+(?:\w+day,?\s+)?{D}\s+(?P<m>{M})\b{Y}"),
                ("night_date", rf"\bovernight\s+(?:on|into|to)\s+(?:\w+day,?\s+)?(?P<m>{M})\s+{D}\b{Y}"),
                ("night_weekday", rf"\b(?:overnight|(?:during\s+)?the\s+night)\s+(?:on|into|to|of)\s+(?P<w>{W})\b"),
                ("weekday_night", rf"\b(?:on\s+|late\s+on\s+|early\s+on\s+)?(?P<w>{W})\s+night\b"),
                ("date", rf"\b{D}\s+(?:of\s+)?(?P<m>{M})\b\.?{Y}"),
                ("date", rf"\b(?P<m>{M})\.?\s+{D}\b{Y}"),
            ]
        else:
            NIGHT = r"(?:у|в)\s+ніч|(?:в|во)\s+ночь|(?:у|в)\s+ночі"
            pats += [
                ("night_range", rf"(?:{NIGHT})\s+(?:з|с|со)\s+{D1}\s+(?:на|проти|по)\s+{D}\s+(?P<m>{M}){Y}"),
                ("night_range", rf"(?:{NIGHT})\s+(?:з|с|со)\s+{D1}\s+(?P<m1>{M})\s+(?:на|проти|по)\s+{D}\s+(?P<m>{M}){Y}"),
                ("night_date", rf"(?:{NIGHT})\s+(?:на|проти)\s+{D}\s+(?P<m>{M}){Y}"),
                ("night_weekday", rf"(?:{NIGHT})\s+(?:(?:з|с|со)\s+\S+\s+)?(?:на|проти)\s+(?P<w>{W})"),
                ("date", rf"(?<![\d.]){D}\s+(?P<m>{M}){Y}"),
            ]
        pats += [
            ("iso", r"\b(?P<y>(?:19|20)\d{2})-(?P<mn>\d{2})-(?P<d>\d{2})\b"),
            ("numeric", r"(?<![\d.])(?P<d>\d{1,2})\.(?P<mn>\d{1,2})\.(?P<y>(?:19|20)\d{2})\b"),
            ("month_year", rf"\b(?P<m>{M})\s+(?P<y>(?:19|20)\d{{2}})\b"),
            ("month", rf"\b(?:in|since|from|until|by|during|early|late|mid)[-\s]+(?P<m>{M})\b" if lang == "en" else rf"(?:^|\s)(?:у|в|на початку|наприкінці|в начале|в конце|в середине|в середині)\s+(?P<m>{M})(?=[\s,.;:!?]|$)"),
            ("ago", rf"\b(?P<n>{N})\s+(?:{DW})\s+(?:{AGO})\b"),
            ("over_days", r"\b(?:over|during|for)\s+(?:the\s+(?:past|last)\s+)?(?P<n>" + N + r")\s+(?:days|nights)\b" if lang == "en"
             else r"(?:протягом|впродовж|за|в течение|на протяжении)\s+(?:(?:останніх|последних)\s+)?(?P<n>" + N + r")\s+(?:діб|доби|днів|суток|дней|ночей|ночей)"),
            ("weekday", rf"(?:\b(?:on|last|this|early\s+on|late\s+on)\s+|(?:^|\s)(?:у|в|во|минулого|минулої|в минулий|в прошлый|в прошлую)\s+)(?P<w>{W})\b"),
        ]
        # words without one of which a kind of pattern cannot match: checked on the whole text first
        night = ("night",) if lang == "en" else ("ніч", "ноч")
        self._needs: dict[str, tuple[str, ...]] = {
            "night_range": night, "night_date": night, "night_weekday": night, "weekday_night": night,
            "ago": tuple(w.lower() for w in words.get("ago") or ["ago"]),
            "over_days": ("days", "nights") if lang == "en" else ("діб", "доби", "днів", "суток", "дней", "ночей")}
        self._rel_key: dict[str, str] = {}
        for key in ("day_before_yesterday", "yesterday", "today", "night", "this_week", "last_week"):
            for w in words.get(key) or []:
                self._rel_key.setdefault(_squash(w), key)
        alts = "|".join(re.escape(w).replace("\\ ", r"\s+") for w in sorted(self._rel_key, key=len, reverse=True))
        # Each pattern twice: case-insensitive for the text as given, and case-sensitive for the
        # text folded to lower case (where folding keeps every offset), which the engine scans
        # about a fifth faster (an alternative's first letter is tested in place); same matches, tested.
        self._patterns = [(kind, re.compile(p, re.IGNORECASE), _folded_twin(p)) for kind, p in pats]
        self._wd_before = re.compile(rf"\b(?P<w>{W})\W{{0,3}}$", re.IGNORECASE)
        self._wd_after = re.compile(rf"\W{{0,3}}(?P<w>{W})\b", re.IGNORECASE)
        # one look-behind up front: the engine skips mid-word positions before trying alternatives
        rel = rf"(?<!\w)(?:{alts})(?!\w)"
        self._rel = (re.compile(rel, re.IGNORECASE), _folded_twin(rel)) if alts else None

    def find(self, text: str, pub: PubDate) -> list[DateMention]:
        found: list[DateMention] = []
        taken: list[tuple[int, int]] = []

        def free(a: int, b: int) -> bool:
            return all(b <= s or a >= e for s, e in taken)

        low = text.lower()
        folded = low.translate(_FOLD) if len(low) == len(text) else None
        has_month = any(w in low for w in self.month_of)
        has_weekday = any(w in low for w in self.weekday_of)
        for kind, rx, twin in self._patterns:
            # cheap guards: most patterns need a month or weekday word to match at all
            if kind in _NEEDS_MONTH and not has_month:
                continue
            if kind in _NEEDS_WEEKDAY and not has_weekday:
                continue
            needs = self._needs.get(kind)
            if needs is not None and not any(w in low for w in needs):
                continue
            for m in _scan(rx, twin, text, folded):
                if not free(m.start(), m.end()):
                    continue
                if kind == "date_pair":
                    pair = self._pair(m, pub, text)
                    if pair:
                        found += pair
                        taken.append((m.start(), m.end()))
                    continue
                dm = self._resolve(kind, m, pub, text)
                if dm is not None:
                    found.append(dm)
                    taken.append((m.start(), m.end()))
        if self._rel is not None:
            days = [(x.start, x.end) for x in found if x.precision == "day"]
            for m in _scan(*self._rel, text, folded):
                if not free(m.start(), m.end()):
                    continue
                key = self._rel_key.get(_squash(text[m.start():m.end()]))
                if key is None:
                    continue
                if key in ("today", "night") and any(
                        (0 <= a - m.end() <= 12 and not _BREAK.search(text, m.end(), a))
                        or (0 <= m.start() - b <= 3 and not _BREAK.search(text, b, m.start())) for a, b in days):
                    continue  # "вранці у понеділок", "увечері 21 серпня": the time of day of the day named
                dm = self._relative(key, m.start(), m.end(), text, pub)
                if dm is not None:
                    found.append(dm)
                    taken.append((m.start(), m.end()))
        found.sort(key=lambda d: d.start)
        return found

    # --- resolution ---------------------------------------------------------------

    def _resolve(self, kind: str, m: re.Match[str], pub: PubDate, text: str) -> DateMention | None:
        g = _groups(m, text)
        s, e, txt = m.start(), m.end(), text[m.start():m.end()]
        if kind in ("date", "night_date", "night_range", "iso", "numeric"):
            month = int(g["mn"]) if g.get("mn") else self.month_of.get((g.get("m") or "").lower().rstrip("."))
            if not month:
                return None
            try:
                day = int(g["d"])
            except (TypeError, ValueError):
                return None
            year = int(g["y"]) if g.get("y") else _infer_year(month, day, pub)
            if year is None:
                year = self._year_of_weekday(m, month, day, text)
            if year is None:
                return DateMention(s, e, txt, None, None, "day", "explicit", kind.startswith("night"))
            try:
                d = dt.date(year, month, day)
            except ValueError:
                return None
            basis = "explicit" if g.get("y") else "resolved_relative"
            return DateMention(s, e, txt, d, None, "day", basis, kind.startswith("night"))
        if kind in ("night_weekday", "weekday_night", "weekday"):
            wd = self.weekday_of.get((g.get("w") or "").lower().replace("’", "'"))
            if wd is None or not pub.usable:
                return None
            d = _last_weekday(pub.date, wd)  # type: ignore[arg-type]
            return DateMention(s, e, txt, d, None, "day", "resolved_relative", kind != "weekday")
        if kind in ("month_year", "month"):
            month = self.month_of.get((g.get("m") or "").lower().rstrip("."))
            if not month:
                return None
            year = int(g["y"]) if g.get("y") else _infer_year(month, 1, pub, month_only=True)
            if year is None:
                return None
            return DateMention(s, e, txt, dt.date(year, month, 1), None, "month",
                               "explicit" if g.get("y") else "resolved_relative")
        if kind in ("ago", "over_days"):
            n = _number(g.get("n"), self.numbers)
            if n is None or not pub.usable or n > 60:
                return None
            base: dt.date = pub.date  # type: ignore[assignment]
            if kind == "ago":
                return DateMention(s, e, txt, base - dt.timedelta(days=n), None, "day", "resolved_relative")
            return DateMention(s, e, txt, base - dt.timedelta(days=n - 1), base, "interval", "resolved_relative")
        return None

    def _year_of_weekday(self, m: re.Match[str], month: int, day: int, text: str) -> int | None:
        """With no publication date, "on Sunday, 14 September" fixes the year: the latest
        year of the war (since 2014) in which that day falls on that weekday."""
        near = self._wd_before.search(text[max(0, m.start() - 16):m.start()]) or self._wd_after.match(text, m.end())
        if near is None:
            return None
        wd = self.weekday_of.get(near.group("w").lower().replace("’", "'"))
        if wd is None:
            return None
        for y in range(dt.date.today().year, 2013, -1):
            try:
                if dt.date(y, month, day).weekday() == wd:
                    return y
            except ValueError:
                return None
        return None

    def _pair(self, m: re.Match[str], pub: PubDate, text: str) -> list[DateMention]:
        """Two days sharing one month ("на 13 та на 6 серпня"): a mention for each, nights when
        the phrase opens with a night ("в ніч на 13 та на 6 серпня")."""
        g = _groups(m, text)
        month = self.month_of.get((g.get("m") or "").lower().rstrip("."))
        if not month:
            return []
        before = text[max(0, m.start() - 20):m.start()]
        night = bool(re.search(r"(?:ніч|ночь|night)\W*(?:\w+\W+){0,2}$", before, re.I))
        if night and re.search(r"night\s+(?:of|between|from)\s*$", before, re.I):
            # "the night of 12 and 13 March" is one night, ending on the 13th
            d2 = self._resolve("night_date", m, pub, text)
            return [d2] if d2 is not None else []
        out = []
        for grp in ("d1", "d"):
            try:
                day = int(g[grp])
            except (TypeError, ValueError):
                return []
            year = int(g["y"]) if g.get("y") else _infer_year(month, day, pub)
            try:
                d = dt.date(year, month, day) if year else None
            except ValueError:
                return []
            a, b = m.span(grp)
            if grp == "d":
                b = m.end()
            out.append(DateMention(a, b, text[a:b], d, None, "day", "explicit" if g.get("y") else "resolved_relative", night))
        return out

    def _relative(self, key: str, s: int, e: int, text: str, pub: PubDate) -> DateMention | None:
        if not pub.usable:
            return None
        base: dt.date = pub.date  # type: ignore[assignment]
        txt = text[s:e]
        if key == "today":
            return DateMention(s, e, txt, base, None, "day", "resolved_relative")
        if key == "night":
            return DateMention(s, e, txt, base, None, "day", "resolved_relative", True)
        if key == "yesterday":
            return DateMention(s, e, txt, base - dt.timedelta(days=1), None, "day", "resolved_relative")
        if key == "day_before_yesterday":
            return DateMention(s, e, txt, base - dt.timedelta(days=2), None, "day", "resolved_relative")
        if key == "this_week":
            start = base - dt.timedelta(days=base.weekday())
            return DateMention(s, e, txt, start, base, "week", "resolved_relative")
        if key == "last_week":
            start = base - dt.timedelta(days=base.weekday() + 7)
            return DateMention(s, e, txt, start, start + dt.timedelta(days=6), "week", "resolved_relative")
        return None


_BREAK = re.compile(r"[.!?;]")  # "… overnight. Two days ago …": the next sentence names another day
_NEEDS_MONTH = frozenset({"date", "night_date", "night_range", "month_year", "month", "date_pair"})
_NEEDS_WEEKDAY = frozenset({"night_weekday", "weekday_night", "weekday"})


def _alt(words: dict[str, Any]) -> str:
    # a look-ahead on the first letters lets the engine skip most positions before trying the alternatives
    # (lower case only: the patterns also run case-sensitively on folded text; see _folded_twin)
    firsts = sorted({w[0].lower() for w in words if w})
    head = f"(?=[{''.join(re.escape(ch) for ch in firsts)}])" if firsts else ""
    return head + "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


# Characters whose lower-case form is not the letter a case-insensitive pattern matches them to
# ("ſ" matches "s", "ı" matches "i", the old Cyrillic "ᲀ" matches "в"): folded to that letter, one for
# one, so the folded text keeps every offset. tests/test_dates.py checks, over every code point, that
# a lower-case letter matches the folded text where it matches the text ignoring case.
_FOLD = str.maketrans({c: c.upper().lower() for c in "ıſẛᲀᲁᲂᲃᲄᲅᲆᲇᲈςϐϑϕϖϰϱϵµι"})
_NOT_LETTERS = re.compile(r"\\.|\(\?P")  # escapes, and the P of named groups


def _folded_twin(pattern: str) -> re.Pattern[str] | None:
    """The pattern compiled case-sensitively for folded text, if its letters are all lower case
    (``\\S`` and ``(?P<m>`` hold none); else None, and the pattern runs ignoring case."""
    bare = _NOT_LETTERS.sub("", pattern)
    return re.compile(_digit_first(pattern)) if bare == bare.lower() else None


# A pattern that opens on an assertion and a digit (\b before "12 March", (?<![\d.]) before "11.04.2024") is
# tried by the engine at every position of a text; one that opens on the digit itself lets it
# skip to the digits (three times as fast). The assertion moves behind the first digit, widened
# by that digit: the same matches (tests/test_dates.py compares with the patterns as written).
_DIGIT_OPENINGS = [
    (re.compile(r"^\\b\(\?P<(\w+)>\\d\{1,2\}\)"), r"(?P<\1>\\d(?<!\\w\\d)\\d?)"),
    (re.compile(r"^\(\?<!\[\\d\.\]\)\(\?P<(\w+)>\\d\{1,2\}\)"), r"(?P<\1>\\d(?<![\\d.]\\d)\\d?)"),
    (re.compile(r"^\\b\(\?P<(\w+)>\(\?:19\|20\)"), r"(?P<\1>(?:1(?<!\\w1)9|2(?<!\\w2)0)"),
]


def _digit_first(pattern: str) -> str:
    for opening, replacement in _DIGIT_OPENINGS:
        pattern = opening.sub(replacement, pattern, count=1)
    return pattern


def _scan(rx: re.Pattern[str], twin: re.Pattern[str] | None, text: str,
          folded: str | None) -> Iterator[re.Match[str]]:
    """The matches of a pattern: its twin's on the folded text where both exist, else its own
    (ignoring case) on the text as given; offsets are the same either way."""
    return twin.finditer(folded) if twin is not None and folded is not None else rx.finditer(text)


def _groups(m: re.Match[str], text: str) -> dict[str, Any]:
    """A match's named groups read from ``text`` (the text as given, where ``m`` ran on its folded twin)."""
    out: dict[str, Any] = {}
    for name in m.re.groupindex:
        a, b = m.span(name)
        out[name] = text[a:b] if a >= 0 else None
    return out


def _squash(w: str) -> str:
    return " ".join(w.lower().replace("’", "'").split())


def _number(v: str | None, table: dict[str, int]) -> int | None:
    if not v:
        return None
    if v.isdigit():
        return int(v)
    return table.get(v.lower())


def _last_weekday(base: dt.date, wd: int) -> dt.date:
    return base - dt.timedelta(days=(base.weekday() - wd) % 7)


def _infer_year(month: int, day: int, pub: PubDate, *, month_only: bool = False) -> int | None:
    """The year that puts the date closest to, and not well after, publication."""
    if pub.date is None or pub.precision == "unknown":
        return None
    if pub.precision == "year":
        return pub.date.year
    y = pub.date.year
    try:
        d = dt.date(y, month, min(day, 28) if month_only else day)
    except ValueError:
        return None
    # A date more than ~2 months after publication is read as last year's
    # (a January report recalling "December"); forecasts ("will expire on 17
    # April") stay in the publication year.
    if (d - pub.date).days > 62:
        return y - 1
    return y


def to_iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None
