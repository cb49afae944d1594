"""The public JSON shapes of incidents and findings (EVAL-FORMAT.md section 4),
defined once for the command line, the exports and the web API."""

from __future__ import annotations

from typing import Any

from truce.db import Database
from truce.dedup import syndication_groups
from truce.ledger import latest_reviews


def incidents_json(database: Database) -> list[dict[str, Any]]:
    """EVAL-FORMAT.md section 4: each incident with the reports it rests on, by the id they were ingested with."""
    reports = database.reports()
    by_ext = {r.external_id: r for r in reports}
    synd = syndication_groups(reports)
    ext_of = {r.id: r.external_id for r in reports}
    updated = database.incident_updated_at()
    out = []
    for i in database.incidents():
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
        out.append(d)
    return out


def findings_json(database: Database, agreement: str | None = None) -> list[dict[str, Any]]:
    """Findings with their traces, when they were evaluated and the latest review of each."""
    reviews = latest_reviews(database)
    out = []
    for f, at in database.findings(agreement):
        d = f.to_dict()
        d["evaluated_at"] = at
        rv = reviews.get(f"{f.agreement_id}/{f.incident_id}")
        d["review"] = rv
        out.append(d)
    return out
