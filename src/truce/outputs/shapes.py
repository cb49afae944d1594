"""The public JSON shapes of incidents and findings (EVAL-FORMAT.md section 4),
defined once for the command line, the exports and the web API, and selected with
one :class:`truce.outputs.query.Filters`."""

from __future__ import annotations

from typing import Any

from truce.db import Database
from truce.dedup import syndication_groups
from truce.ledger import latest_reviews
from truce.outputs.query import Filters, finding_order
from truce.records import Claim, Incident, Report


def verdicts_by_incident(database: Database) -> dict[str, dict[str, str]]:
    """incident id → {agreement id: verdict}."""
    out: dict[str, dict[str, str]] = {}
    for f, _ in database.findings():
        out.setdefault(f.incident_id, {})[f.agreement_id] = f.verdict
    return out


def select_incidents(database: Database, filters: Filters | None = None) -> list[Incident]:
    filters = filters or Filters()
    verdicts = verdicts_by_incident(database) if filters.verdicts else {}
    return [i for i in database.incidents() if filters.incident(i, verdicts.get(i.id, {}))]


def incidents_json(database: Database, filters: Filters | None = None) -> list[dict[str, Any]]:
    """EVAL-FORMAT.md section 4: each incident with the reports it rests on, by the id they were
    ingested with; each claim's role (claim, counter-claim, corroboration); the verdict under
    each agreement; and the first evidence quote with its source and URL."""
    reports = database.reports()
    by_ext = {r.external_id: r for r in reports}
    synd = syndication_groups(reports)
    ext_of = {r.id: r.external_id for r in reports}
    updated = database.incident_updated_at()
    verdicts = verdicts_by_incident(database)
    filters = filters or Filters()
    chosen = [i for i in database.incidents() if filters.incident(i, verdicts.get(i.id, {}))]
    claims = {c.id: c for c in database.claims(("strike", "accusation"))} if chosen else {}
    out = []
    for i in chosen:
        d = i.to_dict()
        d["reports"] = []
        for rid in i.report_ids:
            r = by_ext.get(rid)
            canon = synd.get(r.id, r.id) if r else None
            d["reports"].append({"report_id": rid, "url": r.url if r else None, "source": r.source if r else None,
                                 "affiliation": r.affiliation if r else None,
                                 "syndicated_with": ext_of[canon] if r and canon and canon != r.id else None})
        d["claims"] = [{"report_id": c.report_id, "claim": int(c.claim_id.rsplit(":", 1)[1]),
                        "joined_because": c.joined_because, "role": c.role, "role_note": c.role_note}
                       for c in i.claims]
        d.pop("report_ids")
        d["updated_at"] = updated.get(i.id)
        d["verdicts"] = dict(sorted(verdicts.get(i.id, {}).items()))
        d["first_evidence"] = first_evidence(i, claims, by_ext)
        out.append(d)
    return out


def first_evidence(i: Incident, claims: dict[str, Claim], reports: dict[str, Report]) -> dict[str, Any] | None:
    """The first quote an incident rests on: from the earliest report asserting it (the claim
    before corroboration; a counter-claim only when nothing else is quoted)."""
    rank = {"claim": 0, "corroboration": 1, "counter-claim": 2}
    best = None
    for link in i.claims:
        c = claims.get(link.claim_id)
        r = reports.get(link.report_id)
        if c is None or not c.evidence:
            continue
        key = (rank.get(link.role, 3), (r.published if r else None) or "9999", link.report_id, c.index)
        if best is None or key < best[0]:
            best = (key, c, r, link)
    if best is None:
        return None
    _, c, r, link = best
    return {"quote": c.evidence[0].text, "report_id": link.report_id, "source": r.source if r else None,
            "url": r.url if r else None, "role": link.role}


def findings_json(database: Database, agreement: str | None = None,
                  filters: Filters | None = None) -> list[dict[str, Any]]:
    """Findings with their traces, when they were evaluated and the latest review of each, in the
    order a mediator reads them: consistent with violation, contested, alleged, indeterminate,
    not covered; then by date."""
    reviews = latest_reviews(database)
    filters = filters or Filters()
    incidents = {i.id: i for i in database.incidents()}
    rows = [(f, at) for f, at in database.findings(agreement) if filters.finding(f, incidents.get(f.incident_id))]
    rows.sort(key=lambda fa: finding_order(fa[0], getattr(incidents.get(fa[0].incident_id), "date", None)))
    out = []
    for f, at in rows:
        d = f.to_dict()
        d["evaluated_at"] = at
        rv = reviews.get(f"{f.agreement_id}/{f.incident_id}")
        d["review"] = rv
        out.append(d)
    return out
