"""Incremental fusion (issue 12): blocks decide exactly what the whole does, a run re-decides only
the blocks new claims touch, and ingesting + running in any batching of the same reports gives
the same incidents, grades, findings and a verifying ledger as one run over all of them."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce import dedup, fuse, ledger
from truce.db import Database
from truce.grade import ReportMeta
from truce.ingest import ingest_paths
from truce.pipeline import report_meta, run_pipeline
from truce.records import Claim, Effects

from conftest import PG_URL

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"
LINES = DEMO.read_text(encoding="utf-8").splitlines()[:60]


# --- blocks decide exactly what the whole does -------------------------------------------------

def _claims(draw, ctx) -> tuple[list[Claim], dict[str, ReportMeta]]:
    """Random strike/accusation claims crowded into few facilities, regions and days, with
    counter-claims, undated and month-dated claims, generic and typed regional claims."""
    facs = sorted((f for f in ctx.registry if f.region_code in ("UA-46", "UA-12", "RU-BEL")), key=lambda f: f.id)[:6]
    regions = ["UA-46", "UA-12", "RU-BEL", "UA-65"]
    n_reports = draw(st.integers(1, 14))
    meta = {}
    for r in range(n_reports):
        src, aff, kind = draw(st.sampled_from([("Ukrinform", "UA", "wire"), ("TASS", "RU", "wire"),
                                               ("Reuters", "neutral", "wire"), ("DTEK", "UA", "operator")]))
        rid = f"r{r:03d}"
        pub = f"2025-03-{draw(st.integers(1, 9)):02d}"
        canon = f"r{draw(st.integers(0, r)):03d}" if draw(st.booleans()) and r else rid
        meta[rid] = ReportMeta(rid, f"ext-{r}", src, kind, aff, None, pub, canon)
    claims = []
    for rid in meta:
        for k in range(draw(st.integers(1, 3))):
            where = draw(st.sampled_from(["facility", "region", "country", "nowhere"]))
            fac = draw(st.sampled_from(facs)) if where == "facility" else None
            region = fac.region_code if fac else (draw(st.sampled_from(regions)) if where == "region" else None)
            country = (region or "")[:2] or (draw(st.sampled_from(["UA", "RU"])) if where == "country" else None)
            prec = draw(st.sampled_from(["day", "day", "day", "month", "unknown"]))
            date = {"day": f"2025-03-{draw(st.integers(1, 8)):02d}", "month": "2025-03", "unknown": None}[prec]
            denies = draw(st.integers(0, 5)) == 0
            claims.append(Claim(
                report_id=rid, index=k, kind=draw(st.sampled_from(["strike", "strike", "accusation"])), date=date,
                date_precision=prec, country=country, region_code=region, facility_id=fac.id if fac else None,
                facility_type=fac.type if fac else draw(st.sampled_from(["substation", "other_energy", "refinery", None])),
                attacker=draw(st.sampled_from(["RU", "UA", None])), attacker_basis=draw(st.sampled_from(["stated", "inferred", None])),
                outcome=draw(st.sampled_from(["hit", "attempted", "unknown"])), effects=Effects(fire=draw(st.booleans()) or None),
                stance="denies" if denies else "asserts",
                denied=draw(st.sampled_from(["strike", "damage", "attribution"])) if denies else None))
    return claims, meta


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fusing_each_block_alone_gives_exactly_the_incidents_of_fusing_everything(ctx, data):
    claims, meta = _claims(data.draw, ctx)
    whole = fuse.fuse(claims, meta, ctx.registry)
    by_block: dict[str, list[Claim]] = {}
    for c in claims:
        b = fuse.block_of(c, ctx.registry)
        if b is not None:
            by_block.setdefault(b, []).append(c)
    parts = [i for b, cs in by_block.items() for i in fuse.fuse(cs, meta, ctx.registry)]
    for i in parts:
        assert fuse.incident_block(i) == fuse.block_of(next(c for c in claims if c.id == i.claims[0].claim_id), ctx.registry)
    key = lambda i: i.id  # noqa: E731
    assert [i.to_dict() for i in sorted(parts, key=key)] == [i.to_dict() for i in sorted(whole, key=key)]


# --- a pipeline run in batches = one run ----------------------------------------------------------

def _state(db: Database) -> tuple[str, str]:
    incidents = sorted((i.to_dict() for i in db.incidents()), key=lambda d: d["id"])
    findings = sorted(({**f.to_dict(), "digest": d} for f, d in ((f, f.digest()) for f, _ in db.findings())),
                      key=lambda d: (d["incident_id"], d["agreement_id"]))
    status = [r.to_dict() for r in db.agreement_status()]
    return json.dumps(incidents, sort_keys=True), json.dumps([findings, status], sort_keys=True)


def _open(backend: str, tmp: Path):
    if backend == "sqlite":
        return Database(str(tmp / f"{uuid.uuid4().hex[:8]}.db")), None
    import sqlalchemy as sa

    from truce.config import database_url

    schema = "t_" + uuid.uuid4().hex[:12]
    base = sa.create_engine(database_url(PG_URL))
    with base.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(database_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with base.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        base.dispose()
    return Database(engine=engine), drop


def _build(backend: str, tmp: Path, batches: list[list[str]], ctx, provisional: bool = False) -> tuple[str, str]:
    db, drop = _open(backend, tmp)
    try:
        for i, batch in enumerate(batches):
            p = tmp / f"{uuid.uuid4().hex[:8]}-{i}.jsonl"
            p.write_text("\n".join(batch) + "\n", encoding="utf-8")
            ingest_paths(db, [p], ctx)
            run_pipeline(db, ctx, author="test", defer_over=0 if provisional else None)
        if provisional:  # what `truce watch` does once quiet: a run with nothing new settles every block
            s = run_pipeline(db, ctx, author="test", defer_over=0)
            assert s.unsettled == 0 and not db.queued_blocks()
        v = ledger.verify(db)
        assert v.ok, v.reason
        # and the stored incidents are what fusing every stored claim at once decides
        reports = db.reports()
        synd = dedup.syndication_groups(reports)
        assert {r: c for r, c in db.fused_canonicals().items()} == {r.id: synd[r.id] for r in reports if r.id in db.fused_canonicals()}
        meta = report_meta(db, [r.id for r in reports])
        if not db.fire_detection_count():
            whole = fuse.fuse(db.claims(), meta, ctx.registry, {c: p.name for c, p in ctx.gazetteer.regions.items()},
                              {c: (p.lat, p.lon) for c, p in ctx.gazetteer.regions.items()})
            assert sorted(i.id for i in whole) == sorted(i.id for i in db.incidents())
        return _state(db)
    finally:
        db.close()
        if drop:
            drop()


REFERENCE: dict[str, tuple[str, str]] = {}


def _batches(draw_perm: list[int], cuts: list[int]) -> list[list[str]]:
    lines = [LINES[i] for i in draw_perm]
    edges = sorted({c % len(lines) for c in cuts} - {0})
    out, prev = [], 0
    for e in edges + [len(lines)]:
        out.append(lines[prev:e])
        prev = e
    return [b for b in out if b]


BACKENDS = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else [])


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(perm=st.permutations(list(range(len(LINES)))), cuts=st.lists(st.integers(1, 10_000), max_size=5),
       twice=st.booleans(), provisional=st.booleans())
def test_ingesting_and_running_in_any_batching_gives_the_same_incidents_findings_and_ledger_as_one_run(
        backend, tmp_path_factory, ctx, perm, cuts, twice, provisional):
    """Also with the watcher's provisional fusion (every block "large"), once settled."""
    if "ref" not in REFERENCE:
        REFERENCE["ref"] = _build("sqlite", tmp_path_factory.mktemp("ref"), [LINES], ctx)
    batches = _batches(perm, cuts)
    if twice:  # a batch ingested again (same reports under the same ids) changes nothing
        batches = batches + [batches[0]]
    got = _build(backend, tmp_path_factory.mktemp("run"), batches, ctx, provisional)
    assert got[0] == REFERENCE["ref"][0]
    assert got[1] == REFERENCE["ref"][1]


# --- a run does work proportional to what is new ----------------------------------------------------

def _ingest(db: Database, tmp: Path, lines: list[str], ctx) -> None:
    p = tmp / f"{uuid.uuid4().hex[:8]}.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_paths(db, [p], ctx)


def test_a_run_with_nothing_new_reads_no_report_text_and_no_claim(tmp_path, ctx):
    statements: list[str] = []
    db = Database(str(tmp_path / "x.db"), tracer=lambda stmt, params: statements.append(stmt))
    _ingest(db, tmp_path, LINES[:30], ctx)
    first = run_pipeline(db, ctx, author="test")
    assert first.incidents and first.ledger_appended
    before = _state(db), db.ledger_count()
    statements.clear()
    again = run_pipeline(db, ctx, author="test")
    read = [s for s in statements if "claims.data" in s or "reports.text" in s or "FROM ledger" in s and "count" not in s]
    assert not read, read[:3]
    assert again.ledger_appended == 0 and (_state(db), db.ledger_count()) == before
    assert again.incidents == first.incidents and again.findings_by_verdict == first.findings_by_verdict
    db.close()


def test_a_new_report_re_decides_only_the_blocks_its_claims_touch(tmp_path, ctx):
    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, LINES[:40], ctx)
    run_pipeline(db, ctx, author="test")
    stamps = db.incident_updated_at()
    blocks_before = {i.id: fuse.incident_block(i) for i in db.incidents()}
    _ingest(db, tmp_path, [LINES[45]], ctx)
    s = run_pipeline(db, ctx, author="test")
    new = [r for r in db.fused_canonicals() if r not in _ids_of(LINES[:40], db)]
    group = {r for r, c in db.fused_canonicals().items() if c in {db.fused_canonicals()[n] for n in new}}
    its_blocks = {fuse.block_of(c, ctx.registry) for c in db.claims_of_reports(sorted(group))} - {None}
    assert s.blocks == len(its_blocks) < len(db.fusion_blocks())
    after = db.incident_updated_at()
    changed = {iid for iid, at in after.items() if stamps.get(iid) != at}
    # every incident rewritten or removed lies in a block the new report's claims (or its copies') touch
    assert {fuse.incident_block(i) for i in db.incidents() if i.id in changed} <= its_blocks
    assert s.evaluated == len(changed) < db.incident_count()  # only the incidents that changed
    assert all(blocks_before[iid] in its_blocks for iid in set(stamps) - set(after))
    assert ledger.verify(db).ok
    db.close()


def _ids_of(lines: list[str], db: Database) -> set[str]:
    ext = [json.loads(line)["id"] for line in lines]
    return {r.id for r in db.reports_by_external(ext).values()}


def test_changed_terms_re_evaluate_every_incident(tmp_path, ctx):
    import dataclasses

    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, LINES[:30], ctx)
    run_pipeline(db, ctx, author="test")
    n = db.incident_count()
    fewer = dataclasses.replace(ctx, agreements=ctx.agreements[:1], _extractor=None)
    s = run_pipeline(db, fewer, author="test")
    assert s.blocks == len(db.fusion_blocks())
    assert s.evaluated == n  # every incident, though none changed
    assert set(db.verdict_counts()) == {ctx.agreements[0].id} and db.finding_count() == n
    assert ledger.verify(db).ok
    back = run_pipeline(db, ctx, author="test")  # and back: every finding restored
    assert db.finding_count() == n * len(ctx.agreements) and back.ledger_appended >= n * (len(ctx.agreements) - 1)
    assert ledger.verify(db).ok
    db.close()


def test_a_crash_after_claims_are_filed_leaves_the_blocks_queued(tmp_path, ctx, monkeypatch):
    from truce import pipeline

    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, LINES[:30], ctx)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "evaluate_incidents", boom)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(db, ctx, author="test")
    assert db.queued_blocks() and db.incident_count() == 0
    monkeypatch.undo()
    run_pipeline(db, ctx, author="test")
    assert not db.queued_blocks() and db.incident_count() and ledger.verify(db).ok
    ref = Database(str(tmp_path / "ref.db"))
    _ingest(ref, tmp_path, LINES[:30], ctx)
    run_pipeline(ref, ctx, author="test")
    assert _state(db) == _state(ref) and db.ledger_count() == ref.ledger_count()
    db.close()
    ref.close()


def test_random_order_within_a_block_changes_nothing(ctx):
    claims, meta = _fixed(ctx)
    a = fuse.fuse(claims, meta, ctx.registry)
    random.Random(3).shuffle(claims)
    assert [i.to_dict() for i in fuse.fuse(claims, meta, ctx.registry)] == [i.to_dict() for i in a]


def _fixed(ctx) -> tuple[list[Claim], dict[str, ReportMeta]]:
    fac = next(f for f in ctx.registry if f.region_code == "UA-46")
    meta = {f"r{i}": ReportMeta(f"r{i}", f"e{i}", f"S{i % 3}", "wire", ["UA", "RU", "neutral"][i % 3], None,
                                "2025-03-02", f"r{i}") for i in range(6)}
    claims = [Claim(report_id=f"r{i}", index=0, kind="strike", date=f"2025-03-0{1 + i % 3}", date_precision="day",
                    country="UA", region_code="UA-46", facility_id=fac.id if i % 2 else None,
                    facility_type="substation", outcome="hit") for i in range(6)]
    return claims, meta


# --- the watcher's provisional fusion of large blocks ----------------------------------------------

def test_provisional_fusion_shows_new_claims_at_once_and_settles_to_the_exact_result(tmp_path, ctx):
    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, LINES[:30], ctx)
    run_pipeline(db, ctx, author="test")
    slices = 0
    for part in (LINES[30:38], LINES[38:39], LINES[39:50], LINES[50:60]):
        _ingest(db, tmp_path, part, ctx)
        new = _ids_of(part, db)
        s = run_pipeline(db, ctx, author="test", defer_over=0)
        slices += s.provisional
        assert s.unsettled == len(db.queued_blocks())  # provisional blocks stay queued
        # every new claim fusion reads is in an incident at once, with its findings
        fused = [c for c in db.claims_of_reports(sorted(new))
                 if fuse.block_of(c, ctx.registry) and c.stance != "denies"]
        inc = db.incidents_of_claims([c.id for c in fused])
        assert set(inc) == {c.id for c in fused}
        assert {f.incident_id for f, _ in db.findings_of(sorted(set(inc.values())))} == set(inc.values())
        assert ledger.verify(db).ok
    assert slices > 0  # the slice path was taken (not only fallbacks to whole blocks)
    assert any(c.kind == "negotiation" for c in db.claims())  # so the status histories waited too
    settle = run_pipeline(db, ctx, author="test", defer_over=0)  # nothing new: exact
    assert settle.unsettled == 0 and not db.queued_blocks() and db.get_meta("fusion.status") == "done"
    ref = Database(str(tmp_path / "ref.db"))
    _ingest(ref, tmp_path, LINES[:60], ctx)
    run_pipeline(ref, ctx, author="test")
    assert _state(db) == _state(ref)
    assert ledger.verify(db).ok
    db.close()
    ref.close()


def _copies_out_of_order(tmp: Path, ctx, base_line: str, others: list[str], late: str,
                         early: str) -> tuple[Database, str, str, list[str]]:
    """A database that fused ``others`` and a copy of ``base_line`` published at ``late``, then
    stored (unfused) another copy of it published earlier, at ``early``: (database, the late
    copy's report id, the early one's, every line stored)."""
    base = json.loads(base_line)
    later = json.dumps(dict(base, id="syn-late", source="Reuters", published=late))
    earlier = json.dumps(dict(base, id="syn-early", source="Ukrinform", published=early,
                              text=base["text"] + "\n\nReporting by our correspondent."))
    db = Database(str(tmp / "x.db"))
    _ingest(db, tmp, others + [later], ctx)
    run_pipeline(db, ctx, author="test")
    _ingest(db, tmp, [earlier], ctx)
    (a,), (b,) = _ids_of([later], db), _ids_of([earlier], db)
    return db, a, b, others + [later, earlier]


def test_an_earlier_copy_regrades_its_group_provisionally_and_settles_to_the_exact_result(tmp_path, ctx, monkeypatch):
    """A copy published before its stored group's canonical (an out-of-order feed) moves the
    canonical: the stored copies' claims are re-fused in their slices, not their whole blocks."""
    db, a, b, stored = _copies_out_of_order(tmp_path, ctx, LINES[1], LINES[2:40], "2025-03-20T12:00:00+00:00",
                                            "2025-03-20T09:00:00+00:00")
    whole: list[str] = []
    real_block_claims = db.block_claims
    monkeypatch.setattr(db, "block_claims", lambda blocks: whole.extend(blocks) or real_block_claims(blocks))
    s = run_pipeline(db, ctx, author="test", defer_over=0)  # a watcher's reading run; every block "large"
    assert db.syndication([a]) == {a: b}  # the new copy is the canonical now
    assert s.provisional > 0 and whole == []  # sliced, no block re-decided in full
    claims = [c for c in db.claims_of_reports([a, b]) if fuse.block_of(c, ctx.registry) and c.stance != "denies"]
    inc = db.incidents_of_claims([c.id for c in claims])
    assert set(inc) == {c.id for c in claims}  # each claim in one incident, at once
    monkeypatch.undo()
    settle = run_pipeline(db, ctx, author="test")
    ref = Database(str(tmp_path / "ref.db"))
    _ingest(ref, tmp_path, stored, ctx)
    run_pipeline(ref, ctx, author="test")
    assert settle.unsettled == 0 and _state(db) == _state(ref)
    assert ledger.verify(db).ok
    db.close()
    ref.close()


def test_a_slice_that_would_reach_outside_itself_falls_back_to_the_whole_block(tmp_path, ctx, monkeypatch):
    from truce import pipeline

    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, LINES[:30], ctx)
    run_pipeline(db, ctx, author="test")
    monkeypatch.setattr(pipeline, "SLICE_DAYS", -400)  # an empty slice: the result names stored incidents
    _ingest(db, tmp_path, LINES[30:45], ctx)
    s = run_pipeline(db, ctx, author="test", defer_over=0)
    assert s.blocks > 0  # fell back: re-decided in full, nothing left provisional for those blocks
    ref = Database(str(tmp_path / "ref.db"))
    _ingest(ref, tmp_path, LINES[:45], ctx)
    run_pipeline(ref, ctx, author="test")
    settle = run_pipeline(db, ctx, author="test")
    assert settle.unsettled == 0 and _state(db) == _state(ref)
    db.close()
    ref.close()


def test_a_crash_after_dedup_moved_a_stored_reports_canonical_is_caught_by_the_next_run(tmp_path, ctx, monkeypatch):
    """A new, earlier-published copy makes itself the canonical of a stored report's group; the
    run crashes after its dedup, before fusion sees it. The next run must still re-fuse the
    stored report under its new canonical (it reads only the groups of what is new)."""
    db, late, early, stored = _copies_out_of_order(tmp_path, ctx, LINES[0], LINES[1:20], "2025-03-20", "2025-03-18")
    a, b = [late], [early]

    def boom(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(db, "queue_blocks", boom)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(db, ctx, author="test")
    assert db.syndication(a) == {a[0]: b[0]}  # dedup stored the new group; fusion has not seen it
    assert db.fused_canonicals(a) == {a[0]: a[0]}
    monkeypatch.undo()
    run_pipeline(db, ctx, author="test")
    assert db.fused_canonicals(a) == {a[0]: b[0]}
    ref = Database(str(tmp_path / "ref.db"))
    _ingest(ref, tmp_path, stored, ctx)
    run_pipeline(ref, ctx, author="test")
    assert _state(db) == _state(ref)
    db.close()
    ref.close()


def test_a_watchers_run_fuses_what_it_read_and_its_quiet_run_what_others_extracted(tmp_path, ctx):
    db = Database(str(tmp_path / "x.db"))
    _ingest(db, tmp_path, LINES[:20], ctx)
    run_pipeline(db, ctx, author="test")
    _ingest(db, tmp_path, LINES[20:25], ctx)
    read: list = []  # another process extracts these five and stops before fusion
    s = run_pipeline(db, ctx, author="test", on_extracted=read.append, stop=lambda: len(read) >= 5)
    assert s.stopped and len(read) == 5 and not db.reports_to_extract(ctx.extractor.id)
    others = _ids_of(LINES[20:25], db)
    _ingest(db, tmp_path, LINES[25:27], ctx)
    run_pipeline(db, ctx, author="test", defer_over=0)  # the watcher's run: what it read
    assert set(db.fusion_changed_reports()) == others
    quiet = run_pipeline(db, ctx, author="test", defer_over=0)  # nothing read: every report looked at
    assert not db.fusion_changed_reports() and quiet.unsettled == 0 and not db.queued_blocks()
    ref = Database(str(tmp_path / "ref.db"))
    _ingest(ref, tmp_path, LINES[:27], ctx)
    run_pipeline(ref, ctx, author="test")
    assert _state(db) == _state(ref)
    db.close()
    ref.close()
