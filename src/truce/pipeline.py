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
between them and the database. Transactions (docs/hardening.md): one run
per database at a time (``Database.run_lock``); each extraction batch is
computed, then stored in one transaction; stages 3-6 are computed, then
incidents, ledger entries, findings and status observations are stored in
one transaction, so no crash point can lose or repeat a ledger entry. A
report the extractor cannot read (too long, over its time budget, a failure)
is recorded as skipped with its reason and not retried by the same extractor.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from truce import dedup, evaluate, fuse, ledger, physical
from truce.context import Context
from truce.db import Database
from truce.errors import ExtractionError
from truce.extract import finalize
from truce.extract.acled import AcledExtractor
from truce.grade import ReportMeta
from truce.records import ACLED_CONTENT_TYPE, Claim, FireCandidate, PhysicalEvidence, Report

Progress = Callable[[str, int, int], None]
EXTRACT_BATCH = 200  # reports computed, then stored, per transaction


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


class BudgetExceeded(BaseException):
    """The per-report time budget ran out (a BaseException: no ``except Exception`` in a
    stage may swallow it)."""


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM; in the main thread of a POSIX process
    only, elsewhere the block runs unbounded)."""
    if (not seconds or seconds == float("inf") or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def _expired(_signum: int, _frame: object) -> None:
        raise BudgetExceeded

    old = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def extract_one(rep: Report, ctx: Context, raw: dict[str, bytes] | None = None) -> tuple[list[Claim], str | None]:
    """One report's claims, or ([], why it was skipped): longer than ``max_report_chars``,
    over the ``extract_budget`` or failed inside the extractor. An :class:`ExtractionError`
    (a model endpoint down) is raised: that report is worth trying again."""
    limit = ctx.settings.max_report_chars
    if len(rep.text) > limit:
        return [], f"report text is {len(rep.text):,} characters; the limit is {limit:,} (TRUCE_MAX_REPORT_CHARS)"
    budget = ctx.settings.extract_budget
    try:
        with time_budget(budget):
            return extract_reports([rep], ctx, raw)[rep.id], None
    except BudgetExceeded:
        return [], f"extraction took longer than {budget:g} s (TRUCE_EXTRACT_BUDGET)"
    except ExtractionError:
        raise
    except Exception as e:  # noqa: BLE001 - one bad report must not stop the others
        return [], f"extractor failed: {type(e).__name__}: {' '.join(str(e).split())[:200]}"


def _meta(reports: list[Report], synd: dict[str, str]) -> dict[str, ReportMeta]:
    return {r.id: ReportMeta(r.id, r.external_id, r.source, r.source_kind, r.affiliation, r.url, r.published,
                             synd.get(r.id, r.id)) for r in reports}


def _dedup_stage(db: Database, s: RunSummary, progress: Progress | None) -> None:
    """Stage 2: group the reports not yet deduped with their syndicated copies (stored)."""
    s.syndicated_groups = dedup.update(db, progress=progress).groups


def run_pipeline(db: Database, ctx: Context, *, progress: Progress | None = None, author: str | None = None,
                 wait: float | None = None) -> RunSummary:
    """Every stage over what is stored. One run per database at a time: another run's
    lock raises :class:`truce.db.LockedError` naming its holder, unless ``wait`` (seconds,
    ``float('inf')`` for ever) lets this run wait its turn."""
    author = author or ctx.settings.who
    with db.run_lock(author, wait=wait):
        return _run(db, ctx, progress, author)


def _run(db: Database, ctx: Context, progress: Progress | None, author: str) -> RunSummary:
    s = RunSummary()
    t0 = time.perf_counter()

    # 1. extract (incremental: only reports the current extractor has not read); each batch
    # is computed, then stored in one transaction: a crash loses at most the batch in progress
    extractor_id = ctx.extractor.id
    pending = db.reports_to_extract(extractor_id)
    for start in range(0, len(pending), EXTRACT_BATCH):
        batch = db.reports(pending[start:start + EXTRACT_BATCH])
        done: list[tuple[Report, list[Claim], str | None]] = []
        for k, rep in enumerate(batch, start=start + 1):
            row = db.report_raw(rep.id) if rep.content_type == ACLED_CONTENT_TYPE else None
            raw = {rep.id: row} if row is not None else None
            try:
                claims, skipped = extract_one(rep, ctx, raw)
            except ExtractionError as e:
                s.errors.append(f"{rep.external_id}: extraction failed: {e}")
                continue
            done.append((rep, claims, skipped))
            if skipped:
                s.skipped.append(f"{rep.external_id}: skipped: {skipped}")
            if progress:
                progress("extract", k, len(pending))
        db.replace_claims_many([(rep.id, claims, skipped) for rep, claims, skipped in done], extractor_id)
    s.extracted = len(pending)
    s.seconds["extract"] = time.perf_counter() - t0

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
