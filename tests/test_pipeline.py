"""Order independence and idempotence of the whole pipeline (property tests)."""

import json
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truce.cli import findings_json, incidents_json
from truce.db import Database
from truce.ingest import ingest_paths
from truce.pipeline import run_pipeline

DEMO = Path(__file__).parents[1] / "src" / "truce" / "data" / "demo" / "reports.jsonl"
LINES = DEMO.read_text(encoding="utf-8").splitlines()[:45]


def _strip_at(x):
    if isinstance(x, dict):
        return {k: _strip_at(v) for k, v in x.items() if not k.endswith("_at")}
    if isinstance(x, list):
        return [_strip_at(v) for v in x]
    return x


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
    out = (_strip_at(incidents_json(db)), _strip_at(findings_json(db, None)))
    db.close()
    return out


REFERENCE = {}


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
