"""The pipeline, stage by stage (DESIGN.md "Data flow"):

1. extract   — reports not yet read by the current extractor → claims
2. dedup     — syndicated copies grouped (one voice per group)
3. fuse      — claims → incidents, each graded by corroboration
3a. physical — satellite fire detections (when any are stored) weighed for
               incidents at registry facilities; candidate incidents for review
4. status    — each agreement's status history from negotiation claims
5. evaluate  — every incident × agreement → a finding with its trace
6. ledger    — new or changed findings, retired ones and status
               observations appended to the hash chain

Each stage is a function over records; this module only moves records
between them and the database.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from truce import dedup, evaluate, fuse, ledger, physical
from truce.context import Context
from truce.db import Database
from truce.extract import finalize
from truce.extract.acled import AcledExtractor
from truce.grade import ReportMeta
from truce.records import ACLED_CONTENT_TYPE, Claim, Report

Progress = Callable[[str, int, int], None]


@dataclass
class RunSummary:
    reports: int = 0
    extracted: int = 0
    claims: int = 0
    claims_by_kind: dict[str, int] = field(default_factory=dict)
    incidents: int = 0
    incidents_by_grade: dict[str, int] = field(default_factory=dict)
    findings_by_verdict: dict[str, dict[str, int]] = field(default_factory=dict)
    ledger_appended: int = 0
    ledger_entries: int = 0
    syndicated_groups: int = 0
    physical: dict[str, int] = field(default_factory=dict)  # satellite evidence by verdict, and candidates
    counter_claims: int = 0  # claims whose report denies the event they are about
    unattached: list[str] = field(default_factory=list)  # counter-claims with no incident to join, and why
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def extract_reports(reports: Iterable[Report], ctx: Context, raw: dict[str, bytes] | None = None) -> dict[str, list[Claim]]:
    """Stage 1 as a pure function: report id → its claims (ACLED rows use their own extractor)."""
    out: dict[str, list[Claim]] = {}
    extractor = ctx.extractor
    acled_ex = None
    for r in reports:
        if r.content_type == ACLED_CONTENT_TYPE and raw and r.id in raw:
            acled_ex = acled_ex or AcledExtractor(ctx.services, extractor)
            claims = acled_ex.extract_row(r, json.loads(raw[r.id]))
        else:
            claims = extractor.extract(r)
        out[r.id] = finalize(claims, r, ctx.services)
    return out


def _meta(reports: list[Report], synd: dict[str, str]) -> dict[str, ReportMeta]:
    return {r.id: ReportMeta(r.id, r.external_id, r.source, r.source_kind, r.affiliation, r.url, r.published,
                             synd.get(r.id, r.id)) for r in reports}


def run_pipeline(db: Database, ctx: Context, *, progress: Progress | None = None, author: str | None = None) -> RunSummary:
    s = RunSummary()
    t0 = time.perf_counter()
    author = author or ctx.settings.who

    # 1. extract (incremental: only reports the current extractor has not read)
    extractor_id = ctx.extractor.id
    pending = db.reports_to_extract(extractor_id)
    for start in range(0, len(pending), 200):
        batch = db.reports(pending[start:start + 200])
        with db.atomic():  # one transaction per batch: a crash loses at most the batch in progress
            for k, rep in enumerate(batch, start=start + 1):
                row = db.report_raw(rep.id) if rep.content_type == ACLED_CONTENT_TYPE else None
                raw = {rep.id: row} if row is not None else None
                try:
                    claims = extract_reports([rep], ctx, raw)[rep.id]
                except Exception as e:  # noqa: BLE001 - one bad report must not stop the batch
                    s.errors.append(f"{rep.external_id}: extraction failed: {e}")
                    continue
                db.replace_claims(rep.id, extractor_id, claims)
                if progress:
                    progress("extract", k, len(pending))
    s.extracted = len(pending)
    s.seconds["extract"] = time.perf_counter() - t0

    reports = db.reports()
    claims = db.claims()
    s.reports = len(reports)
    s.claims = len(claims)
    for c in claims:
        s.claims_by_kind[c.kind] = s.claims_by_kind.get(c.kind, 0) + 1

    # 2. dedup
    t = time.perf_counter()
    synd = dedup.syndication_groups(reports)
    s.syndicated_groups = len(dedup.groups_of(synd))
    meta = _meta(reports, synd)
    s.seconds["dedup"] = time.perf_counter() - t

    # 3. fuse and grade
    t = time.perf_counter()
    region_names = {code: p.name for code, p in ctx.gazetteer.regions.items()}
    region_points = {code: (p.lat, p.lon) for code, p in ctx.gazetteer.regions.items()}
    unattached: list[fuse.Unattached] = []
    incidents = fuse.fuse(claims, meta, ctx.registry, region_names, region_points, unattached)
    s.seconds["fuse"] = time.perf_counter() - t

    # 3a. physical evidence: satellite fire detections, when any are stored
    if db.fire_detection_count():
        t = time.perf_counter()
        incidents, evidence, candidates = physical.corroborate(
            *db.fire_points(), db.fire_detections, incidents, ctx.registry, physical.load_matching(ctx.settings.firms_matching))
        db.replace_physical(evidence, candidates)
        for ev in evidence:
            key = "no_data" if ev.why == "no_data" else ev.verdict  # no FIRMS file covers its days
            s.physical[key] = s.physical.get(key, 0) + 1
        s.physical["candidates"] = len(candidates)
        s.seconds["physical"] = time.perf_counter() - t
    t = time.perf_counter()
    db.replace_incidents(incidents)
    s.counter_claims = sum(1 for c in claims if c.stance == "denies" and c.kind in fuse.FUSE_KINDS)
    s.unattached = [f"{u.report_id} claim {u.claim_id.rsplit(':', 1)[1]}: {u.reason}" for u in unattached]
    s.incidents = len(incidents)
    for i in incidents:
        s.incidents_by_grade[i.grade] = s.incidents_by_grade.get(i.grade, 0) + 1
    s.seconds["fuse"] += time.perf_counter() - t
    if progress:
        progress("fuse", len(incidents), len(incidents))

    # 4. agreement status histories
    externals = {r.id: (r.external_id, r.source) for r in reports}
    kinds = {r.id: (r.source_kind, r.affiliation) for r in reports}
    status_rows = [row for a in ctx.agreements for row in evaluate.status_history(a, claims, externals, kinds)]
    known_status = {(r.agreement_id, r.claim_id) for r in db.agreement_status()}
    db.replace_agreement_status(status_rows)

    # 5. evaluate
    t = time.perf_counter()
    claims_by_id = {c.id: c for c in claims}
    affiliations = {r.id: r.affiliation for r in reports}
    results = []
    for inc in incidents:
        inc_claims = [claims_by_id[link.claim_id] for link in inc.claims if link.claim_id in claims_by_id]
        fac = ctx.registry.get(inc.facility_id)
        occupied = bool(fac and fac.status == "occupied") or inc.region_code in ctx.gazetteer.occupied_regions
        for a in ctx.agreements:
            f = evaluate.evaluate(inc, a, inc_claims, affiliations, occupied=occupied)
            results.append((f, f.digest()))
            by_v = s.findings_by_verdict.setdefault(a.id, {})
            by_v[f.verdict] = by_v.get(f.verdict, 0) + 1
    s.seconds["evaluate"] = time.perf_counter() - t

    # 6. ledger: append what changed, then store the current findings
    t = time.perf_counter()
    appended = ledger.record_evaluation(db, results, incidents, status_rows, known_status, author)
    s.ledger_appended = len(appended)
    s.ledger_entries = db.ledger_count()
    s.seconds["ledger"] = time.perf_counter() - t
    s.seconds["total"] = time.perf_counter() - t0
    return s
