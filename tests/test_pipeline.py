"""Order independence and idempotence of the whole pipeline (property tests)."""

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce.outputs.shapes import findings_json, incidents_json
from truce.db import Database
from truce.ingest import ingest_paths
from truce.pipeline import run_pipeline
from conftest import strip_at

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"
LINES = DEMO.read_text(encoding="utf-8").splitlines()[:45]


def _build(tmp, name, batches, ctx, twice=False):
    db = Database(str(tmp / f"{name}.db"))
    for i, batch in enumerate(batches):
        p = tmp / f"{name}-{i}.jsonl"
        p.write_text("\n".join(batch) + "\n", encoding="utf-8")
        ingest_paths(db, [p], ctx)
        run_pipeline(db, ctx, author="test")
        if twice:
            ingest_paths(db, [p], ctx)
            run_pipeline(db, ctx, author="test")
    out = (strip_at(incidents_json(db)), strip_at(findings_json(db, None)))
    db.close()
    return out


REFERENCE = {}


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), n_batches=st.integers(1, 3), twice=st.booleans())
def test_same_reports_in_any_order_or_twice_give_the_same_incidents_and_findings(tmp_path_factory, ctx, seed, n_batches, twice):
    if "ref" not in REFERENCE:
        REFERENCE["ref"] = _build(tmp_path_factory.mktemp("ref"), "ref", [LINES], ctx)
    lines = LINES[:]
    random.Random(seed).shuffle(lines)
    size = -(-len(lines) // n_batches)
    batches = [lines[i:i + size] for i in range(0, len(lines), size)]
    got = _build(tmp_path_factory.mktemp("run"), "run", batches, ctx, twice)
    assert json.dumps(got[0], sort_keys=True) == json.dumps(REFERENCE["ref"][0], sort_keys=True)
    assert json.dumps(got[1], sort_keys=True) == json.dumps(REFERENCE["ref"][1], sort_keys=True)


def test_new_evidence_appends_a_ledger_entry_and_rewrites_nothing(tmp_path, ctx):
    """A second, independent report upgrades an incident's grade; the verdict changes
    and the ledger records it as a new entry that names the previous verdict."""
    from truce.ledger import verify

    db = Database(str(tmp_path / "x.db"))
    first = {"id": "a", "source": "Kherson Oblast Military Administration", "language": "uk", "published": "2025-04-08",
             "text": "Вночі російські дрони влучили в підстанцію в Херсоні, частина міста знеструмлена."}
    second = {"id": "b", "source": "UN HRMMU", "language": "en", "published": "2025-04-09",
              "text": "A Russian drone attack on the night of 7 to 8 April damaged a substation in Kherson, the UN monitoring mission said."}
    p = tmp_path / "1.jsonl"
    p.write_text(json.dumps(first, ensure_ascii=False) + "\n", encoding="utf-8")
    ingest_paths(db, [p], ctx)
    run_pipeline(db, ctx, author="test")
    before = db.ledger_raw()
    (f1,) = [f for f, _ in db.findings("moratorium-2025-03")]
    assert f1.verdict == "alleged"
    p2 = tmp_path / "2.jsonl"
    p2.write_text(json.dumps(second, ensure_ascii=False) + "\n", encoding="utf-8")
    ingest_paths(db, [p2], ctx)
    run_pipeline(db, ctx, author="test")
    after = db.ledger_raw()
    assert after[: len(before)] == before  # nothing rewritten
    (f2,) = [f for f, _ in db.findings("moratorium-2025-03")]
    assert f2.verdict == "consistent_with_violation"
    changed = [json.loads(r.payload) for r in after[len(before):] if r.kind == "finding"
               and r.subject.startswith("moratorium-2025-03/")]
    assert changed and changed[-1]["previous_verdict"] == "alleged" and changed[-1]["change"] == "updated"
    assert verify(db).ok
    db.close()


def test_a_crash_mid_batch_loses_nothing_and_a_rerun_completes(tmp_path, ctx, monkeypatch):
    """Kill extraction half-way through a batch: the batch's claims roll back with it,
    and running again gives exactly what an uninterrupted run gives."""
    lines = LINES[:20]
    p = tmp_path / "r.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = Database(str(tmp_path / "crash.db"))
    ingest_paths(db, [p], ctx)
    real = type(ctx.extractor).extract
    calls = {"n": 0}

    def dying(self, report):
        calls["n"] += 1
        if calls["n"] == 11:
            raise KeyboardInterrupt("power cut")
        return real(self, report)

    monkeypatch.setattr(type(ctx.extractor), "extract", dying)
    try:
        run_pipeline(db, ctx, author="test")
    except KeyboardInterrupt:
        pass
    assert db.report_count() == 20 and db.claims() == []  # the half-done batch rolled back
    monkeypatch.setattr(type(ctx.extractor), "extract", real)
    run_pipeline(db, ctx, author="test")
    got = (strip_at(incidents_json(db)), strip_at(findings_json(db, None)))
    db.close()
    ref = _build(tmp_path, "clean", [lines], ctx)
    assert json.dumps(got, sort_keys=True) == json.dumps(ref, sort_keys=True)
