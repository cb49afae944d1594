"""Filters over incidents and findings, and the reading of dates: one query object for the
command line and (next) the web API, so both select exactly the same things.

:class:`Filters` holds what a reader asks for (a period, countries, regions, facilities,
asset types, grades, verdicts, agreements); :func:`parse_day` reads a date the way a person
types it and says what it understood when the form was not ISO 8601;
:func:`check_known` turns an unknown id into one line that lists the known ones.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

from truce.errors import PipelineError
from truce.records import FACILITY_TYPES, GRADES, VERDICTS, Finding

# the order a mediator reads findings in: violations and contested first, not covered last
VERDICT_ORDER = ("consistent_with_violation", "contested", "alleged", "indeterminate", "not_covered")
COUNTRIES = ("UA", "RU")


class QueryError(PipelineError):
    """A filter value that cannot be used: an impossible date, an unknown id."""


# --- dates ---------------------------------------------------------------------------------

# (pattern, group order, how the form is read); ISO 8601 first, then the forms people type.
# Day-first forms are read day-first (as in Ukraine, Russia and most of Europe); a slashed
# date whose day and month could be swapped is refused rather than guessed.
_NUMERIC: tuple[tuple[str, str, str], ...] = (
    (r"(\d{4})-(\d{1,2})-(\d{1,2})", "ymd", ""),
    (r"(\d{1,2})\.(\d{1,2})\.(\d{4})", "dmy", "day.month.year"),
    (r"(\d{4})/(\d{1,2})/(\d{1,2})", "ymd", "year/month/day"),
    (r"(\d{4})\.(\d{1,2})\.(\d{1,2})", "ymd", "year.month.day"),
    (r"(\d{1,2})/(\d{1,2})/(\d{4})", "dmy?", "day/month/year"),
    (r"(\d{1,2})-(\d{1,2})-(\d{4})", "dmy", "day-month-year"),
    (r"(\d{4})-(\d{1,2})", "ym", "a month"),
    (r"(\d{4})", "y", "a year"),
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _month_end(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def _build(text: str, year: int, month: int, day: int) -> dt.date:
    if not 1 <= month <= 12:
        raise QueryError(f"{text!r} is not a date: there is no month {month}")
    if not 1 <= year <= 9999:
        raise QueryError(f"{text!r} is not a date: year {year} is out of range")
    last = _month_end(year, month)
    if not 1 <= day <= last:
        raise QueryError(f"{text!r} is not a date: {_MONTHS[month - 1]} {year} has {last} days")
    return dt.date(year, month, day)


def parse_day(text: str, *, end: bool = False, today: dt.date | None = None) -> tuple[dt.date, str | None]:
    """A date as typed → (the day, how a non-ISO form was read, or None for ISO 8601).

    ``2025-03-01`` is ISO; ``01.03.2025``, ``1-3-2025``, ``2025/03/01``, ``2025.03.01`` and an
    unambiguous ``25/03/2025`` are read day-first or year-first as written; ``2025-03`` and
    ``2025`` are the first day of the month or year, or the last with ``end`` (a ``--to``);
    ``today``, ``yesterday``, ``3 days ago``, ``1 March 2025``, ``вчора``, ``1 березня 2025`` are
    read by dateparser relative to ``today``. An impossible date (``2025-02-30``), an
    ambiguous one (``01/03/2025``) or anything else raises :class:`QueryError` with one line."""
    s = (text or "").strip()
    if not s:
        raise QueryError("empty date (use YYYY-MM-DD)")
    for pattern, order, form in _NUMERIC:
        m = re.fullmatch(pattern, s)
        if not m:
            continue
        nums = [int(g) for g in m.groups()]
        if order == "ymd":
            day = _build(s, nums[0], nums[1], nums[2])
        elif order == "dmy":
            day = _build(s, nums[2], nums[1], nums[0])
        elif order == "dmy?":
            a, b, y = nums
            if a <= 12 and b <= 12 and a != b:
                raise QueryError(f"{s!r} is ambiguous: {a} {_MONTHS[b - 1]} or {b} {_MONTHS[a - 1]}? "
                                 f"Write {y:04d}-{b:02d}-{a:02d} or {y:04d}-{a:02d}-{b:02d}")
            if b > 12 >= a:  # month/day/year, as written in the United States
                day, form = _build(s, y, a, b), "month/day/year"
            else:
                day = _build(s, y, b, a)
        elif order == "ym":
            first = _build(s, nums[0], nums[1], 1)
            day = first.replace(day=_month_end(first.year, first.month)) if end else first
            form = f"{'the last' if end else 'the first'} day of {_MONTHS[first.month - 1]} {first.year}"
        else:
            day = _build(s, nums[0], 12, 31) if end else _build(s, nums[0], 1, 1)
            form = f"{'the last' if end else 'the first'} day of {nums[0]}"
        return day, (form or None)
    return _words(s, today or dt.date.today())


def _words(s: str, today: dt.date) -> tuple[dt.date, str]:
    if re.fullmatch(r"[\d\s./:-]+", s):
        raise QueryError(f"{s!r} is not a date (use YYYY-MM-DD)")
    import dateparser

    def read(base: dt.date) -> dt.datetime | None:
        got: dt.datetime | None = dateparser.parse(
            s, languages=["en", "uk", "ru"],
            settings={"RELATIVE_BASE": dt.datetime.combine(base, dt.time(12)), "DATE_ORDER": "DMY",
                      "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False,
                      "REQUIRE_PARTS": ["day", "month", "year"]})
        return got

    got = read(today)
    if got is None:
        raise QueryError(f"{s!r} is not a date (use YYYY-MM-DD)")
    elsewhere = read(today - dt.timedelta(days=400))
    relative = elsewhere is None or elsewhere.date() != got.date()
    return got.date(), (f"relative to today, {today.isoformat()}" if relative else "a written-out date")


# --- ids --------------------------------------------------------------------------------------

def check_known(what: str, given: Iterable[str], known: Iterable[str], *, show: int = 12) -> None:
    """Raise one line for the first id in ``given`` that is not ``known``, listing the known ids
    (or, when there are many, the closest ones)."""
    pool = sorted(set(known))
    for g in given:
        if g in pool:
            continue
        if not pool:
            raise QueryError(f"unknown {what} {g!r}: none are known here")
        if len(pool) <= show:
            raise QueryError(f"unknown {what} {g!r}; known: {', '.join(pool)}")
        close = difflib.get_close_matches(g, pool, n=5, cutoff=0.4) or [p for p in pool if g.lower() in p.lower()][:5]
        raise QueryError(f"unknown {what} {g!r}; " + (f"closest: {', '.join(close)} " if close else "")
                         + f"({len(pool)} known)")


def region_names(rows: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Every way to name a region (ISO 3166-2 code, English, Ukrainian, Russian names and aliases,
    case-insensitive) → its code, from the gazetteer's region rows."""
    out: dict[str, str] = {}
    for r in rows:
        for n in [r["code"], r["name_en"], r["name_uk"], r["name_ru"], *(r.get("aliases") or "").split("|")]:
            if n.strip():
                out.setdefault(n.strip().casefold(), r["code"])
    return out


def resolve_regions(given: Iterable[str], rows: Iterable[Mapping[str, str]]) -> tuple[str, ...]:
    """Region codes for what was typed ("UA-32", "Kyiv Oblast", "Київська область", "Kyivshchyna");
    an unknown name is one line with the closest regions."""
    rows = list(rows)
    names = region_names(rows)
    label = {r["code"]: r["name_en"] for r in rows}
    codes = []
    for g in given:
        key = g.strip().casefold()
        code = names.get(key)
        if code is None:
            close = difflib.get_close_matches(key, list(names), n=12, cutoff=0.6)
            near = list(dict.fromkeys(names[c] for c in close))[:5]
            raise QueryError(f"unknown region {g!r}; " + (
                "closest: " + ", ".join(f"{label[c]} ({c})" for c in near) if near else
                "use an ISO 3166-2 code (UA-32) or a name (Kyiv Oblast)") + f" ({len(label)} known)")
        codes.append(code)
    return tuple(codes)


# --- the query ------------------------------------------------------------------------------

class IncidentFields(Protocol):
    """What :class:`Filters` reads of an incident (a :class:`truce.records.Incident`, or a lighter row with these fields)."""

    @property
    def date(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def region_code(self) -> str | None: ...
    @property
    def facility_id(self) -> str | None: ...
    @property
    def facility_type(self) -> str | None: ...
    @property
    def grade(self) -> str: ...


@dataclass(frozen=True)
class Filters:
    """What to select. Empty fields select everything; several values of one field are
    alternatives (any of them), different fields must all hold. A date bound leaves out
    incidents whose date is unknown."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()  # ISO 3166-2 codes
    facilities: tuple[str, ...] = ()  # registry ids
    types: tuple[str, ...] = ()  # FACILITY_TYPES
    grades: tuple[str, ...] = ()  # GRADES
    verdicts: tuple[str, ...] = ()  # VERDICTS (an incident qualifies by any of its findings)
    agreements: tuple[str, ...] = ()  # agreement ids (findings under them; verdicts of incidents under them)

    def __post_init__(self) -> None:
        for name, values, allowed in (("country", self.countries, COUNTRIES), ("type", self.types, FACILITY_TYPES),
                                      ("grade", self.grades, GRADES), ("verdict", self.verdicts, VERDICTS)):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise QueryError(f"unknown {name} {bad[0]!r}; known: {', '.join(allowed)}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise QueryError(f"the period ends before it starts: from {self.date_from} to {self.date_to}")

    @property
    def start(self) -> str | None:
        return self.date_from.isoformat() if self.date_from else None

    @property
    def end(self) -> str | None:
        return self.date_to.isoformat() if self.date_to else None

    def in_period(self, date: str | None) -> bool:
        if self.date_from is None and self.date_to is None:
            return True
        if not date:
            return False
        return (self.start is None or date >= self.start) and (self.end is None or date <= self.end)

    def incident(self, i: IncidentFields, verdicts: Mapping[str, str] | None = None, *, dates: bool = True) -> bool:
        """Does the incident qualify? ``verdicts``: agreement id → its finding's verdict, for the
        verdict filter; ``dates=False`` ignores the period (figures that need the context around it)."""
        if not self._fields(i, dates):
            return False
        if self.verdicts:
            vs = {v for a, v in (verdicts or {}).items() if not self.agreements or a in self.agreements}
            if not vs & set(self.verdicts):
                return False
        return True

    def _fields(self, i: IncidentFields, dates: bool = True) -> bool:
        if dates and not self.in_period(i.date):
            return False
        if self.countries and i.country not in self.countries:
            return False
        if self.regions and i.region_code not in self.regions:
            return False
        if self.facilities and i.facility_id not in self.facilities:
            return False
        if self.types and i.facility_type not in self.types:
            return False
        if self.grades and i.grade not in self.grades:
            return False
        return True

    def finding(self, f: Finding, i: IncidentFields | None) -> bool:
        if self.agreements and f.agreement_id not in self.agreements:
            return False
        if self.verdicts and f.verdict not in self.verdicts:
            return False
        return i is not None and self._fields(i)

    def describe(self) -> str:
        """One line for report headings and stderr notes ("" when nothing is filtered)."""
        parts = []
        if self.date_from or self.date_to:
            parts.append(f"{self.start or '…'} – {self.end or '…'}")
        for label, values in (("country", self.countries), ("region", self.regions), ("facility", self.facilities),
                              ("type", self.types), ("grade", self.grades), ("verdict", self.verdicts),
                              ("agreement", self.agreements)):
            if values:
                parts.append(f"{label} {', '.join(values)}")
        return "; ".join(parts)


def finding_order(f: Finding, date: str | None) -> tuple[int, str, str, str]:
    """Sort key: what a mediator reads first (``VERDICT_ORDER``), then by date (undated last)."""
    return (VERDICT_ORDER.index(f.verdict) if f.verdict in VERDICT_ORDER else len(VERDICT_ORDER),
            date or "9999", f.incident_id, f.agreement_id)


# --- the web's side of the same query: where-clauses, cursors, query strings ------------------

def where(filters: Filters) -> dict[str, object]:
    """The filters as keywords for :class:`truce.db.Database`'s paged queries (SQL does the
    selecting that :meth:`Filters.incident` and :meth:`Filters.finding` do in Python)."""
    return {"start": filters.start, "end": filters.end, "countries": filters.countries, "regions": filters.regions,
            "facilities": filters.facilities, "types": filters.types, "grades": filters.grades,
            "verdicts": filters.verdicts, "agreements": filters.agreements}


def encode_cursor(key: Iterable[object]) -> str:
    """An opaque cursor for the sort key of the last item of a page."""
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> tuple[object, ...]:
    """The sort key of a cursor made by :func:`encode_cursor`; a cursor that was not made by it
    (or for another list) is a :class:`QueryError`."""
    import base64
    import binascii
    import json

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise QueryError(f"not a cursor: {cursor[:40]!r} (use the next_cursor of the previous page)") from None
    if not isinstance(key, list) or len(key) != len(kinds) or not all(isinstance(k, t) and not isinstance(k, bool)
                                                                         for k, t in zip(key, kinds)):
        raise QueryError(f"not a cursor of this list: {cursor[:40]!r}")
    return tuple(key)


FILTER_PARAMS = ("from", "to", "country", "region", "facility", "type", "grade", "verdict", "agreement")


def filters_from_params(params: Mapping[str, Iterable[str]], *, agreements: Iterable[str] = (),
                        facilities: Iterable[str] | None = None, regions: Iterable[Mapping[str, str]] = (),
                        today: dt.date | None = None) -> Filters:
    """:class:`Filters` from a query string (``?from=01.03.2025&country=RU&grade=fair&grade=weak``):
    the same names and readings as the command line's options, the same one-line errors.
    Empty values are ignored; ``agreements``/``facilities``: the known ids (None: unchecked)."""
    def values(name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in params.get(name, ()) if v and v.strip())

    def day(name: str, end: bool) -> dt.date | None:
        got = values(name)
        if len(got) > 1:
            raise QueryError(f"{name} is given {len(got)} times; give one date")
        return parse_day(got[0], end=end, today=today)[0] if got else None

    agreement_ids = values("agreement")
    if agreement_ids:
        check_known("agreement", agreement_ids, agreements)
    facility_ids = values("facility")
    if facility_ids and facilities is not None:
        check_known("facility", facility_ids, facilities)
    region_codes = resolve_regions(values("region"), regions) if values("region") else ()
    return Filters(date_from=day("from", False), date_to=day("to", True),
                   countries=tuple(c.upper() for c in values("country")), regions=region_codes,
                   facilities=facility_ids, types=values("type"), grades=values("grade"), verdicts=values("verdict"),
                   agreements=agreement_ids)


def to_params(filters: Filters) -> list[tuple[str, str]]:
    """The query string of :func:`filters_from_params` that selects the same (for links)."""
    out: list[tuple[str, str]] = []
    if filters.start:
        out.append(("from", filters.start))
    if filters.end:
        out.append(("to", filters.end))
    for name, vals in (("country", filters.countries), ("region", filters.regions), ("facility", filters.facilities),
                       ("type", filters.types), ("grade", filters.grades), ("verdict", filters.verdicts),
                       ("agreement", filters.agreements)):
        out += [(name, v) for v in vals]
    return out
