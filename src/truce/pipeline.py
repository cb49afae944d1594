"""The pipeline, stage by stage (DESIGN.md "Data flow"):

1. extract   — reports not yet read by the current extractor → claims (in
               worker processes with ``workers``/``pool``: truce.parallel)
2. dedup     — syndicated copies grouped (one voice per group)
3. fuse      — claims → incidents, each graded by corroboration
3a. physical — satellite fire detections (when any are stored) weighed for
               incidents at registry facilities; candidate incidents for review
4. status    — each agreement's status history from negotiation claims
5. evaluate  — every incident × agreement → a finding with its trace
6. ledger    — new or changed findings, retired ones and status
               observations appended to the hash chain

Each stage is a function over records; this module only moves records
between them and the database. Transactions (docs/hardening.md): one run
per database at a time (``Database.run_lock``); each extraction batch is
computed, then stored in one transaction; stages 3-6 are computed, then
incidents, ledger entries, findings and status observations are stored in
one transaction, so no crash point can lose or repeat a ledger entry. A
report the extractor cannot read (too long, over its time budget, a failure)
is recorded as skipped with its reason and not retried by the same extractor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Iterator

from truce import dedup, evaluate, fuse, ledger, physical
from truce.context import Context
from truce.db import Database
from truce.grade import ReportMeta
from truce.parallel import (BudgetExceeded, Extracted, ExtractionPool, Item, extract_one, extract_reports,
                            time_budget)
from truce.records import ACLED_CONTENT_TYPE, FireCandidate, PhysicalEvidence, Report

Progress = Callable[[str, int, int], None]
EXTRACT_BATCH = 200  # reports computed, then stored, per transaction
__all__ = ["BudgetExceeded", "RunSummary", "extract_one", "extract_reports", "run_pipeline", "time_budget"]


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
    skipped: list[str] = field(default_factory=list)  # reports skipped by this run, with the reason
    seconds: dict[str, float] = field(default_factory=dict)
    stopped: bool = False  # asked to stop (truce watch on SIGTERM): extraction stopped between reports


def _meta(reports: list[Report], synd: dict[str, str]) -> dict[str, ReportMeta]:
    return {r.id: ReportMeta(r.id, r.external_id, r.source, r.source_kind, r.affiliation, r.url, r.published,
                             synd.get(r.id, r.id)) for r in reports}


def _dedup_stage(db: Database, s: RunSummary, progress: Progress | None) -> None:
    """Stage 2: group the reports not yet deduped with their syndicated copies (stored)."""
    s.syndicated_groups = dedup.update(db, progress=progress).groups


def run_pipeline(db: Database, ctx: Context, *, progress: Progress | None = None, author: str | None = None,
                 wait: float | None = None, workers: int = 1, pool: ExtractionPool | None = None,
                 on_extracted: Callable[[Extracted], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> RunSummary:
    """Every stage over what is stored. One run per database at a time: another run's
    lock raises :class:`truce.db.LockedError` naming its holder, unless ``wait`` (seconds,
    ``float('inf')`` for ever) lets this run wait its turn.

    Extraction runs in ``workers`` processes (1: in this process), or in ``pool`` (kept
    by the caller across runs, ``truce watch``); the results are the same either way.
    ``on_extracted`` sees each report read, once it is stored. When ``stop()`` turns true
    (checked between reports), the reports read so far are stored, extraction ends and the
    later stages are left to the next run (``RunSummary.stopped``)."""
    author = author or ctx.settings.who
    with db.run_lock(author, wait=wait):
        if pool is not None:
            return _run(db, ctx, progress, author, pool, on_extracted, stop)
        with ExtractionPool(ctx, workers) as own:
            return _run(db, ctx, progress, author, own, on_extracted, stop)


def _pending(db: Database, ids: list[str]) -> Iterator[Item]:
    """The reports to read, fetched a batch at a time (ACLED rows with their raw JSON)."""
    for start in range(0, len(ids), EXTRACT_BATCH):
        for rep in db.reports(ids[start:start + EXTRACT_BATCH]):
            yield rep, db.report_raw(rep.id) if rep.content_type == ACLED_CONTENT_TYPE else None


def _until(it: Iterator[Extracted], n: int, stop: Callable[[], bool]) -> Iterator[Extracted]:
    """At most ``n`` items, fewer when ``stop()`` turns true (checked between reports)."""
    for k, x in enumerate(it, start=1):
        yield x
        if k >= n or stop():
            return


def _run(db: Database, ctx: Context, progress: Progress | None, author: str, pool: ExtractionPool,
         on_extracted: Callable[[Extracted], None] | None = None,
         stop: Callable[[], bool] | None = None) -> RunSummary:
    s = RunSummary()
    t0 = time.perf_counter()

    # 1. extract (incremental: only reports the current extractor has not read), in report
    # order; each batch is computed (here or by the pool's workers), then stored in one
    # transaction: a crash loses at most the batch in progress
    extractor_id = ctx.extractor.id
    pending = db.reports_to_extract(extractor_id)
    reading = pool.map(_pending(db, pending), total=len(pending), progress=progress)
    while batch := list(islice(reading, EXTRACT_BATCH) if stop is None else _until(reading, EXTRACT_BATCH, stop)):
        db.replace_claims_many([(x.report.id, list(x.claims), x.skipped) for x in batch if x.error is None],
                               extractor_id)
        for x in batch:
            if x.error is not None:
                s.errors.append(f"{x.report.external_id}: extraction failed: {x.error}")
            elif x.skipped:
                s.skipped.append(f"{x.report.external_id}: skipped: {x.skipped}")
            if on_extracted is not None and x.error is None:
                on_extracted(x)
        if stop is not None and stop():
            reading.close()  # no more batches handed out
            s.stopped = True
            break
    s.extracted = len(pending)
    s.seconds["extract"] = time.perf_counter() - t0
    if s.stopped:
        return s

    reports = db.reports()
    claims = db.claims()
    s.reports = len(reports)
    s.claims = len(claims)
    for c in claims:
        s.claims_by_kind[c.kind] = s.claims_by_kind.get(c.kind, 0) + 1

    # 2. dedup (incremental: reports not yet deduped, against the stored band keys)
    t = time.perf_counter()
    _dedup_stage(db, s, progress)
    meta = _meta(reports, db.syndication())
    s.seconds["dedup"] = time.perf_counter() - t

    # 3. fuse and grade
    t = time.perf_counter()
    region_names = {code: p.name for code, p in ctx.gazetteer.regions.items()}
    region_points = {code: (p.lat, p.lon) for code, p in ctx.gazetteer.regions.items()}
    unattached: list[fuse.Unattached] = []
    incidents = fuse.fuse(claims, meta, ctx.registry, region_names, region_points, unattached)
    s.seconds["fuse"] = time.perf_counter() - t

    # 3a. physical evidence: satellite fire detections, when any are stored
    physical_rows: tuple[list[PhysicalEvidence], list[FireCandidate]] | None = None
    if db.fire_detection_count():
        t = time.perf_counter()
        incidents, evidence, candidates = physical.corroborate(
            *db.fire_points(), db.fire_detections, incidents, ctx.registry, physical.load_matching(ctx.settings.firms_matching))
        physical_rows = (evidence, candidates)  # stored with the incidents, below
        for ev in evidence:
            key = "no_data" if ev.why == "no_data" else ev.verdict  # no FIRMS file covers its days
            s.physical[key] = s.physical.get(key, 0) + 1
        s.physical["candidates"] = len(candidates)
        s.seconds["physical"] = time.perf_counter() - t
    t = time.perf_counter()
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

    # 6. store incidents, then append what changed to the ledger and store the current findings
    # and status observations: one transaction, so they commit together or not at all
    t = time.perf_counter()
    with db.atomic():
        db.replace_incidents(incidents)
        if physical_rows is not None:
            db.replace_physical(*physical_rows)
        appended = ledger.record_evaluation(db, results, incidents, status_rows, author)
    s.ledger_appended = len(appended)
    s.ledger_entries = db.ledger_count()
    s.seconds["ledger"] = time.perf_counter() - t
    s.seconds["total"] = time.perf_counter() - t0
    return s
