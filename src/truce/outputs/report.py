"""The situation report: one self-contained HTML file for a mediator.

Contents: the agreement's status and its history with evidence; a static
map of the period's incidents (coloured and shaped by grade) over the
registry's facilities; a timeline of incidents per day by attacking party
with the agreement's window and its alternative readings shaded; the
findings table with verdicts, grades and quoted evidence linked to sources;
and the period's coverage (sources per side, days without reports).
Plots are matplotlib PNGs inlined as data URIs: the file opens offline.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator, Sequence

from truce import __version__
from truce.context import Context
from truce.db import Database
from truce.evaluate import STANDING_LABEL
from truce.outputs.query import VERDICT_ORDER, Filters
from truce.records import Finding, Incident
from truce.safeio import AtomicFile, atomic_path, http_url

GRADE_STYLE = {  # colour, marker: distinguishable in grayscale by shape
    "confirmed": ("#08306b", "s"), "fair": ("#2171b5", "o"), "weak": ("#9ecae1", "^"),
    "contested": ("#d94801", "D"), "discounted": ("#969696", "x"),
}
VERDICT_LABEL = {
    "consistent_with_violation": "consistent with violation", "alleged": "alleged", "contested": "contested",
    "indeterminate": "indeterminate", "not_covered": "not covered",
}
PARTY_STYLE = {"RU": ("#b2182b", "//"), "UA": ("#2166ac", ".."), None: ("#777777", "")}


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# --- figures ---------------------------------------------------------------------------

def map_figure(incidents: Sequence[Any], ctx: Context, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from truce.outputs.maps import CREDIT, INSTALL_HINT, region_outlines

    fig, ax = plt.subplots(figsize=(9.5, 6.2))
    outlines = region_outlines()
    for code, rings in outlines.items():
        for ring in rings:
            xs, ys = zip(*ring)
            ax.fill(xs, ys, facecolor="#f7f7f7" if code.startswith("UA") else "#ececec", edgecolor="#bdbdbd", linewidth=0.4)
    fac = [f for f in ctx.registry if not f.parent]
    ax.scatter([f.lon for f in fac], [f.lat for f in fac], s=6, c="#525252", marker="|", linewidths=0.6,
               label=f"registry facilities ({len(fac)})", zorder=2)
    for g, (colour, marker) in GRADE_STYLE.items():
        # each place drawn once (incidents at one facility share its point), counted in full in the legend
        pts = Counter((i.lon, i.lat) for i in incidents if i.grade == g and i.lat is not None and i.lon is not None)
        if pts:
            ax.scatter([x for x, _ in pts], [y for _, y in pts], s=46, c=colour, marker=marker,
                       edgecolors="black", linewidths=0.5, label=f"{g} ({sum(pts.values())})", zorder=3)
    lons = [i.lon for i in incidents if i.lon is not None] or [22, 50]
    lats = [i.lat for i in incidents if i.lat is not None] or [44, 57]
    ax.set_xlim(max(19, min(lons) - 3), min(62, max(lons) + 3))
    ax.set_ylim(max(40, min(lats) - 2), min(62, max(lats) + 2))
    ax.set_aspect(1.5)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.grid(True, linewidth=0.2)
    ax.annotate(CREDIT if outlines else f"No boundaries drawn: install them with {INSTALL_HINT}",
                xy=(0.99, 0.01), xycoords="axes fraction", ha="right", va="bottom", fontsize=6, color="#525252")
    return _png(fig)


def _boundary_credit() -> str:
    from truce.outputs.maps import CREDIT, INSTALL_HINT, boundaries_source

    return CREDIT if boundaries_source() else f"No region boundaries are installed ({INSTALL_HINT})"


def timeline_figure(incidents: Sequence[Any], agreement: Any | None, start: str | None, end: str | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    dated = [(i.attacker, i.date) for i in incidents if i.date]
    days = sorted({d for _, d in dated})
    fig, ax = plt.subplots(figsize=(9.5, 3.4))

    def x(day: dt.date) -> float:
        return float(mdates.date2num(day))

    if days:
        d0 = dt.date.fromisoformat(start or days[0])
        d1 = dt.date.fromisoformat(end or days[-1])
        counts: dict[Any, Counter[str]] = defaultdict(Counter)
        for attacker, day in dated:
            counts[attacker][day] += 1
        bottom: Counter[str] = Counter()
        for party in ("RU", "UA", None):
            xs = sorted(counts[party])
            if not xs:
                continue
            colour, hatch = PARTY_STYLE[party]
            ax.bar([x(dt.date.fromisoformat(d)) for d in xs], [counts[party][d] for d in xs],
                   bottom=[bottom[d] for d in xs], color=colour, hatch=hatch, edgecolor="black", linewidth=0.3,
                   width=1.0, label={"RU": "attacker RU", "UA": "attacker UA", None: "attacker unknown"}[party])
            for d in xs:
                bottom[d] += counts[party][d]
        if agreement is not None:
            for c in agreement.commitments[:1]:
                w = c["window"]
                if w.get("start") and w.get("end"):
                    ax.axvspan(x(dt.date.fromisoformat(w["start"])), x(dt.date.fromisoformat(w["end"]) + dt.timedelta(days=1)),
                               color="#fdd49e", alpha=0.45, label="agreement window", zorder=0)
            for amb in agreement.ambiguities:
                if amb["field"].startswith("window"):
                    vals = sorted(a["value"] for a in amb["alternatives"])
                    ax.axvspan(x(dt.date.fromisoformat(vals[0])), x(dt.date.fromisoformat(vals[-1]) + dt.timedelta(days=1)),
                               facecolor="none", hatch="xx", edgecolor="#d94801", linewidth=0.0, alpha=0.6,
                               label=f"disputed {amb['field'].split('.')[1]}", zorder=0)
        ax.set_xlim(x(d0 - dt.timedelta(days=1)), x(d1 + dt.timedelta(days=1)))
        ax.xaxis.set_major_locator(mdates.AutoDateLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
    ax.set_ylabel("incidents per day")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    ax.grid(True, axis="y", linewidth=0.2)
    return _png(fig)


# --- the document --------------------------------------------------------------------

CSS = """
body{font-family:Georgia,'Times New Roman',serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111;line-height:1.4}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #333;padding-bottom:.15em;margin-top:1.8em}
table{border-collapse:collapse;width:100%;font-size:.86em;margin:.6em 0;table-layout:fixed}
th,td{border:1px solid #999;padding:.3em .45em;vertical-align:top;text-align:left;overflow-wrap:anywhere;word-break:break-word}
th{background:#eee}.muted{color:#555;font-size:.9em}.cards{display:flex;flex-wrap:wrap;gap:.8em}
.card{border:1px solid #999;padding:.5em .8em;min-width:8em}.card b{font-size:1.4em;display:block}
blockquote{margin:.2em 0;padding:.2em .5em;border-left:3px solid #999;background:#fafafa;font-size:.95em}
.v-consistent_with_violation{font-weight:bold}.v-contested{font-style:italic}
.role{display:inline-block;font-size:.8em;padding:0 .3em;border:1px solid #777;border-radius:2px;margin-right:.3em}
.role-counter-claim{border-color:#d94801;color:#a63603}.role-corroboration{border-color:#2171b5;color:#08519c}
tr.detail td{border-top:none;background:#fcfcfc}ol.trace{margin:.2em 0 .2em 1.2em;padding:0;font-size:.9em}
tr.r-disagreement td{background:#fff3e0}tr.r-yields td{color:#555}
img{max-width:100%;height:auto}figure{margin:1em 0}figcaption{font-size:.85em;color:#444}
nav.toc ol{margin:.3em 0 .3em 1.2em;padding:0}nav.toc li{margin:.1em 0}
@page{size:A4;margin:15mm 13mm 17mm 13mm;
  @bottom-center{content:"Page " counter(page) " of " counter(pages);font:8pt Georgia,serif;color:#555}
  @top-right{content:"Truce Monitor situation report";font:8pt Georgia,serif;color:#777}}
@media print{
  body{max-width:none;margin:0;padding:0;font-size:9pt;line-height:1.3}
  h1{font-size:16pt}h2{font-size:12.5pt;break-after:avoid}h3{font-size:10.5pt;break-after:avoid}
  table{font-size:7.5pt}tr,tbody.finding,figure,blockquote{break-inside:avoid}thead{display:table-header-group}
  .card{min-width:6em;padding:.3em .5em}.card b{font-size:12pt}
  nav.toc a{color:#111;text-decoration:none}
  nav.toc a::after{content:leader('.') " " target-counter(attr(href), page)}
  a{color:#111}
}
"""


def public_id(external_id: str | None) -> str:
    """An id fit to publish: a file path (as older versions stored for files) becomes its file name."""
    import ntpath
    import re

    s = external_id or ""
    if s.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", s) or s.startswith("\\\\"):
        return ntpath.basename(s.replace("/", "\\"))
    return s


def build_report(db: Database, ctx: Context, *, lang: str = "en", **kw: Any) -> str:
    """The situation report as one HTML string (the parts of :func:`report_parts`, in ``lang``)."""
    from truce.outputs.report_i18n import localise_report

    parts = list(report_parts(db, ctx, **kw))
    return localise_report("".join(parts[:-1]).replace(LEDGER_SLOT, parts[-1], 1), lang)


LEDGER_SLOT = "<!--truce:ledger-->"  # where the header says what of the ledger was checked


class LedgerLine(str):
    """The header's ledger statement, known when the chain check ends: :func:`report_parts`'s last
    part, which its readers put in the place of ``LEDGER_SLOT`` in its first part."""


def report_parts(db: Database, ctx: Context, *, agreement_id: str | None = None, date_from: str | None = None,
                 date_to: str | None = None, filters: Filters | None = None, top: int | None = None,
                 appendix: bool = False) -> Iterator[str]:
    """The situation report's HTML in parts, made as they are read: a page of findings at a time;
    the last is the :class:`LedgerLine` for the header (the chain is checked in another process
    meanwhile).
    ``filters`` select incidents and findings (the first agreement among them is the focus);
    ``agreement_id``/``date_from``/``date_to`` are a shorthand. Over ``top`` findings (default
    :data:`~truce.outputs.report_summary.TOP`) in either list it lists the first ``top`` in the mediator's
    order, adds aggregates over the whole selection and says how many it leaves out; ``appendix``
    lists every finding."""
    from truce.ledger import ChainAside, verified_mark

    mark = verified_mark(db)  # the last full `truce ledger verify`: only the entries since are checked here
    chain = ChainAside(db, start=(mark["seq"], mark["hash"]) if mark else None)
    try:
        yield from _report_parts(db, ctx, filters, agreement_id, date_from, date_to, top, appendix)
        yield LedgerLine(_ledger_html(chain.result(), mark))
    finally:
        chain.close()


def _report_parts(db: Database, ctx: Context, filters: Filters | None, agreement_id: str | None, date_from: str | None,
                  date_to: str | None, top: int | None, appendix: bool) -> Iterator[str]:
    from truce.outputs.outlook import facility_ids
    from truce.outputs.query import where
    from truce.outputs.report_summary import (TOP, aggregates_html, finding_pages, history_not_shown_html, not_shown_html,
                                              scan, status_history)
    from truce.outputs.stats import agreement_rates, capacity_affected, coverage

    if filters is None:
        filters = Filters(date_from=dt.date.fromisoformat(date_from) if date_from else None,
                          date_to=dt.date.fromisoformat(date_to) if date_to else None,
                          agreements=(agreement_id,) if agreement_id else ())
    known = [a.id for a in ctx.agreements]
    unknown = [x for x in filters.agreements if x not in known]
    if unknown:
        from truce.errors import TermsError

        raise TermsError(f"no agreement with id {unknown[0]!r} (known: {', '.join(known)})")
    agreements = [a for a in ctx.agreements if not filters.agreements or a.id in filters.agreements]
    focus: Any
    if filters.agreements:
        agreements.sort(key=lambda a: filters.agreements.index(a.id))
        focus = agreements[0]
    else:
        focus = next((a for a in agreements if a.ever_in_force()), agreements[0] if agreements else None)
    date_from, date_to = filters.start, filters.end
    limit = TOP if top is None else max(0, top)
    started = dt.datetime.now(dt.timezone.utc)
    verdicts: dict[str, dict[str, str]] = {}
    if filters.verdicts:  # only the verdict filter reads incidents' verdicts
        for iid, aid, verdict in db.verdicts():
            verdicts.setdefault(iid, {})[aid] = verdict
    # every incident's scalar fields, read a page at a time; in full only those the grid outlook reads
    every, outlook_incidents = scan(db, keep=facility_ids(ctx.registry, "UA"))
    incidents = [i for i in every if filters.incident(i, verdicts.get(i.id, {}))]
    # findings are selected, counted and ordered in SQL; the report reads in full only those it lists.
    # Listed: every verdict but "not covered" under any agreement, and "not covered" under the selected
    # agreements (the focus when none is selected)
    w_all = where(filters)
    allowed = filters.verdicts or VERDICT_ORDER
    nc_agreements = tuple(filters.agreements) or ((focus.id,) if focus is not None else ())
    counts = db.verdict_counts(w_all)
    by_verdict: Counter[str] = Counter()
    for aid, vs in counts.items():
        for verdict, n in vs.items():
            if verdict != "not_covered" or not nc_agreements or aid in nc_agreements:
                by_verdict[verdict] += n
    n_matters = sum(n for k, n in by_verdict.items() if k != "not_covered")
    n_not_covered = by_verdict.get("not_covered", 0)
    matters_where = {**w_all, "verdicts": tuple(x for x in allowed if x != "not_covered")}
    nc_where = {**w_all, "verdicts": ("not_covered",), "agreements": nc_agreements}
    summarised = not appendix and max(n_matters, n_not_covered) > limit
    listed = None if appendix else limit
    histories = {a.id: status_history(db, a.id, listed) for a in agreements}
    reports = db.reports_by_external(sorted({h.report_id for hs in histories.values() for h in hs.shown if h.report_id}),
                                     text=False)
    n_reports, n_claims = db.report_count(), db.claim_count()
    period = f"{date_from or (min((i.date for i in incidents if i.date), default='…'))} – " \
             f"{date_to or (max((i.date for i in incidents if i.date), default='…'))}"
    selection = filters.describe()
    out: list[str] = []
    w = out.append
    w(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Truce Monitor situation report</title>"
      f"<style>{CSS}</style></head><body>")
    w(f"<h1>Situation report: strikes on energy infrastructure</h1><p class='muted'>Period {period}. "
      f"{('Selected: ' + _esc(selection) + '. ') if selection else ''}"
      f"Generated {started:%Y-%m-%d %H:%M} UTC by Truce Monitor {__version__}. "
      f"{LEDGER_SLOT}</p>")
    toc = [("summary", "Summary")] + [(f"agreement-{a.id}", a.title) for a in agreements] + [
        ("map", "Map"), ("timeline", "Timeline"), ("findings", f"Findings ({n_matters})"),
        ("not-covered", f"Not covered ({n_not_covered})"), ("impact", "Impact"), ("coverage", "Coverage")]
    if summarised:
        toc.insert(toc.index(("findings", f"Findings ({n_matters})")), ("aggregates", "Aggregates"))
    physical = db.physical_evidence()
    fire_candidates = db.fire_candidates()
    if physical or fire_candidates:
        toc.insert(toc.index(("impact", "Impact")), ("satellite", "Satellite evidence"))
    toc.insert(toc.index(("impact", "Impact")) + 1, ("outlook", "Grid outlook"))
    w("<nav class='toc'><h2>Contents</h2><ol>" + "".join(f"<li><a href='#{_esc(k)}'>{_esc(t)}</a></li>" for k, t in toc)
      + "</ol></nav>")
    grades = Counter(i.grade for i in incidents)
    w("<h2 id='summary'>Summary</h2><div class='cards'>")
    w(f"<div class='card'><b>{n_reports}</b>reports</div><div class='card'><b>{n_claims}</b>claims</div>")
    w(f"<div class='card'><b>{len(incidents)}</b>incidents</div>")
    for g in GRADE_STYLE:
        w(f"<div class='card'><b>{grades.get(g, 0)}</b>{g}</div>")
    w("</div>")
    w("<p>Findings" + (f" under {_esc(focus.title)}" if focus is not None and not filters.agreements else "") + ": "
      + ", ".join(f"<b>{by_verdict.get(k, 0)}</b> {_esc(VERDICT_LABEL[k])}" for k in VERDICT_ORDER)
      + ". They are listed in that order, then by date: violations and contested incidents first.</p>")

    for a in agreements:
        w(f"<h2 id='agreement-{_esc(a.id)}'>{_esc(a.title)}</h2><p>{_esc(a.data.get('summary', ''))}</p>")
        statuses = a.statuses()
        cur = statuses[-1] if statuses else None
        w(f"<p><b>Status:</b> {_esc(cur['status'] if cur else 'unknown')} since {_esc(cur['date'] if cur else '')}. "
          f"Parties: {_esc(', '.join(a.parties))}; mediators: {_esc(', '.join(a.data.get('mediators', [])) or 'none')}.</p>")
        for c in a.commitments:
            wd = c["window"]
            w(f"<p class='muted'>Commitment <code>{_esc(c['id'])}</code>: {_esc(c.get('text', ''))} Window "
              f"{_esc(wd.get('start') or 'none')} – {_esc(wd.get('end') or 'none')}; covered assets: "
              f"{_esc(', '.join(c['assets']))}.</p>")
        for amb in a.ambiguities:
            alts = "; ".join(f"<b>{_esc(x['id'])}</b> ({_esc(x.get('held_by', ''))}): {_esc(_alternative(x['value']))} — {_esc(x.get('source', ''))}" for x in amb["alternatives"])
            w(f"<p class='muted'>Disputed: {_esc(amb.get('question') or amb['field'])} {alts}</p>")
        hist = histories[a.id]
        w("<h3>Status history and evidence</h3><p class='muted'>Where sources disagree on one day, what the source of "
          "the highest standing says holds (the agreement's recorded history, then a party to the agreement, a mediator, "
          "an official body, the media); sources of equal standing that disagree are shown as a disagreement.</p>"
          "<table class='status'><colgroup><col style='width:11%'><col style='width:13%'><col style='width:22%'>"
          "<col style='width:22%'><col style='width:32%'></colgroup>"
          "<thead><tr><th>date</th><th>status</th><th>source</th><th>reading of the day</th><th>evidence</th></tr></thead>")
        for h in hist.shown:
            rep = reports.get(h.report_id or "")
            src = _esc(h.source or "")
            if rep is not None and http_url(rep.url):  # only http(s) links: never javascript: or data:
                src = f"<a href='{_esc(http_url(rep.url))}' rel='noopener noreferrer'>{src or _esc(public_id(rep.external_id))}</a>"
            standing = STANDING_LABEL.get(h.standing or "", "")
            reading = (f"<b>{_esc(h.reading)}</b><br><span class='muted'>{_esc(h.reading_note)}</span>" if h.reading else "")
            w(f"<tr class='r-{_esc(h.reading or 'none')}'><td>{_esc(h.date or '')}</td><td>{_esc(h.status)}</td><td>{src}"
              f"{'<br><span class=muted>' + _esc(public_id(h.report_id)) + '</span>' if h.report_id else ''}"
              f"<br><span class='muted'>{_esc(standing)}</span></td><td>{reading}</td>"
              f"<td><blockquote>{_esc(h.evidence)[:500]}</blockquote></td></tr>")
        w("</table>" + history_not_shown_html(hist, STANDING_LABEL))
    yield from _flush(out)

    w("<h2 id='map'>Map</h2>")
    w(f"<figure><img alt='map of incidents by corroboration grade' src='{map_figure(incidents, ctx, 'Incidents ' + period)}'>"
      "<figcaption>Incidents placed at the facility, at the named town, or, when reports give only the "
      "region, at a point inside that region (position approximate); "
      "shape and shade give the corroboration grade; ticks mark registry facilities. "
      f"{_esc(_boundary_credit())}.</figcaption></figure>")
    w("<h2 id='timeline'>Timeline</h2>")
    w(f"<figure><img alt='timeline of incidents per day' src='{timeline_figure(incidents, focus, date_from, date_to)}'>"
      f"<figcaption>Incidents per day by attacking party (stated or inferred)"
      f"{'; shaded: the window of ' + _esc(focus.title) + ', hatched: disputed boundaries' if focus else ''}.</figcaption></figure>")

    if summarised:
        w(aggregates_html(incidents, counts, list(GRADE_STYLE), VERDICT_LABEL))
    yield from _flush(out)
    w(f"<h2 id='findings'>Findings ({n_matters})</h2><p class='muted'>Consistent with violation, contested, alleged, "
      "indeterminate; then by date. Each source is marked as the <span class='role'>claim</span> (who asserts the "
      "strike, and sources of the same side), a <span class='role role-counter-claim'>counter-claim</span> (who denies "
      "it) or <span class='role role-corroboration'>corroboration</span> (an independent source asserting it).</p>")
    w("<table class='findings'><colgroup><col style='width:15%'><col style='width:22%'><col style='width:9%'>"
      "<col style='width:24%'><col style='width:30%'></colgroup>"
      "<thead><tr><th>date, incident</th><th>target</th><th>attacker</th><th>grade</th><th>agreement: verdict</th></tr></thead>")
    shown = 0
    for page, det in (finding_pages(db, matters_where, listed) if matters_where["verdicts"] else ()):
        w("".join(_finding_row(f, det) for f in page))
        shown += len(page)
        yield from _flush(out)
    w("</table>")
    w(not_shown_html(shown, n_matters, "findings"))
    w(f"<h2 id='not-covered'>Not covered ({n_not_covered})</h2><p class='muted'>Incidents outside what the "
      "agreement covers, with the check that failed; the full traces are in <code>truce findings --format json</code>.</p>")
    if n_not_covered:
        w("<table class='not-covered'><colgroup><col style='width:12%'><col style='width:17%'><col style='width:25%'>"
          "<col style='width:10%'><col style='width:36%'></colgroup>"
          "<thead><tr><th>date</th><th>incident</th><th>target</th><th>grade</th><th>why not covered</th></tr></thead>")
        shown = 0
        for page, det in finding_pages(db, nc_where, listed, full=False):
            w("".join(_not_covered_row(f, det.incidents[f.incident_id]) for f in page))
            shown += len(page)
            yield from _flush(out)
        w("</table>")
        w(not_shown_html(shown, n_not_covered, "not-covered findings"))

    if physical or fire_candidates:
        inc_by_id = {i.id: i for i in incidents if i.id in physical}
        w(_satellite_html([physical[i.id] for i in incidents if i.id in physical], inc_by_id,
                          [c for c in fire_candidates if filters.in_period(c.date)]))

    # the figures of `truce stats`: the incidents selected whatever their date (the rates compare periods
    # around each window), the period bounding the capacity figures
    around = [i for i in every if filters.incident(i, verdicts.get(i.id, {}), dates=False)]
    w("<h2 id='impact'>Impact</h2>")
    w(_impact_html({"capacity": capacity_affected(around, ctx.registry, date_from=filters.start, date_to=filters.end),
                    "rates": agreement_rates(ctx, filters, around)}))

    w(_outlook_html(ctx, outlook_incidents, incidents, date_from, date_to))

    cov = coverage(db, date_from, date_to)
    w("<h2 id='coverage'>Coverage</h2><p>Reports in the period by the affiliation of their source; a side with few sources "
      "is a side whose claims are hard to corroborate.</p><table><colgroup><col style='width:15%'><col style='width:70%'>"
      "<col style='width:15%'></colgroup><tr><th>affiliation</th><th>sources</th><th>reports</th></tr>")
    for aff, row in sorted(cov["by_affiliation"].items()):
        w(f"<tr><td>{_esc(aff)}</td><td>{_esc(', '.join(public_id(x) for x in row['sources']))}</td><td>{row['reports']}</td></tr>")
    w("</table>")
    if cov["gaps"]:
        w(f"<p>Days in the period without any report: {_esc(', '.join(cov['gaps'][:40]))}"
          f"{' …' if len(cov['gaps']) > 40 else ''} ({len(cov['gaps'])} days).</p>")
    if cov["syndicated"]:
        w("<p>Syndicated copies counted once: " + _esc("; ".join(cov["syndicated"])) + ".</p>")
    w("<p class='muted'>Every number here traces to stored claims with character offsets into the reports; "
      "`truce findings --format json` gives the full traces, `truce ledger verify` checks the record.</p>")
    w("</body></html>")
    yield from _flush(out)


def _ledger_html(v: Any, mark: dict[str, Any] | None) -> str:
    """What was verified of the ledger, by what and when."""
    result = ("intact" if v.ok else "BROKEN — " + _esc(v.reason)) + (f" (head {v.head[:16]}…)" if v.head else "")
    chain = "its hash chain (each entry's sequence, link, hash and payload, and the head pointer)"
    if mark is None:
        return (f"Ledger: {v.entries} entries; {chain} was checked in full as this report was generated: {result}. "
                "<code>truce ledger verify</code> also checks the stored findings against it.")
    n = mark["seq"]
    since = (f"the hash chain of entries {n + 1}–{v.entries} (each entry's sequence, link, hash and payload) and the "
             "head pointer were checked" if v.entries > n else "the head pointer still named it")
    return (f"Ledger: {v.entries} entries. <code>truce ledger verify</code> verified entries 1–{n} in full (hash chain "
            f"and stored findings) at {_esc(mark.get('at'))}; as this report was generated, entry {n} still had the hash "
            f"it recorded and {since}: {result}.")


def _finding_row(f: Finding, det: Any) -> str:
    """One finding of the findings table: the incident, the verdict, the evidence, the trace, the review."""
    i = det.incidents[f.incident_id]
    rv = det.reviews.get(f"{f.agreement_id}/{f.incident_id}")
    review = (f"<p><b>Review:</b> {_esc(VERDICT_LABEL.get(rv['verdict'], rv['verdict']))} by {_esc(rv['author'])}"
              f" — <span class='muted'>{_esc(rv.get('note', ''))}</span></p>") if rv else ""
    hinge = f"<br><span class='muted'>hinges on: {_esc(f.hinges_on)}</span>" if f.hinges_on else ""
    trace = "".join("<li>" + _esc(t.condition) + ": " + _esc(t.fact) + " — <b>" + _esc(t.result) + "</b>"
                    + (" (" + _esc(t.note) + ")" if t.note else "") + "</li>" for t in f.trace)
    return (f"<tbody class='finding'><tr id='{_esc(i.id)}'><td>{_esc(i.date or 'undated')}<br><span class='muted'>{_esc(i.id)}</span></td>"
            f"<td>{_esc(_target(i))}<br><span class='muted'>{_esc(i.facility_type)}; {_esc(i.region or '')} {_esc(i.country or '')}</span></td>"
            f"<td>{_esc(i.attacker or '—')} <span class='muted'>{_esc(i.attacker_basis or '')}</span></td>"
            f"<td>{_esc(i.grade)}<br><span class='muted'>{_esc('; '.join(i.grade_reasons))}</span></td>"
            f"<td class='v-{_esc(f.verdict)}'>{_esc(f.agreement_id)}: {_esc(VERDICT_LABEL.get(f.verdict, f.verdict))}{hinge}</td></tr>"
            f"<tr class='detail'><td colspan='5'>{_evidence_html(i, det.claims, det.reports)}"
            f"<ol class='trace'>{trace}</ol>{review}</td></tr></tbody>")


def _not_covered_row(f: Finding, i: Incident) -> str:
    failed = next((t for t in f.trace if t.result == "fail"), None)
    why = f"{failed.condition}: {failed.fact}" if failed else ""
    return (f"<tr><td>{_esc(i.date or 'undated')}</td><td>{_esc(i.id)}<br><span class='muted'>{_esc(f.agreement_id)}</span></td>"
            f"<td>{_esc(_target(i))}</td><td>{_esc(i.grade)}</td><td>{_esc(why)}</td></tr>")


def _flush(out: list[str]) -> Iterator[str]:
    """What has been written so far, as one part; ``out`` is emptied."""
    if out:
        yield "".join(out)
        out.clear()


def _outlook_html(ctx: Context, every: Sequence[Incident], incidents: Sequence[Any], date_from: str | None,
                  date_to: str | None) -> str:
    """Ukraine's grid outlook over the period, weekly, as a chart and the last week's figures. ``every``:
    all incidents that can cost Ukraine generation (losses persist after the period's first day)."""
    from truce.outputs.outlook import chart, load_assumptions, outlook, series

    days = sorted(i.date for i in incidents if i.date)
    if not days:
        return "<h2 id='outlook'>Grid outlook</h2><p class='muted'>No dated incidents.</p>"
    start = dt.date.fromisoformat(date_from or days[0])
    end = dt.date.fromisoformat(date_to or days[-1])
    a = load_assumptions("UA", ctx.settings.outlook)
    points = series(ctx.registry, every, start, end, step_days=max(1, (end - start).days // 60 or 1), assumptions=a)
    o = outlook(ctx.registry, every, end, "UA", a)

    def trio(d: dict[str, float]) -> str:
        return f"{d['low']:,.0f} / {d['central']:,.0f} / {d['high']:,.0f}"

    rows = "".join(f"<tr><td>{_esc(t.replace('_', ' '))}</td><td>{o.installed_mw[t]:,.0f}</td><td>{trio(o.lost_mw[t])}</td>"
                   f"<td>{trio(o.available_mw[t])}</td></tr>" for t in o.installed_mw)
    losses = "".join(f"<li>{_esc(x.name)}: {trio(x.lost_mw)} MW, {_esc(x.cause)} per {_esc(x.basis)}"
                     f"{' since ' + _esc(x.since) if x.since else ''}{' — ' + _esc(', '.join(x.incidents)) if x.incidents else ''}</li>"
                     for x in o.losses if x.incidents)
    return (f"<h2 id='outlook'>Grid outlook</h2><p>Ukraine's generation available at the evening peak (the registry's plants "
            "less what is occupied, destroyed or damaged and not yet repaired, times the share available at the peak), "
            "generation the registry does not list and imports, against the month's evening-peak demand. Figures are "
            "low / central / high: every assumption at its favourable, central or unfavourable end "
            "(<code>truce outlook</code> lists them with their sources; <code>data/outlook/ua.yaml</code>).</p>"
            f"<figure><img alt='available generation and demand over time' src='{chart(points)}'><figcaption>Available "
            "generation by type (central case) with imports, and evening-peak demand; dashed and dotted: the supply "
            "in the unfavourable and favourable cases.</figcaption></figure>"
            f"<p>On {o.date}: supply {trio(o.supply_mw)} MW against demand {trio(o.demand_mw)} MW; deficit "
            f"<b>{trio(o.deficit_mw)} MW</b>; about <b>{o.outage_hours['central']:.1f}</b> hours a day without power for an "
            f"average consumer ({o.outage_hours['low']:.1f}–{o.outage_hours['high']:.1f}).</p>"
            "<table><thead><tr><th>type</th><th>installed MW</th><th>lost MW</th><th>available at the peak MW</th></tr></thead>"
            f"{rows}</table>" + (f"<p>Losses that incidents in the database stand behind:</p><ul>{losses}</ul>" if losses else ""))


def _detections_html(ms: Sequence[Any], limit: int = 6) -> str:
    rows = "".join(
        f"<tr><td>{_esc(m.detection.acquired.replace('T', ' ').replace('Z', ' UTC'))}</td><td>{_esc(m.detection.instrument)} "
        f"{_esc(m.detection.satellite)}</td><td>{m.distance_km:.1f} km</td>"
        f"<td>{'' if m.detection.brightness is None else f'{m.detection.brightness:.1f} K'}</td>"
        f"<td>{'' if m.detection.frp is None else f'{m.detection.frp:.1f} MW'}</td><td>{_esc(m.detection.confidence)}</td>"
        f"<td>{'above' if m.above_background else 'background'}</td><td>{_esc(m.detection.source)}:{m.detection.line}</td></tr>"
        for m in sorted(ms, key=lambda m: (m.detection.acquired, m.detection.id))[:limit])
    more = f"<p class='muted'>and {len(ms) - limit} more</p>" if len(ms) > limit else ""
    return ("<table class='detections'><thead><tr><th>time</th><th>sensor</th><th>distance</th><th>brightness</th><th>FRP</th>"
            f"<th>confidence</th><th>vs. background</th><th>file:line</th></tr></thead>{rows}</table>{more}")


def _satellite_html(evidence: Sequence[Any], inc_by_id: dict[str, Any], candidates: Sequence[Any]) -> str:
    """Satellite fire detections (NASA FIRMS): what they say about incidents at facilities, and candidates."""
    by = Counter(e.verdict if e.why != "no_data" else "no_data" for e in evidence)
    out = ["<h2 id='satellite'>Satellite evidence</h2><p>Fire detections from NASA FIRMS (VIIRS, MODIS), which no party "
           "writes, matched to the facility of each incident within a radius set by the facility type and to a window from "
           "the evening before the incident's day to the end of the day after. A facility's usual flare or stack, learned "
           "from days without incidents, corroborates nothing. "
           f"Supports: <b>{by.get('supports', 0)}</b>, silent: <b>{by.get('silent', 0)}</b>, contradicts: "
           f"<b>{by.get('contradicts', 0)}</b> (a reported fire, not the strike); <b>{by.get('no_data', 0)}</b> outside the "
           "days the loaded FIRMS files cover. We acknowledge the use of data and imagery "
           "from NASA's Fire Information for Resource Management System (FIRMS).</p>"]
    shown = [e for e in evidence if e.verdict != "silent" or e.detections]
    for e in shown:
        i = inc_by_id.get(e.incident_id)
        out.append(f"<h3>{_esc(i.date if i else '')} {_esc(_target(i) if i else e.facility_id)}: {_esc(e.verdict)}</h3>"
                   f"<p class='muted'>{_esc(e.incident_id)}, grade {_esc(i.grade if i else '')}. {_esc(e.reason)}</p>"
                   + _detections_html(e.detections))
    quiet = [e for e in evidence if e.verdict == "silent" and not e.detections]
    if quiet:
        whys = Counter(e.why for e in quiet)
        out.append("<p class='muted'>Silent, with nothing at the site: "
                   + ", ".join(f"{n} {_esc({'no_data': 'with no FIRMS data loaded for their days', 'no_detection': 'with no detection at the site'}.get(k, k))}"
                               for k, n in sorted(whys.items())) + ".</p>")
    if candidates:
        out.append(f"<h3>Candidate incidents ({len(candidates)})</h3><p>Fires above a facility's background with no "
                   "reported incident at it: for review, never a finding by themselves.</p>")
        for c in candidates:
            out.append(f"<p><b>{_esc(c.date)} {_esc(c.facility_name)}</b> <span class='muted'>({_esc(c.id)}, "
                       f"{_esc(c.facility_type)}, {_esc(c.region_code)})</span><br><span class='muted'>{_esc(c.reason)}</span></p>"
                       + _detections_html(c.detections))
    return "".join(out)


def _target(i: Incident) -> str:
    return i.facility_name or f"{(i.facility_type or 'energy').replace('_', ' ')} in {i.region or i.country or '?'}"


def _alternative(value: Any) -> str:
    """An alternative reading's value: a date, a list of asset classes or regions, or none (everywhere)."""
    if value is None:
        return "no restriction"
    return value if isinstance(value, str) else ", ".join(value)


def _impact_html(st: dict[str, Any]) -> str:
    cap = st["capacity"]
    out = [f"<p>Capacity of the facilities with incidents in {_esc(cap['period']['from'])} – {_esc(cap['period']['to'])}, "
           "each facility counted once, against the registry's national totals (the registry is not complete, so "
           "shares are of what it lists):</p><table><tr><th>country</th><th>asset type</th><th>hit</th>"
           "<th>in registry</th><th>share</th><th>facilities</th></tr>"]
    for country, g in cap["generation"].items():
        for t, v in g["by_type"].items():
            if v["mw_hit"]:
                out.append(f"<tr><td>{country}</td><td>{_esc(t)}</td><td>{v['mw_hit']:,.0f} MW</td><td>{v['mw_registry']:,.0f} MW</td>"
                           f"<td>{100 * (v['share'] or 0):.1f} %</td><td>{_esc(', '.join(v['facilities']))}</td></tr>")
    for country, r in cap["refining"].items():
        out.append(f"<tr><td>{country}</td><td>refining, {_esc(r['window']['from'])} – {_esc(r['window']['to'])}</td>"
                   f"<td>{r['mt_per_year_hit']:.1f} Mt/yr</td><td>{r['mt_per_year_registry']:.1f} Mt/yr</td>"
                   f"<td>{100 * r['share']:.1f} %</td><td>{_esc(', '.join(r['refineries']))}</td></tr>")
    out.append("</table>")
    for aid, readings in st["rates"].items():
        out.append(f"<p>Incidents per day before, during and after the window of <b>{_esc(aid)}</b>, by attacking party, "
                   "each period as long as the window. The rate ratio's 95 % interval and p-value come from an exact "
                   "Poisson test (conditional binomial); a dispersion well above 1 means days vary more than Poisson "
                   "allows, and the interval is then too narrow.</p><table><tr><th>reading</th><th>attacker</th>"
                   "<th>before</th><th>during</th><th>after</th><th>during / before</th><th>95 % CI</th><th>p</th></tr>")
        for reading, rc in readings.items():
            for party, row in rc["by_attacker"].items():
                c, dv = row["counts"], row["during_vs_before"]
                ci = dv.get("ci95")
                out.append(f"<tr><td>{_esc(reading)} ({_esc(rc['window']['start'])} – {_esc(rc['window']['end'])})</td>"
                           f"<td>{party}</td><td>{c['before']}</td><td>{c['during']}</td><td>{c['after']}</td>"
                           f"<td>{_esc(dv['ratio'])}</td><td>{_esc(f'{ci[0]} – {ci[1]}' if ci else '')}</td>"
                           f"<td>{_esc(dv['p_value'])}</td></tr>")
        out.append("</table>")
    return "".join(out)


def _matters(f: Finding) -> bool:
    return f.verdict != "not_covered"


def _evidence_html(i: Incident, claims: dict[str, Any], reports: dict[str, Any], limit: int = 8) -> str:
    """Every source of the incident (up to ``limit``) with its role and its first quote."""
    parts = []
    order = {"claim": 0, "corroboration": 1, "counter-claim": 2}
    links = sorted(i.claims, key=lambda link: (order.get(link.role, 3), link.report_id, link.claim_id))
    seen: set[tuple[str, str]] = set()
    shown = 0
    for link in links:
        c = claims.get(link.claim_id)
        r = reports.get(link.report_id)
        if c is None:
            continue
        key = (link.report_id, c.evidence[0].text if c.evidence else "")
        if key in seen:  # one report's several claims on the same sentence: quoted once
            continue
        seen.add(key)
        shown += 1
        if shown > limit:
            continue
        quote = _esc(c.evidence[0].text[:300]) if c.evidence else ""
        src = _esc((r.source if r else None) or "unknown source")
        if r is not None and http_url(r.url):  # only http(s) links: never javascript: or data:
            src = f"<a href='{_esc(http_url(r.url))}' rel='noopener noreferrer'>{src}</a>"
        parts.append(f"<blockquote><span class='role role-{_esc(link.role)}'>{_esc(link.role)}</span>{quote}"
                     f"<br><span class='muted'>{src}, {_esc(public_id(link.report_id))}"
                     f"{' — ' + _esc(link.role_note) if link.role_note else ''}</span></blockquote>")
    more = shown - limit
    if more > 0:
        parts.append(f"<span class='muted'>and {more} more quote{'s' if more > 1 else ''}</span>")
    return "".join(parts)


def write_report(db: Database, ctx: Context, path: Path, *, lang: str = "en", **kw: Any) -> Path:
    """The report (:func:`report_parts`) written as it is made, each part in ``lang``; the file
    appears whole when done."""
    from truce.outputs.report_i18n import localise_report

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head: str | None = None
    with AtomicFile(path) as fh, tempfile.TemporaryFile("w+", encoding="utf-8", dir=path.parent) as rest:
        for part in report_parts(db, ctx, **kw):
            if isinstance(part, LedgerLine):  # the last: the header, then the rest as written
                fh.write(localise_report((head or "").replace(LEDGER_SLOT, part, 1), lang))
                rest.seek(0)
                shutil.copyfileobj(rest, fh)
            elif head is None:
                head = part
            else:
                rest.write(localise_report(part, lang))
    return path


def write_pdf(html_path: Path, pdf_path: Path) -> Path:
    """PDF via WeasyPrint, where it and its system libraries are installed."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as e:
        from truce.errors import PipelineError

        raise PipelineError(f"--pdf needs WeasyPrint and its system libraries ({e.__class__.__name__}: {e}); "
                            "pip install weasyprint") from e
    with atomic_path(pdf_path) as tmp:
        HTML(filename=str(html_path)).write_pdf(tmp)
    return pdf_path
