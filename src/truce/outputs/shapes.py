"""The public JSON shapes of incidents and findings (EVAL-FORMAT.md section 4),
defined once for the command line, the exports and the web API, and selected with
one :class:`truce.outputs.query.Filters`.

:func:`incident_shape` and :func:`finding_shape` are the one definition of each shape.
The command line shapes everything it selected (:func:`incidents_json`,
:func:`findings_json`); the web API shapes one page at a time (:func:`incident_page_json`,
:func:`finding_page_json`), reading from the database only what the page needs."""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

from truce.db import Database
from truce.db_queries import ClaimQuote, ReportRef
from truce.ledger import latest_reviews
from truce.outputs.query import Filters, finding_order
from truce.records import Claim, Finding, Incident, Report

EVIDENCE_KINDS = ("strike", "accusation")  # the claims an incident's first quote is taken from


def verdicts_by_incident(database: Database) -> dict[str, dict[str, str]]:
    """incident id → {agreement id: verdict}."""
    out: dict[str, dict[str, str]] = {}
    for iid, aid, verdict in database.verdicts():
        out.setdefault(iid, {})[aid] = verdict
    return out


def select_incidents(database: Database, filters: Filters | None = None) -> list[Incident]:
    filters = filters or Filters()
    verdicts = verdicts_by_incident(database) if filters.verdicts else {}
    return [i for i in database.incidents() if filters.incident(i, verdicts.get(i.id, {}))]


def incident_shape(incident: Incident | dict[str, Any], *, reports: Mapping[str, Report | ReportRef],
                   syndicated: Mapping[str, str], external_of: Mapping[str, str], updated_at: str | None,
                   verdicts: Mapping[str, str], claims: Mapping[str, Claim | ClaimQuote]) -> dict[str, Any]:
    """One incident as EVAL-FORMAT.md section 4 has it: the reports it rests on, by the id they
    were ingested with (``reports``: external id → report); each claim's role (claim,
    counter-claim, corroboration); the verdict under each agreement; and the first evidence
    quote with its source and URL. ``incident``: the record or its ``to_dict()`` (as stored);
    ``syndicated``: report id → canonical report id of its syndication group; ``external_of``:
    report id → the external id it is shown with."""
    d = incident.to_dict() if isinstance(incident, Incident) else dict(incident)
    links = d["claims"]
    d["reports"] = []
    for rid in d.pop("report_ids"):
        r = reports.get(rid)
        canon = syndicated.get(r.id, r.id) if r else None
        d["reports"].append({"report_id": rid, "url": r.url if r else None, "source": r.source if r else None,
                             "affiliation": r.affiliation if r else None,
                             "syndicated_with": external_of.get(canon, canon) if r and canon and canon != r.id else None})
    d["claims"] = [{"report_id": c["report_id"], "claim": int(c["claim_id"].rsplit(":", 1)[1]),
                    "joined_because": c["joined_because"], "role": c.get("role", "claim"), "role_note": c.get("role_note", "")}
                   for c in links]
    d["updated_at"] = updated_at
    d["verdicts"] = dict(sorted(verdicts.items()))
    d["first_evidence"] = _first_evidence(links, claims, reports)
    return d


def incidents_json(database: Database, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Every selected incident in :func:`incident_shape`, with the syndication groups stored by
    ``truce run`` (read, not recomputed) and only the reports the incidents rest on (no texts)."""
    updated = database.incident_updated_at()
    verdicts = verdicts_by_incident(database)
    filters = filters or Filters()
    chosen = [i for i in database.incidents() if filters.incident(i, verdicts.get(i.id, {}))]
    by_ext, synd, ext_of = _reports_of([rid for i in chosen for rid in i.report_ids], database)
    claims = {c.id: c for c in database.claims(EVIDENCE_KINDS)} if chosen else {}
    return [incident_shape(i, reports=by_ext, syndicated=synd, external_of=ext_of, updated_at=updated.get(i.id),
                           verdicts=verdicts.get(i.id, {}), claims=claims) for i in chosen]


def incident_page_json(database: Database, page: Sequence[Incident | dict[str, Any]],
                       published: Collection[tuple[str, str]] | None = None,
                       updated: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The incidents of one page (records, or their ``to_dict()``) in :func:`incident_shape`,
    reading only what the shape shows of their reports and claims, and their findings' verdicts;
    syndicated copies are read from the groups ``truce run`` stored. ``published``: when given, only
    the verdicts of these (incident id, agreement id) pairs are shown (the public view); ``updated``:
    incident id → updated_at, when the caller read it with the page."""
    if not page:
        return []
    dicts = [i.to_dict() if isinstance(i, Incident) else i for i in page]
    by_ext = database.report_refs([rid for d in dicts for rid in d["report_ids"]])
    synd = database.syndication({r.id for r in by_ext.values()})
    ext_of = database.external_ids(set(synd.values()))  # the shape names only the canonical of a copy
    ids = [d["id"] for d in dicts]
    if updated is None:
        updated = database.incident_stamps(ids)
    verdicts: dict[str, dict[str, str]] = {}
    for iid, aid, verdict in database.verdicts_of(ids):
        if published is None or (iid, aid) in published:
            verdicts.setdefault(iid, {})[aid] = verdict
    claims = database.claim_quotes([c["claim_id"] for d in dicts for c in d["claims"]], EVIDENCE_KINDS)
    return [incident_shape(d, reports=by_ext, syndicated=synd, external_of=ext_of, updated_at=updated.get(d["id"]),
                           verdicts=verdicts.get(d["id"], {}), claims=claims) for d in dicts]


def _reports_of(external_ids: Sequence[str], database: Database) -> tuple[dict[str, Report], dict[str, str], dict[str, str]]:
    """The reports of these external ids (without their texts), report id → canonical report id of
    its stored syndication group (copies only), and report id → the external id it is shown with
    (for those reports and the canonicals of their groups)."""
    by_ext = database.reports_by_external(external_ids, text=False)
    synd = database.syndication({r.id for r in by_ext.values()})
    ext_of = database.external_ids({r.id for r in by_ext.values()} | set(synd.values()))
    return by_ext, synd, ext_of


def first_evidence(i: Incident, claims: Mapping[str, Claim], reports: Mapping[str, Report]) -> dict[str, Any] | None:
    """The first quote an incident rests on: from the earliest report asserting it (the claim
    before corroboration; a counter-claim only when nothing else is quoted)."""
    return _first_evidence([c.to_dict() for c in i.claims], claims, reports)


def _first_evidence(links: Sequence[Mapping[str, Any]], claims: Mapping[str, Claim | ClaimQuote],
                    reports: Mapping[str, Report | ReportRef]) -> dict[str, Any] | None:
    rank = {"claim": 0, "corroboration": 1, "counter-claim": 2}
    best = None
    for link in links:
        c = claims.get(link["claim_id"])
        r = reports.get(link["report_id"])
        if c is None or not c.evidence:
            continue
        role = link.get("role", "claim")
        key = (rank.get(role, 3), (r.published if r else None) or "9999", link["report_id"], c.index)
        if best is None or key < best[0]:
            best = (key, c, r, link)
    if best is None:
        return None
    _, c, r, link = best
    return {"quote": c.evidence[0].text, "report_id": link["report_id"], "source": r.source if r else None,
            "url": r.url if r else None, "role": link.get("role", "claim")}


def finding_shape(f: Finding, evaluated_at: str | None, review: dict[str, Any] | None) -> dict[str, Any]:
    """One finding with its trace, when it was evaluated and its latest review."""
    d = f.to_dict()
    d["evaluated_at"] = evaluated_at
    d["review"] = review
    return d


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
    return [finding_shape(f, at, reviews.get(f"{f.agreement_id}/{f.incident_id}")) for f, at in rows]


def page_reviews(database: Database, subjects: Sequence[str]) -> dict[str, dict[str, Any]]:
    """subject → its latest review (as :func:`truce.ledger.latest_reviews`), for these subjects only."""
    out: dict[str, dict[str, Any]] = {}
    for e in database.ledger_about(subjects, ["review"]):
        out[e.subject] = {**e.payload, "author": e.author, "created_at": e.created_at, "seq": e.seq}
    return out


def finding_page_json(database: Database, rows: Sequence[tuple[Finding, str]]) -> list[dict[str, Any]]:
    """The findings of one page in :func:`finding_shape`, reading only their reviews."""
    reviews = page_reviews(database, [f"{f.agreement_id}/{f.incident_id}" for f, _ in rows])
    return [finding_shape(f, at, reviews.get(f"{f.agreement_id}/{f.incident_id}")) for f, at in rows]
