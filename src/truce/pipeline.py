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

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Iterable, Iterator, Sequence

from truce import dedup, evaluate, fuse, ledger, physical
from truce.context import Context
from truce.db import Database
from truce.db_fusion import PlacedClaim
from truce.grade import ReportMeta
from truce.memory import batch_collection
from truce.parallel import (BudgetExceeded, Extracted, ExtractionPool, Item, extract_one, extract_reports,
                            time_budget)
from truce.records import (ACLED_CONTENT_TYPE, VERDICTS, Claim, Finding, Incident, StatusObservation,
                           canonical_json)

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
    blocks: int = 0  # blocks of claims fusion re-decided (a region, or a country; truce.fuse.block_of)
    provisional: int = 0  # large blocks whose new claims were fused in a time slice only (settled by a later run)
    unsettled: int = 0  # blocks left queued by this run (provisional or deferred), for a quieter run to settle
    status_pending: bool = False  # agreement status histories left for a quieter run to recompute
    evaluated: int = 0  # incidents evaluated (changed, missing a finding, or all when the terms changed)
    physical: dict[str, int] = field(default_factory=dict)  # satellite evidence by verdict, and candidates
    counter_claims: int = 0  # claims whose report denies the event they are about
    unattached: list[str] = field(default_factory=list)  # counter-claims with no incident to join, and why
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # reports skipped by this run, with the reason
    seconds: dict[str, float] = field(default_factory=dict)
    stopped: bool = False  # asked to stop (truce watch on SIGTERM): extraction stopped between reports


def run_pipeline(db: Database, ctx: Context, *, progress: Progress | None = None, author: str | None = None,
                 wait: float | None = None, workers: int = 1, pool: ExtractionPool | None = None,
                 on_extracted: Callable[[Extracted], None] | None = None,
                 stop: Callable[[], bool] | None = None, defer_over: int | None = None,
                 summary: bool = True) -> RunSummary:
    """Every stage over what is stored. One run per database at a time: another run's
    lock raises :class:`truce.db.LockedError` naming its holder, unless ``wait`` (seconds,
    ``float('inf')`` for ever) lets this run wait its turn.

    Extraction runs in ``workers`` processes (1: in this process), or in ``pool`` (kept
    by the caller across runs, ``truce watch``); the results are the same either way.
    ``on_extracted`` sees each report read, once it is stored. When ``stop()`` turns true
    (checked between reports), the reports read so far are stored, extraction ends and the
    later stages are left to the next run (``RunSummary.stopped``).

    ``defer_over`` (claims; ``truce watch``) trades exactness now for latency: the new
    reports' claims in a block larger than this are fused with the incidents of their days
    only (:func:`fuse_slice`, provisional), and large blocks queued earlier wait, until a
    run with no new report settles them in full. ``None`` (``truce run``): every queued
    block is re-decided in full. ``summary=False`` skips the whole-database counts."""
    author = author or ctx.settings.who
    with db.run_lock(author, wait=wait), batch_collection():
        if pool is not None:
            return _run(db, ctx, progress, author, pool, on_extracted, stop, defer_over, summary)
        with ExtractionPool(ctx, workers) as own:
            return _run(db, ctx, progress, author, own, on_extracted, stop, defer_over, summary)


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
         stop: Callable[[], bool] | None = None, defer_over: int | None = None, summary: bool = True) -> RunSummary:
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

    # 2-6: only what is new to fusion (the blocks its claims touch); nothing new, nothing read
    # a watcher's run that read reports looks for what is new to fusion among them only, and
    # fuses them provisionally in large blocks; its quiet runs (nothing read) look at every
    # report and decide every queued block exactly, as `truce run` does
    among = pending if defer_over is not None and pending else None
    plan = plan_fusion(db, ctx, s, collect=among is not None, counts=summary, among=among)
    fuse_blocks(db, ctx, s, author, progress, plan=plan, defer_over=defer_over)
    if plan.orphans:
        with db.atomic():
            s.ledger_appended += len(ledger.record_changes(db, [], plan.orphans, [a.id for a in ctx.agreements], author))
    if plan.status and among is None:
        record_status(db, ctx, s, author)
    elif plan.status:  # a watcher's run: status histories read every negotiation claim; its quiet run does it
        s.status_pending = True
    if among is None:  # a run over everything (not a watcher's reading run): after bulk writes, fresh plans
        t = time.perf_counter()
        db.refresh_statistics()
        s.seconds["analyze"] = time.perf_counter() - t
    if summary:
        summarise(db, s)
    s.seconds["total"] = time.perf_counter() - t0
    return s


def dedup_stage(db: Database, s: RunSummary, progress: Progress | None = None, *,
                among: Sequence[str] | None = None, count: bool = True) -> tuple[dict[str, str], set[str]]:
    """Stage 2 (incremental: reports not yet deduped — of ``among`` when given — against the
    stored band keys), run when reports are new to fusion. Returns the reports whose canonical
    may differ from what fusion last used — every member of the groups of ``among`` and of the
    reports this update regrouped (a run that crashed after its dedup left its new reports
    unfused: their groups hold whatever that dedup moved) — and of them, report id →
    canonical for the copies."""
    t = time.perf_counter()
    d = dedup.update(db, progress=progress, among=among, count=count)
    s.syndicated_groups = d.groups
    if among is None or d.redone:
        copies = db.syndication()
        check = set(db.fused_canonicals()) | set(copies)
    else:
        members = db.group_members_of(sorted(set(among) | d.touched))
        copies = {rid: c for rid, c in members.items() if c != rid}
        check = set(members) | set(among)
    s.seconds["dedup"] = time.perf_counter() - t
    return copies, check


# --- stages 3-6, incrementally: blocks of claims -------------------------------------------------
#
# Fusion never decides across blocks (truce.fuse.block_of): a run re-decides only the blocks that
# new or changed claims touch, and leaves every other block's incidents, findings and ledger
# entries as stored. Blocks wait in a durable queue (``dirty_blocks``) from the transaction that
# files the new claims into blocks to the one that stores the block's incidents, findings and
# ledger entries: a crash anywhere leaves the work queued, never half done.

FUSION_VERSION = "blocks/1"  # bump when fusion, grading or evaluation change what they decide
CHUNK_CLAIMS = 10_000  # blocks re-decided (loaded, fused, stored) together, up to this many claims
EVALUATE_BATCH = 1_000  # incidents evaluated and logged together (inside their chunk's transaction)
PLAN_REPORTS = 2_000  # reports filed into blocks per query
STATUS_PAGE = 2_000  # negotiation claims read per page by the status stage (whole days)
STATUS_PARTIAL_MAX = 2_000  # reports whose days a status recompute picks out; more: every day, a page at a time
COLLECT_CLAIMS = 5_000  # new claims a plan keeps for provisional fusion; more: every block in full
SLICE_DAYS = 3  # a new dated claim reaches incidents this many days away: ±1 clustering, ±1 joins, 0-3 days' lag


@dataclass
class FusionPlan:
    reports: int = 0  # reports new to fusion (or whose extraction, external id or syndication group changed)
    blocks: int = 0  # blocks queued
    full: bool = False  # fusion's inputs (terms, registry, gazetteer, satellite data, engine) changed: every block
    status: bool = False  # agreement status histories to recompute
    orphans: list[str] = field(default_factory=list)  # incident ids findings name but no incident has
    added: dict[str, list[Claim]] = field(default_factory=dict)  # block → claims of reports new to fusion (or regraded)
    provisional: bool = False  # a watcher's reading run: large blocks fused provisionally, or left to wait
    mixed: set[str] = field(default_factory=set)  # blocks a report fusion saw before enters or leaves


def inputs_digest(db: Database, ctx: Context) -> str:
    """What every block's incidents and findings depend on besides its claims: the engines'
    versions, the agreements' terms, the registry, the gazetteer's regions and the satellite
    data with its matching parameters. A change re-decides every block."""
    g = ctx.gazetteer
    parts = {
        "fusion": FUSION_VERSION, "evaluate": evaluate.ENGINE_VERSION,
        "agreements": sorted((a.id, a.digest) for a in ctx.agreements),
        "registry": _registry_digest(ctx),
        "regions": sorted((code, p.name, p.lat, p.lon) for code, p in g.regions.items()),
        "occupied": sorted(g.occupied_regions),
        "fires": db.fire_detection_count(),
    }
    if parts["fires"]:
        parts["matching"] = physical.load_matching(ctx.settings.firms_matching)
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


_REGISTRY_DIGESTS: dict[int, tuple[object, str]] = {}  # id(registry) → (registry, digest): a watcher's runs


def _registry_digest(ctx: Context) -> str:
    held = _REGISTRY_DIGESTS.get(id(ctx.registry))
    if held is None or held[0] is not ctx.registry:
        digest = hashlib.sha256("\n".join(canonical_json(f.to_dict()) for f in sorted(ctx.registry, key=lambda f: f.id))
                                .encode()).hexdigest()
        _REGISTRY_DIGESTS.clear()
        held = _REGISTRY_DIGESTS[id(ctx.registry)] = (ctx.registry, digest)
    return held[1]


def blocks_digest(ctx: Context) -> str:
    """What decides a claim's block besides the claim: the registry's facilities (their regions)."""
    return hashlib.sha256(canonical_json(sorted((f.id, f.region_code, f.country) for f in ctx.registry)).encode()).hexdigest()


def report_meta(db: Database, report_ids: Iterable[str]) -> dict[str, ReportMeta]:
    """What grading needs of these reports and of their syndication groups' canonical reports.
    The canonical is the one fusion stored for the report (``fused_reports``, from stage 2):
    the only place to change when syndication groups are kept in the database."""
    rows = db.report_metas(report_ids)
    missing = {r["canonical"] for r in rows.values()} - set(rows)
    if missing:
        rows.update(db.report_metas(missing))
    return {rid: ReportMeta(r["report_id"], r["external_id"], r["source"], r["source_kind"], r["affiliation"],
                            r["url"], r["published"], r["canonical"]) for rid, r in rows.items()}


def plan_fusion(db: Database, ctx: Context, s: RunSummary, *, collect: bool = False, counts: bool = True,
                among: Sequence[str] | None = None) -> FusionPlan:
    """File the claims of reports new to fusion into their blocks and queue every block they
    enter or leave (all blocks when fusion's inputs changed), in one transaction. Reads only
    the changed reports' claims; with nothing new it reads two indexed joins and returns.
    ``collect`` keeps the claims of reports new to fusion, and of stored reports only regraded
    (their group's canonical moved), by block (``added``: up to ``COLLECT_CLAIMS``) and notes
    the blocks other changed reports touch (``mixed``);
    ``counts=False`` skips counting every syndication group; ``among`` looks for reports new
    to fusion among these only (a watcher's run: what it just read)."""
    t = time.perf_counter()
    plan = FusionPlan()
    digest = inputs_digest(db, ctx)
    plan.full = db.get_meta("fusion.inputs") != digest
    changed = set(db.fusion_changed_reports(among))
    filing = blocks_digest(ctx)
    refile = db.get_meta("fusion.blocks") != filing
    if refile:  # the registry changed: a facility's claims may lie in another block now
        changed |= set(db.fused_canonicals())
    canon: dict[str, str] = {}
    old: dict[str, str] = {}
    regraded: set[str] = set()  # reports fusion saw, claims unchanged, whose group's canonical moved
    if changed:
        copies, check = dedup_stage(db, s, among=None if refile else sorted(changed), count=counts)
        t = time.perf_counter()
        first = set(changed)
        old = db.fused_canonicals(sorted(check | changed))
        changed |= {rid for rid, c in old.items() if copies.get(rid, rid) != c}
        # a report's grade reads its canonical's metadata: a changed canonical changes its copies
        changed |= {rid for rid, c in copies.items() if c in changed and rid in old}
        canon = {rid: copies.get(rid, rid) for rid in changed}
        regraded = (changed - first) & set(old)
    elif counts:
        s.syndicated_groups = db.syndicated_count()
    ids = sorted(changed)
    plan.reports = len(ids)
    extra: set[str] = set()
    per_incident = len(ctx.agreements)
    incomplete: set[str] = set()
    # findings lost or forged: re-decide (two counts over every row: a watcher's reading run leaves
    # the look to its quiet runs, as it does the retired agreements')
    if among is None and findings_incomplete(db, ctx):
        incomplete = db.incomplete_finding_blocks(per_incident)
        plan.orphans = db.orphan_finding_incidents()
    if plan.full:
        extra |= db.fusion_blocks()
        if db.fire_detection_count():  # satellite candidates at facilities with no claims yet
            extra |= {fuse.facility_block(f.region_code, f.country) for f in ctx.registry}
    negotiating = db.with_negotiation(ids) if ids else set()  # had negotiation claims, or have (below)
    collect = collect and not plan.full and not refile
    kept = 0
    plan.provisional = collect
    if collect:  # a report fusion saw whose claims may differ: its blocks are re-decided in full
        plan.mixed = db.blocks_of_reports([rid for rid in ids if rid in old and rid not in regraded])
    queued: set[str] = set()
    with db.atomic():  # one transaction, written a part at a time (memory bounded by the part)
        for start in range(0, len(ids), PLAN_REPORTS):
            part = ids[start:start + PLAN_REPORTS]
            placed: dict[str, list[tuple[str, str]]] = {rid: [] for rid in part}
            # a claim's block comes from its columns; its JSON is decoded only where it is kept
            # (a watcher's collected claims) or may be a counter-claim that names no place
            rows: Sequence[Claim | PlacedClaim] = db.claims_of_reports(part) if collect else db.placed_claims_of_reports(part)
            for c in rows:
                b = fuse.block_of(c, ctx.registry)
                if b is not None:
                    placed[c.report_id].append((c.id, b))
                    if collect and c.report_id in old and c.report_id not in regraded:
                        plan.mixed.add(b)
                    elif collect:
                        plan.added.setdefault(b, []).append(_whole(c))
                        kept += 1
                        if kept > COLLECT_CLAIMS:  # a large batch: every block in full
                            collect = plan.provisional = False
                            plan.added.clear()
                elif c.kind in fuse.FUSE_KINDS and (whole := _whole(c)).stance == "denies":
                    s.counter_claims += 1
                    u = fuse.placeless_counter(whole, ctx.registry, report_meta(db, [c.report_id]))
                    if u is not None:
                        s.unattached.append(f"{u.report_id} claim {u.claim_id.rsplit(':', 1)[1]}: {u.reason}")
            snapshot = list(db.report_snapshot(part).values())
            for row in snapshot:
                row["canonical"] = canon.get(str(row["report_id"]), str(row["report_id"]))
                if row["negotiation"]:
                    negotiating.add(str(row["report_id"]))
            queued |= db.queue_blocks(placed, snapshot)
        queued |= db.queue_blocks({}, [], extra, everything=plan.full)
        queued |= db.queue_blocks({}, [], incomplete)
        plan.status = _queue_status(db, ctx, negotiating, everything=plan.full)
        if plan.full:
            db.set_meta("fusion.inputs", digest)
        if refile:
            db.set_meta("fusion.blocks", filing)
    plan.blocks = len(queued)
    s.seconds["plan"] = time.perf_counter() - t
    return plan


def _whole(c: Claim | PlacedClaim) -> Claim:
    return c if isinstance(c, Claim) else c.claim()


def findings_incomplete(db: Database, ctx: Context) -> bool:
    """Are findings missing (or forged in excess)? Every stored incident has one per agreement."""
    return db.finding_count() != db.incident_count() * len(ctx.agreements)


def _chunks_of_blocks(sizes: dict[str, int], limit: int) -> list[list[str]]:
    out: list[list[str]] = []
    n = 0
    for b in sorted(sizes):
        if not out or n + sizes[b] > limit:
            out.append([])
            n = 0
        out[-1].append(b)
        n += sizes[b]
    return out


def fuse_blocks(db: Database, ctx: Context, s: RunSummary, author: str, progress: Progress | None = None,
                chunk_claims: int = CHUNK_CLAIMS, *, plan: FusionPlan | None = None,
                defer_over: int | None = None) -> None:
    """Stages 3-6 over the queued blocks, a chunk of blocks at a time (bounded memory): fuse and
    grade, weigh satellite evidence, evaluate every incident of the chunk against every
    agreement, then in one transaction store the chunk's incidents and physical evidence, append
    changed findings (and retire those of incidents gone) to the ledger, store the changed
    findings and take the blocks off the queue. With ``defer_over`` (see :func:`run_pipeline`)
    blocks larger than that are fused provisionally (:func:`fuse_slice`) or wait."""
    queued = db.queued_blocks()
    if not queued:
        return
    t = time.perf_counter()
    sizes = db.block_sizes(list(queued))
    region_names = {code: p.name for code, p in ctx.gazetteer.regions.items()}
    region_points = {code: (p.lat, p.lon) for code, p in ctx.gazetteer.regions.items()}
    agreement_ids = [a.id for a in ctx.agreements]
    fires = None
    params: dict[str, object] = {}
    if db.fire_detection_count():
        fires = db.fire_points()
        params = physical.load_matching(ctx.settings.firms_matching)
    wait: set[str] = set()
    if defer_over is not None and plan is not None and plan.provisional and fires is None:
        big = {b for b, n in sizes.items() if n > defer_over and not queued[b]} - plan.mixed
        wait = big - set(plan.added)  # queued by earlier runs: settled by a run with nothing new
        for b in sorted(big & set(plan.added)):
            if fuse_slice(db, ctx, s, author, b, plan.added[b], region_names, region_points, agreement_ids):
                s.provisional += 1
                wait.add(b)
        s.unsettled = len(wait)
    s.seconds["fuse"] = s.seconds.get("fuse", 0.0) + time.perf_counter() - t
    t = time.perf_counter()
    chunks = _chunks_of_blocks({b: n for b, n in sizes.items() if b not in wait}, chunk_claims)
    s.blocks = len(queued) - len(wait)
    facilities: dict[str, list[str]] = {}
    for f in ctx.registry:
        facilities.setdefault(fuse.facility_block(f.region_code, f.country), []).append(f.id)
    done = 0
    for blocks in chunks:
        claims = db.block_claims(blocks)
        meta = report_meta(db, {c.report_id for c in claims})
        unattached: list[fuse.Unattached] = []
        incidents = fuse.fuse(claims, meta, ctx.registry, region_names, region_points, unattached)
        s.counter_claims += sum(1 for c in claims if c.stance == "denies")
        s.unattached += [f"{u.report_id} claim {u.claim_id.rsplit(':', 1)[1]}: {u.reason}" for u in unattached]
        s.seconds["fuse"] = s.seconds.get("fuse", 0.0) + time.perf_counter() - t
        physical_rows = None
        if fires is not None:
            t = time.perf_counter()
            incidents, evidence, candidates = physical.corroborate(*fires, db.fire_detections, incidents,
                                                                   ctx.registry, params)
            at = {fid for b in blocks for fid in facilities.get(b, ())}
            physical_rows = (evidence, [c for c in candidates if c.facility_id in at], sorted(at))
            s.seconds["physical"] = s.seconds.get("physical", 0.0) + time.perf_counter() - t
        # evaluate and log a part of the chunk's incidents at a time (findings with their traces
        # weigh more than incidents), all in the chunk's one transaction
        t = time.perf_counter()
        claims_by_id = {c.id: c for c in claims}
        with db.atomic():
            changed, removed = db.store_block_incidents(blocks, [(fuse.incident_block(i), i) for i in incidents])
            if physical_rows is not None:
                ev, cands, at_ids = physical_rows
                db.store_block_physical([i.id for i in incidents] + removed, at_ids, ev, cands)
            s.seconds["ledger"] = s.seconds.get("ledger", 0.0) + time.perf_counter() - t
            # a finding reads the incident and its claims' stance, attacker and acknowledgement, all of
            # which the incident records: evaluate the incidents that changed, those missing a finding,
            # and every one of a block whose terms, registry or gazetteer changed
            every = {b for b in blocks if queued[b]}
            have = Counter(iid for iid, _ in db.finding_digests_of([i.id for i in incidents]))
            fresh = set(changed)
            todo = [i for i in incidents if i.id in fresh or have[i.id] < len(agreement_ids)
                    or fuse.incident_block(i) in every]
            s.evaluated += len(todo)
            for k in range(0, max(len(todo), 1), EVALUATE_BATCH):
                t = time.perf_counter()
                results = evaluate_incidents(ctx, todo[k:k + EVALUATE_BATCH], claims_by_id, meta)
                s.seconds["evaluate"] = s.seconds.get("evaluate", 0.0) + time.perf_counter() - t
                t = time.perf_counter()
                s.ledger_appended += len(ledger.record_changes(db, results, removed if k == 0 else [],
                                                               agreement_ids, author))
                s.seconds["ledger"] = s.seconds.get("ledger", 0.0) + time.perf_counter() - t
            db.done_blocks(blocks)
        done += len(blocks)
        if progress:
            progress("fuse", done, len(queued))
        del claims, claims_by_id, meta, incidents
        t = time.perf_counter()
    # findings under an agreement no longer loaded: retired (their incidents' blocks need not change);
    # a watcher's reading run leaves the look (a count over every finding) to its quiet runs
    gone = sorted(set(db.finding_agreements()) - set(agreement_ids)) if plan is None or not plan.provisional else []
    if gone:
        with db.atomic():
            s.ledger_appended += len(ledger.retire_agreements(db, gone, author))


def fuse_slice(db: Database, ctx: Context, s: RunSummary, author: str, block: str, new: Sequence[Claim],
               region_names: dict[str, str], region_points: dict[str, tuple[float, float]],
               agreement_ids: Sequence[str]) -> bool:
    """Fuse new claims (of reports new to fusion, or of stored reports whose syndication group's
    canonical moved: their grades read its metadata) with the stored incidents of their block
    dated within ``SLICE_DAYS`` of them, and store, evaluate and log the result in place of
    those incidents, leaving the block queued. Provisional: fusion's date clustering can chain
    further in a busy block, which only re-deciding the whole block settles. A claim dated to
    a month reaches that month; an undated one the days its report's publication trails (and
    the block's undated incidents, which collect the claims that found no incident). Returns
    False, having stored nothing, when the slice is not enough — an undated claim of a report
    with no publication date, a result that would name an incident outside the slice, or a
    stored claim among ``new`` that sits in an incident outside it."""
    new_meta = report_meta(db, {c.report_id for c in new})
    spans: list[tuple[dt.date, dt.date]] = []
    undated = False
    for c in new:
        span = _claim_span(c, new_meta)
        if span is None:
            return False
        spans.append(span[:2])
        undated = undated or span[2]
    one = dt.timedelta(days=SLICE_DAYS)
    replacing = db.block_incidents_between(block, (min(a for a, _ in spans) - one).isoformat(),
                                           (max(b for _, b in spans) + one).isoformat(), undated=undated)
    claims = {c.id: c for c in db.claims_of_incidents(replacing)}
    claims.update((c.id, c) for c in new)
    meta = {**new_meta, **report_meta(db, {c.report_id for c in claims.values()} - set(new_meta))}
    unattached: list[fuse.Unattached] = []
    incidents = fuse.fuse(claims.values(), meta, ctx.registry, region_names, region_points, unattached)
    ids = [i.id for i in incidents]
    if (any(i.date is None for i in incidents) and not undated) or db.incident_ids_stored(ids) - set(replacing):
        return False
    if set(db.incidents_of_claims([c.id for c in new]).values()) - set(replacing):
        return False  # a regraded report's claim sits in an incident outside the slice
    s.counter_claims += sum(1 for c in new if c.stance == "denies")
    s.unattached += [f"{u.report_id} claim {u.claim_id.rsplit(':', 1)[1]}: {u.reason}" for u in unattached]
    with db.atomic():
        changed, removed = db.store_block_incidents([block], [(fuse.incident_block(i), i) for i in incidents],
                                                    replacing=replacing)
        have = Counter(iid for iid, _ in db.finding_digests_of(ids))
        fresh = set(changed)
        todo = [i for i in incidents if i.id in fresh or have[i.id] < len(agreement_ids)]
        s.evaluated += len(todo)
        results = evaluate_incidents(ctx, todo, claims, meta)
        s.ledger_appended += len(ledger.record_changes(db, results, removed, list(agreement_ids), author))
    return True


def _claim_span(c: Claim, meta: dict[str, ReportMeta]) -> tuple[dt.date, dt.date, bool] | None:
    """The days a new claim's incident can lie on: (first, last, whether it may join the block's
    undated incidents); None when nothing dates it."""
    day = fuse.claim_day(c)
    if day is not None:
        return day, day, False
    if c.date_precision == "month" and c.date and len(c.date) >= 7:
        try:
            first = dt.date.fromisoformat(c.date[:7] + "-01")
        except ValueError:
            return None
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        return first, last, True
    pub = meta[c.report_id].published if c.report_id in meta else None
    try:
        p = dt.date.fromisoformat(pub[:10]) if pub else None
    except ValueError:
        p = None
    return (p - dt.timedelta(days=3), p, True) if p is not None else None


def evaluate_incidents(ctx: Context, incidents: Sequence[Incident], claims_by_id: dict[str, Claim],
                       meta: dict[str, ReportMeta]) -> list[tuple[Finding, str]]:
    """Stage 5 for these incidents: each against every agreement, with its digest."""
    affiliations = {rid: m.affiliation for rid, m in meta.items()}
    results = []
    for inc in incidents:
        inc_claims = [claims_by_id[link.claim_id] for link in inc.claims if link.claim_id in claims_by_id]
        fac = ctx.registry.get(inc.facility_id)
        occupied = bool(fac and fac.status == "occupied") or inc.region_code in ctx.gazetteer.occupied_regions
        for a in ctx.agreements:
            f = evaluate.evaluate(inc, a, inc_claims, affiliations, occupied=occupied)
            results.append((f, f.digest()))
    return results


def _queue_status(db: Database, ctx: Context, reports: set[str], *, everything: bool) -> bool:
    """Queue the status histories to recompute (in the plan's transaction): every day of every
    agreement (``fusion.status`` ``pending``), or the days the negotiation claims these reports
    have or had speak of (``partial``, the reports kept in ``fusion.status_reports``). Returns
    whether anything waits."""
    state = db.get_meta("fusion.status")
    if everything or state == "pending" or (bool(ctx.agreements) and db.agreement_status_count() == 0):  # a lost table
        db.set_meta("fusion.status", "pending")
        return True
    if not reports:
        return state == "partial"
    held = reports | (set(json.loads(db.get_meta("fusion.status_reports") or "[]")) if state == "partial" else set())
    if len(held) > STATUS_PARTIAL_MAX:  # a day at a time over everything costs less than many days picked out
        db.set_meta("fusion.status", "pending")
    else:
        db.set_meta("fusion.status", "partial")
        db.set_meta("fusion.status_reports", json.dumps(sorted(held)))
    return True


def status_waiting(db: Database) -> bool:
    """Do agreement status histories wait to be recomputed (all, or some days)?"""
    return db.get_meta("fusion.status") in ("pending", "partial")


def record_status(db: Database, ctx: Context, s: RunSummary, author: str) -> None:
    """Stage 4: the agreements' status histories from the negotiation claims, logged and stored
    with the ledger entries of what changed: every day, read a page of whole days at a time in
    one snapshot; or (``partial``) only the days the queued reports' claims speak of, now or before."""
    t = time.perf_counter()
    with db.atomic():
        if db.get_meta("fusion.status") == "partial":
            rids = json.loads(db.get_meta("fusion.status_reports") or "[]")
            current = [c for c in db.claims_of_reports(rids) if c.kind == "negotiation"]
            before = db.agreement_status_of_reports(rids)
            days = sorted({c.date for c in current if c.date} | {d for _, _, d in before if d})
            claims = db.negotiation_claims_on(days) + [c for c in current if not c.date]
            scope = set(db.agreement_status_keys(days)) | {(aid, cid) for aid, cid, _ in before}
            s.ledger_appended += ledger.record_status(db, [_status_rows(db, ctx, claims, set(days))], author, scope)
        else:
            s.ledger_appended += ledger.record_status(db, _status_batches(db, ctx), author)
        db.set_meta("fusion.status", "done")
        db.set_meta("fusion.status_reports", "[]")
    s.seconds["status"] = time.perf_counter() - t


def _status_rows(db: Database, ctx: Context, claims: list[Claim], days: set[str],
                 placed: set[tuple[str, str]] | None = None) -> list[StatusObservation]:
    """The status rows of every agreement on whole ``days`` (``claims``: all of theirs, with
    the terms' rows of those days, noted in ``placed``), and of the undated ``claims``."""
    meta = report_meta(db, {c.report_id for c in claims})
    externals = {rid: (m.external_id, m.source) for rid, m in meta.items()}
    kinds = {rid: (m.source_kind, m.affiliation) for rid, m in meta.items()}
    rows: list[StatusObservation] = []
    for a in ctx.agreements:
        mine = [r for r in evaluate.terms_status(a) if r.date in days]
        if placed is not None:
            placed.update((a.id, r.claim_id) for r in mine)
        rows += evaluate.status_of_days(a, mine, claims, externals, kinds)
    return rows


def _status_batches(db: Database, ctx: Context) -> Iterator[list[StatusObservation]]:
    """The status rows of every agreement, a page of whole days of claims at a time (with the
    terms' rows of those days), then the terms' rows of days no claim speaks of."""
    placed: set[tuple[str, str]] = set()
    for claims in db.negotiation_days(STATUS_PAGE):
        yield _status_rows(db, ctx, claims, {c.date for c in claims if c.date}, placed)
    yield [row for a in ctx.agreements for row in evaluate.status_of_days(
        a, [r for r in evaluate.terms_status(a) if (a.id, r.claim_id) not in placed], [], {})]


def summarise(db: Database, s: RunSummary) -> None:
    """The run's totals from the database's counts (nothing loaded)."""
    s.reports = db.report_count()
    s.claims_by_kind = db.claim_kind_counts()
    s.claims = sum(s.claims_by_kind.values())
    s.incidents_by_grade = db.grade_counts()
    s.incidents = sum(s.incidents_by_grade.values())
    s.findings_by_verdict = {aid: dict(sorted(v.items(), key=lambda kv: (-kv[1], VERDICTS.index(kv[0]) if kv[0] in VERDICTS
                                                                         else len(VERDICTS), kv[0])))
                             for aid, v in sorted(db.verdict_counts().items())}
    s.ledger_entries = db.ledger_count()
    if db.fire_detection_count():
        for ev in db.physical_evidence().values():
            key = "no_data" if ev.why == "no_data" else ev.verdict
            s.physical[key] = s.physical.get(key, 0) + 1
        s.physical["candidates"] = len(db.fire_candidates())
