"""What the pages and the API both read: an agreement's current status, findings counted by
verdict (cached until the data change), what a user may see of a report, the boundaries
with region names, the highlighting of a report's evidence and a small SVG timeline."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, Sequence

from truce.outputs.maps import CREDIT, load_boundaries
from truce.records import Claim, Incident, Report
from truce.web.state import WebError, WebState
from truce.web.auth import User

HISTORY_SHOWN = 200  # status observations an agreement's page and API list besides its recorded history


def data_version(state: WebState) -> tuple[Any, ...]:
    """Changes whenever incidents, findings, reviews or publications change (every change of a
    finding and every publication appends to the ledger)."""
    return (state.db.last_update(), state.db.ledger_tail())


def cached(state: WebState, key: str, compute: Any) -> Any:
    version = data_version(state)
    hit = state.cache.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    value = compute()
    state.cache[key] = (version, value)
    return value


def verdict_counts(state: WebState, user: User) -> dict[str, dict[str, int]]:
    public = not user.sees_all
    return cached(state, f"verdicts:{public}", lambda: state.db.verdict_counts(published_only=public))


def grade_counts(state: WebState, user: User) -> dict[str, int]:
    public = not user.sees_all
    return cached(state, f"grades:{public}", lambda: state.db.grade_counts(published_only=public))


def current_status(state: WebState, agreement_id: str) -> dict[str, Any] | None:
    """The agreement's latest status that holds (a same-day disagreement or a yielding reading
    does not), from the stored status history, else from its terms."""
    def compute() -> dict[str, Any] | None:
        rows = (s for page in state.db.agreement_status_pages(agreement_id) for s in page  # a page at a time
                if s.reading in (None, "holds") and s.date)
        best = max(rows, key=lambda s: (s.date or "", s.origin == "terms"), default=None)
        if best is not None:
            return {"status": best.status, "date": best.date, "source": best.source}
        a = state.agreement(agreement_id)
        st = a.statuses() if a else []
        return {"status": st[-1]["status"], "date": str(st[-1]["date"]), "source": st[-1].get("source")} if st else None
    return cached(state, f"status:{agreement_id}", compute)


def visible_report(state: WebState, user: User, report_id: str) -> tuple[Report, list[Claim]]:
    """A report and its claims, for a user who may see it: analysts and leads see every report;
    the public the reports that published findings rest on."""
    found = state.db.reports([report_id])
    if not found:
        raise WebError(404, f"no report {report_id!r}")
    claims = state.db.claims_of_report(report_id)
    if not user.sees_all:
        homes = set(state.db.incidents_of_claims([c.id for c in claims]).values())
        if not homes or not state.db.published(sorted(homes)):
            raise WebError(404, f"no report {report_id!r} (among published findings)")
    return found[0], claims


def boundaries_geojson(state: WebState) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        data = load_boundaries(state.regions)
        if data is None:
            return {"type": "FeatureCollection", "features": [], "credit": None}
        names = {r["code"]: r for r in state.regions}
        feats = []
        for f in data["features"]:
            code = f["properties"]["code"]
            row = names.get(code or "", {})
            feats.append({**f, "properties": {**f["properties"], "name_en": row.get("name_en"),
                                              "name_uk": row.get("name_uk"), "name_ru": row.get("name_ru")}})
        return {"type": "FeatureCollection", "features": feats, "credit": CREDIT}
    hit = state.cache.get("boundaries")
    if hit is None:
        hit = state.cache["boundaries"] = compute()
    return hit


def highlighted(text: str, claims: Sequence[Claim], focus: int | None = None) -> str:
    """The report text, escaped, with every claim's evidence spans marked (``<mark>``), each
    with an anchor ``claim-N``; overlapping spans are merged into the first. Nothing of the
    text is markup: it is escaped as a whole, so a ``<script>`` in a report is shown as text."""
    spans: list[tuple[int, int, int]] = []
    for c in claims:
        for e in c.evidence:
            if 0 <= e.start < e.end <= len(text):
                spans.append((e.start, e.end, c.index))
    spans.sort()
    out: list[str] = []
    pos = 0
    seen: set[int] = set()
    for start, end, idx in spans:
        if start < pos:
            continue
        out.append(html.escape(text[pos:start]))
        anchor = f" id='claim-{idx}'" if idx not in seen else ""
        seen.add(idx)
        cls = "ev focus" if focus == idx else "ev"
        out.append(f"<mark class='{cls}'{anchor} data-claim='{idx}' title='claim {idx}'>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are links; anything else (javascript:, data:) is shown as text."""
    if not url:
        return None
    u = url.strip()
    return u if u.lower().startswith(("http://", "https://")) and not any(ch in u for ch in "\"'<> \n\r\t") else None


def timeline_svg(incidents: Sequence[Incident], window: tuple[str, str] | None, alt: Sequence[tuple[str, str]] = (),
                 width: int = 900, height: int = 120) -> str:
    """Incidents per day as bars, the agreement's window shaded (its disputed readings hatched):
    an inline SVG that needs no script."""
    days = sorted(i.date for i in incidents if i.date)
    if window:
        days += [window[0], window[1]]
    if not days:
        return ""
    first = dt.date.fromisoformat(min(days)) - dt.timedelta(days=7)
    last = dt.date.fromisoformat(max(days)) + dt.timedelta(days=7)
    span = max((last - first).days, 1)

    def x(day: str) -> float:
        return round(40 + (width - 50) * (dt.date.fromisoformat(day) - first).days / span, 1)

    counts: dict[str, int] = {}
    for i in incidents:
        if i.date:
            counts[i.date] = counts.get(i.date, 0) + 1
    top = max(counts.values(), default=1)
    bar = max(1.5, (width - 50) / span * 0.8)
    parts = [f"<svg class='timeline' viewBox='0 0 {width} {height}' role='img' aria-label='incidents per day'>"]
    for a, b in alt:
        parts.append(f"<rect x='{x(a)}' y='8' width='{max(x(b) - x(a), 2)}' height='{height - 30}' class='alt'/>")
    if window:
        parts.append(f"<rect x='{x(window[0])}' y='8' width='{max(x(window[1]) - x(window[0]), 2)}' "
                     f"height='{height - 30}' class='window'/>")
    for day, n in sorted(counts.items()):
        h = round((height - 34) * n / top, 1)
        parts.append(f"<rect x='{x(day)}' y='{height - 22 - h}' width='{bar}' height='{h}' class='bar'>"
                     f"<title>{html.escape(day)}: {n}</title></rect>")
    parts.append(f"<line x1='40' x2='{width - 10}' y1='{height - 22}' y2='{height - 22}' class='axis'/>")
    parts.append(f"<text x='40' y='{height - 6}'>{first.isoformat()}</text>")
    parts.append(f"<text x='{width - 10}' y='{height - 6}' text-anchor='end'>{last.isoformat()}</text>")
    parts.append(f"<text x='4' y='20'>{top}</text></svg>")
    return "".join(parts)
