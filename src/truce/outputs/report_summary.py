"""What the situation report reads at scale, and its summary of a large selection.

The report selects, counts and orders findings in SQL, places and counts incidents from their
scalar fields (:func:`scan`, a page at a time, no claim links), and reads in full (findings with
traces, incidents with claims, reviews, reports, quotes) only the findings it lists, a page at a
time (:func:`finding_pages`). Over ``top`` findings it shows the first ``top`` in the mediator's order
with :func:`aggregates_html` (counts by verdict, grade, asset type, region and month) and says how
many it leaves out; ``--appendix`` lists every one.
"""

from __future__ import annotations

import heapq
import html
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Collection, Iterator, NamedTuple, Sequence

from truce.db import Database
from truce.outputs.query import VERDICT_ORDER
from truce.records import Finding, Incident, StatusObservation

TOP = 500  # findings listed (and not-covered findings listed) before the report summarises
PAGE = 2000  # findings read and written per page (each page is one ordered query over the selection)


class Brief(NamedTuple):
    """An incident as selecting, counting, the map and the timeline read it: its scalar fields."""

    id: str
    date: str | None
    country: str | None
    region_code: str | None
    region: str | None
    facility_id: str | None
    facility_name: str | None
    facility_type: str | None
    attacker: str | None
    grade: str
    lat: float | None
    lon: float | None


_SHARED = ("date", "country", "region_code", "region", "facility_id", "facility_name", "facility_type", "attacker", "grade")
_IN_JSON = ("region", "facility_name", "attacker", "lat", "lon")  # the fields that have no column of their own


def _brief(values: Sequence[Any]) -> Brief:
    return Brief._make([values[0], *(sys.intern(v) if isinstance(v, str) else v for v in values[1:10]),
                        values[10], values[11]])


def scan(db: Database, keep: Collection[str] = (), page: int = 5000, *, sql_json: bool | None = None) -> tuple[list[Brief], list[Incident]]:
    """Every incident in the order of :meth:`Database.incidents` (date, undated last, then id) as a
    :class:`Brief` (its repeated strings shared), ``page`` at a time from one snapshot; and in full, but
    without claim links, those at the facilities in ``keep`` (what the grid outlook reads). On SQLite
    (``sql_json``) the fields without a column are read with ``json_extract``, not by decoding each
    incident in Python."""
    import sqlalchemy as sa

    from truce.schema import DAY_KEY, in_chunks, incidents

    sql_json = db.dialect == "sqlite" if sql_json is None else sql_json
    c = incidents.c
    cols = [c.id, c.date, c.country, c.region_code, sa.func.json_extract(c.data, "$.region"),
            c.facility_id, sa.func.json_extract(c.data, "$.facility_name"), c.facility_type,
            sa.func.json_extract(c.data, "$.attacker"), c.grade, sa.func.json_extract(c.data, "$.lat"),
            sa.func.json_extract(c.data, "$.lon")] if sql_json else [c.data]
    briefs: list[Brief] = []
    kept: list[Incident] = []
    with db.atomic(write=False) as conn:
        after: tuple[str, str] | None = None
        while True:
            q = sa.select(*cols, DAY_KEY, c.id).order_by(DAY_KEY, c.id).limit(page)
            if after is not None:
                q = q.where(sa.or_(DAY_KEY > after[0], sa.and_(DAY_KEY == after[0], c.id > after[1])))
            rows = conn.execute(q).all()
            for r in rows:
                if sql_json:
                    briefs.append(_brief(r))
                else:
                    d = json.loads(r[0])
                    briefs.append(_brief([d["id"], *(d.get(k) for k in _SHARED), d.get("lat"), d.get("lon")]))
            if len(rows) < page:
                break
            after = (rows[-1][-2], rows[-1][-1])
        for chunk in in_chunks(sorted(set(keep)), 500):
            for (data,) in conn.execute(sa.select(c.data).where(c.facility_id.in_(chunk))):
                d = json.loads(data)
                d.pop("claims", None)
                d.pop("report_ids", None)
                kept.append(Incident.from_dict(d))
    kept.sort(key=lambda i: (i.date or "9999", i.id))
    return briefs, kept


class Detail(NamedTuple):
    """What one page of listed findings needs, read for that page only."""

    incidents: dict[str, Incident]
    reviews: dict[str, dict[str, Any]]
    reports: dict[str, Any]
    claims: dict[str, Any]


def finding_pages(db: Database, where: dict[str, Any], limit: int | None, *, full: bool = True,
                  page: int | None = None) -> Iterator[tuple[list[Finding], Detail]]:
    """The findings ``where`` selects in the mediator's order (:data:`VERDICT_ORDER`, then the incident's
    date, undated last, incident, agreement), at most ``limit`` (None: all), ``page`` (default :data:`PAGE`) at a time by keyset
    on that order; each page with its incidents and, when ``full``, their latest reviews, the reports
    they rest on (no texts) and their claims."""
    from truce.outputs.shapes import page_reviews

    page = page or PAGE
    after: tuple[int, str, str, str] | None = None
    left = limit
    while left is None or left > 0:
        n = page if left is None else min(page, left)
        rows = db.finding_page(where, VERDICT_ORDER, after=after, limit=n)
        if not rows:
            return
        found = [f for f, _, _ in rows]
        incs = db.incidents_by_id(list(dict.fromkeys(f.incident_id for f in found)))
        if full:
            reviews = page_reviews(db, [f"{f.agreement_id}/{f.incident_id}" for f in found])
            reports = db.reports_by_external(sorted({rid for i in incs.values() for rid in i.report_ids}), text=False)
            claims = db.claims_by_id([link.claim_id for i in incs.values() for link in i.claims])
            yield found, Detail(incs, reviews, reports, claims)
        else:
            yield found, Detail(incs, {}, {}, {})
        if len(rows) < n:
            return
        if left is not None:
            left -= len(rows)
        f, _, day = rows[-1]
        rank = VERDICT_ORDER.index(f.verdict) if f.verdict in VERDICT_ORDER else len(VERDICT_ORDER)
        after = (rank, day or "9999", f.incident_id, f.agreement_id)


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _table(title: str, rows: list[tuple[str, Counter[str]]], grades: Sequence[str], limit: int = 40) -> str:
    """A count table: one row per key with its total and its incidents by grade; past ``limit`` rows
    the rest are summed in one row."""
    shown, rest = rows[:limit], rows[limit:]
    if rest:
        other: Counter[str] = Counter()
        for _, c in rest:
            other.update(c)
        shown = shown + [(f"{len(rest)} others", other)]
    head = "".join(f"<th>{_esc(g)}</th>" for g in grades)
    body = "".join(f"<tr><td>{_esc(k)}</td><td>{sum(c.values())}</td>" + "".join(f"<td>{c.get(g, 0)}</td>" for g in grades)
                   + "</tr>" for k, c in shown)
    return (f"<h3>{_esc(title)}</h3><table class='aggregate'><thead><tr><th></th><th>incidents</th>{head}</tr></thead>"
            f"{body}</table>")


def aggregates_html(incidents: Sequence[Any], counts: dict[str, dict[str, int]], grades: Sequence[str],
                    verdict_label: dict[str, str]) -> str:
    """Counts over the whole selection: findings by agreement and verdict (``counts``, as
    :meth:`Database.verdict_counts` gives them); incidents by asset type, region and month, each by
    grade, in one pass over ``incidents`` (anything with those fields)."""
    by_agreement = {aid: Counter(vs) for aid, vs in counts.items()}
    kinds: dict[str, dict[str, Counter[str]]] = {"type": {}, "region": {}, "month": {}}
    for i in incidents:
        for what, key in (("type", (i.facility_type or "unknown").replace("_", " ")),
                          ("region", i.region or i.region_code or i.country or "unplaced"),
                          ("month", (i.date or "")[:7] or "undated")):
            kinds[what].setdefault(key, Counter())[i.grade] += 1
    out = ["<h2 id='aggregates'>Aggregates</h2><p>Counts over every incident and finding selected; the tables below "
           "list only the first findings in the order above.</p><h3>Findings by agreement and verdict</h3>"
           "<table class='aggregate'><thead><tr><th>agreement</th>"
           + "".join(f"<th>{_esc(verdict_label.get(v, v))}</th>" for v in VERDICT_ORDER) + "</tr></thead>"]
    for aid in sorted(by_agreement):
        c = by_agreement[aid]
        out.append(f"<tr><td>{_esc(aid)}</td>" + "".join(f"<td>{c.get(v, 0)}</td>" for v in VERDICT_ORDER) + "</tr>")
    out.append("</table>")

    def by_count(d: dict[str, Counter[str]]) -> list[tuple[str, Counter[str]]]:
        return sorted(d.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))

    out.append(_table("Incidents by asset type and grade", by_count(kinds["type"]), grades))
    out.append(_table("Incidents by region and grade", by_count(kinds["region"]), grades))
    months = sorted(kinds["month"].items(), key=lambda kv: (kv[0] == "undated", kv[0]))
    out.append(_table("Incidents by month and grade", months, grades, limit=len(months)))
    return "".join(out)


def not_shown_html(shown: int, total: int, what: str) -> str:
    """The line that says how many of a list the report leaves out, and how to see them."""
    if shown >= total:
        return ""
    return (f"<p class='not-shown'><b>{total - shown} {_esc(what)} not shown</b>: the first {shown} of {total} are listed. "
            "<code>truce report --appendix</code> lists every one; <code>truce findings --format json</code> gives them "
            "with their traces.</p>")


@dataclass
class History:
    """An agreement's status history as the report shows it: the rows listed (by date), how many
    rows there are, and their counts by status and the source's standing."""

    shown: list[StatusObservation] = field(default_factory=list)
    total: int = 0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)


def status_history(db: Database, agreement_id: str, limit: int | None) -> History:
    """The agreement's stored status rows, read a page at a time: every one (``limit`` None), or
    its recorded history (the terms) and the latest ``limit`` observations reports make (by date,
    then claim id), listed by date."""
    h = History()
    terms: list[StatusObservation] = []
    latest: list[tuple[tuple[str, str], int, StatusObservation]] = []  # a heap of the latest, oldest on top
    for rows in db.agreement_status_pages(agreement_id):
        for r in rows:
            h.total += 1
            h.counts[(r.status, r.standing or "media")] += 1
            if r.origin == "terms":
                terms.append(r)
            elif limit is None or len(latest) < limit:
                heapq.heappush(latest, ((r.date or "", r.claim_id), h.total, r))
            elif limit and (r.date or "", r.claim_id) > latest[0][0]:
                heapq.heapreplace(latest, ((r.date or "", r.claim_id), h.total, r))
    h.shown = sorted(terms + [r for _, _, r in latest], key=lambda r: (r.date or "", r.claim_id))
    return h


def history_not_shown_html(h: History, standing_label: dict[str, str]) -> str:
    """Over a long history: how many rows are left out, and the counts of all by status and standing."""
    if len(h.shown) >= h.total:
        return ""
    standings = sorted({k[1] for k in h.counts})
    statuses = sorted({k[0] for k in h.counts})
    head = "".join(f"<th>{_esc(standing_label.get(x, x))}</th>" for x in standings)
    body = "".join(f"<tr><td>{_esc(st)}</td>" + "".join(f"<td>{h.counts.get((st, x), 0)}</td>" for x in standings)
                   + "</tr>" for st in statuses)
    return (f"<p class='not-shown'><b>{h.total - len(h.shown)} status observations not shown</b>: the agreement's "
            f"recorded history and the latest observations are listed ({len(h.shown)} of {h.total}). "
            "<code>truce report --appendix</code> lists every one.</p>"
            f"<table class='agg'><caption>Status observations by status and source standing</caption>"
            f"<thead><tr><th>status</th>{head}</tr></thead>{body}</table>")
