"""Parallel extraction (issue 12): worker processes give exactly what one process gives,
in the same order, with the per-report time budget still applied inside the workers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from truce.db import Database
from truce.errors import PipelineError
from truce.ingest import ingest_paths, read_reports_jsonl
from truce.parallel import ExtractionPool
from truce.pipeline import run_pipeline

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"


def _public(results):
    return [(x.report.id, x.skipped, x.error, [json.dumps(c.to_public(x.report.external_id), sort_keys=True)
                                               for c in x.claims]) for x in results]


@pytest.fixture(scope="module")
def pool2(ctx):
    """One pool of 2 workers for the module (each worker loads its context: seconds)."""
    with ExtractionPool(ctx, 2, batch=7, min_parallel=0) as pool:
        yield pool


def test_two_workers_give_what_one_process_gives_in_input_order(ctx, pool2):
    reports = list(read_reports_jsonl(DEMO.open("rb"), "demo", ctx.sources))
    items = [(r, None) for r in reports]
    one = list(ExtractionPool(ctx, 1).map(items))
    seen: list[tuple[int, int]] = []
    two = list(pool2.map(items, total=len(items), progress=lambda _s, d, t: seen.append((d, t))))
    assert pool2.started  # the workers did the work
    assert [x.report.id for x in two] == [r.id for r in reports]
    assert _public(two) == _public(one)
    assert sum(len(x.claims) for x in two) > 100
    assert seen[-1] == (len(items), len(items)) and len(seen) == len(items)


def test_a_pool_that_has_not_started_reads_a_few_reports_in_process(ctx):
    reports = list(read_reports_jsonl(DEMO.open("rb"), "demo", ctx.sources))[:5]
    with ExtractionPool(ctx, 2) as pool:
        got = list(pool.map([(r, None) for r in reports]))
        assert not pool.started
    assert len(got) == 5


def test_the_time_budget_applies_inside_the_workers(ctx):
    slow = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, extract_budget=1e-4), _extractor=None)
    reports = list(read_reports_jsonl(DEMO.open("rb"), "demo", ctx.sources))[:8]
    with ExtractionPool(slow, 2, batch=2, min_parallel=0) as pool:
        got = list(pool.map([(r, None) for r in reports]))
    assert all(x.skipped and "TRUCE_EXTRACT_BUDGET" in x.skipped and not x.claims for x in got)


def test_workers_must_be_positive(ctx):
    with pytest.raises(PipelineError, match="at least 1"):
        ExtractionPool(ctx, 0)


def _db_state(db: Database):
    claims = sorted(json.dumps(c.to_dict(), sort_keys=True) for c in db.claims())
    incidents = sorted(json.dumps({k: v for k, v in dataclasses.asdict(i).items() if not k.endswith("_at")},
                                  sort_keys=True, default=str) for i in db.incidents())
    findings = sorted((f.incident_id, f.agreement_id, f.verdict, f.digest()) for f, _ in db.findings())
    return claims, incidents, findings


def test_run_with_two_workers_stores_what_one_worker_stores(tmp_path, ctx, pool2):
    states = []
    for pool in (ExtractionPool(ctx, 1), pool2):
        db = Database(str(tmp_path / f"w{pool.workers}.db"))
        ingest_paths(db, [DEMO], ctx)
        s = run_pipeline(db, ctx, author="test", pool=pool)
        assert s.extracted == db.report_count() and not s.errors
        states.append(_db_state(db))
        db.close()
    assert states[0] == states[1]
    assert len(states[0][0]) > 200


def test_truce_extract_writes_the_same_bytes_with_two_workers(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import truce.parallel
    from truce.cli import cli

    monkeypatch.setattr(truce.parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(truce.parallel, "TASK_BATCH", 11)
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines[:40] + ["{not json"] + lines[40:]) + "\n", encoding="utf-8")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.jsonl"
        r = CliRunner().invoke(cli, ["extract", str(src), "-o", str(out), "--workers", workers])
        assert r.exit_code == 1 and "malformed JSON" in r.output  # the bad line named, the rest read
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0].count(b"\n") > 200
