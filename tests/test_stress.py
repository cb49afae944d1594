"""Issue #13, under real processes (slow): `truce run` killed with SIGKILL before each of
its write commits, then run again, gives what an uninterrupted run gives; 3 `truce run`
+ 2 `truce ingest` + 8 `truce review` at once lose and duplicate nothing. SQLite, and
PostgreSQL when TRUCE_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import truce
from test_integrity import state
from truce import ledger
from truce.ingest import ingest_paths
from truce.pipeline import run_pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "src" / "truce" / "data" / "demo" / "reports.jsonl"
LINES = DEMO.read_text(encoding="utf-8").splitlines()
KILLER = Path(__file__).parent / "helpers" / "killer.py"


def _env(**extra: str) -> dict[str, str]:
    src = str(Path(truce.__file__).parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUCE_TEST_KILL")}
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _jsonl(tmp: Path, name: str, lines: list[str]) -> Path:
    p = tmp / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_sigkill_before_every_write_commit_neither_duplicates_nor_loses_ledger_entries(stores, tmp_path, ctx):
    reports = _jsonl(tmp_path, "r.jsonl", LINES[:20])
    ref_url = stores.url()
    ref = stores.open(ref_url)
    ingest_paths(ref, [reports], ctx)
    count = tmp_path / "commits"
    r = subprocess.run([sys.executable, str(KILLER), "run", "--db", ref_url, "--author", "test"], capture_output=True,
                       text=True, env=_env(TRUCE_TEST_COMMITS=str(count), TRUCE_TEST_BATCH="10"), timeout=300)
    assert r.returncode == 0, r.stderr
    n = int(count.read_text())
    assert n >= 3  # the migration check, 2 extraction batches, the evaluation
    reference = state(ref)
    ref.close()
    killed = 0
    for k in range(1, n + 1):
        url = stores.url()
        db = stores.open(url)
        ingest_paths(db, [reports], ctx)
        r = subprocess.run([sys.executable, str(KILLER), "run", "--db", url, "--author", "test"], capture_output=True,
                           text=True, env=_env(TRUCE_TEST_KILL_AT=str(k), TRUCE_TEST_BATCH="10"), timeout=300)
        assert r.returncode == -9, (k, r.returncode, r.stderr[-2000:])
        killed += 1
        run_pipeline(db, ctx, author="test")  # the rerun
        v = ledger.verify(db)
        assert v.ok, (k, v.reason)
        assert state(db) == reference, f"SIGKILL before write commit {k} of {n}"
        db.close()
    assert killed == n


def test_runs_ingests_and_reviews_at_once_lose_and_duplicate_nothing(stores, tmp_path, ctx):
    first, second, third = LINES[:40], LINES[40:50], LINES[50:60]
    p1, p2, p3 = (_jsonl(tmp_path, f"{i}.jsonl", x) for i, x in enumerate((first, second, third)))
    # the sequential reference: which findings survive the later reports (those get the reviews)
    ref = stores.open(stores.url())
    ingest_paths(ref, [p1], ctx)
    run_pipeline(ref, ctx, author="test")
    before = {(f.incident_id, f.agreement_id) for f, _ in ref.findings()}
    ingest_paths(ref, [p2, p3], ctx)
    run_pipeline(ref, ctx, author="test")
    stable = sorted(before & {(f.incident_id, f.agreement_id) for f, _ in ref.findings()})
    assert len(stable) >= 8
    reference = json.loads(state(ref))
    ref.close()

    url = stores.url()
    db = stores.open(url)
    ingest_paths(db, [p1], ctx)
    run_pipeline(db, ctx, author="test")
    truce_cmd = [sys.executable, "-m", "truce.cli"]
    cmds = [truce_cmd + ["run", "--db", url, "--wait", "--author", f"runner-{i}"] for i in range(3)]
    cmds += [truce_cmd + ["ingest", str(p), "--db", url] for p in (p2, p3)]
    cmds += [truce_cmd + ["review", inc, "--agreement", agr, "--verdict", "alleged", "--note", f"note {i}",
                          "--author", f"analyst-{i}", "--db", url] for i, (inc, agr) in enumerate(stable[:8])]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()) for c in cmds]
    outs = [p.communicate(timeout=600) for p in procs]
    for c, p, (out, err) in zip(cmds, procs, outs):
        assert "Traceback" not in err and "Traceback" not in out, (c[3:5], err[-3000:])
        assert p.returncode == 0, (c[3:5], p.returncode, out[-500:], err[-1500:])
    run_pipeline(db, ctx, author="test")  # whatever the last concurrent run did not see yet
    assert ledger.verify(db).ok
    assert db.report_count() == 60
    entries = db.ledger_entries()
    reviews = sorted(e.payload["note"] for e in entries if e.kind == "review")
    assert reviews == sorted(f"note {i}" for i in range(8))
    last: dict[str, str] = {}
    for e in entries:  # no finding logged twice in a row with the same content
        if e.kind == "finding":
            assert last.get(e.subject) != e.payload["digest"], e.subject
            last[e.subject] = e.payload["digest"]
        elif e.kind == "retired":
            last.pop(e.subject, None)
    got = json.loads(state(db))
    assert got[0] == reference[0]  # incidents
    strip = [{k: v for k, v in f.items() if k != "review"} for f in got[1]]
    assert strip == [{k: v for k, v in f.items() if k != "review"} for f in reference[1]]
    assert got[3] == reference[3]
    db.close()
