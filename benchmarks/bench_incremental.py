"""Incremental fusion and evaluation (issue 12): `truce run` end to end, again with nothing new,
and with one new report, each step in a fresh process with wall s, CPU s and peak RSS; and
fusion of a million stored claims in bounded memory.

Real-length reports come from ``bench_extract.corpus`` (demo and gold paragraphs recombined,
about 1,600 characters). ``--src`` times another checkout's code (a worktree of ``main``) on
the same corpus, side by side:

    python benchmarks/bench_incremental.py run --n 10000 30000 --src src /tmp/wt-base/src
    python benchmarks/bench_incremental.py claims --claims 1000000 --src src

``claims`` stores synthetic claims (``bench_fuse.synth``: facilities, regions and countries
over 730 days) straight into a database with their extraction rows (as ``truce extract``
would have), then times ``truce run`` over them: the dedup stage reads every report (short
texts here) and fusion reads claims a chunk of blocks at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def _child(src: str, code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter on ``src``; its JSON line, with wall s, CPU s and peak RSS."""
    env = {**os.environ, "PYTHONPATH": f"{src}:{HERE}"}
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read() if p.stdout else ""
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status:
        raise SystemExit(f"child failed ({status}): {out[-2000:]}")
    res = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    res.update(wall_s=round(wall, 2), cpu_s=round(ru.ru_utime + ru.ru_stime, 2), peak_rss_mb=round(ru.ru_maxrss / 1024))
    return res


RUN = """
import json, sys, time
from truce.config import Settings
from truce.context import load_context
from truce.db import Database
from truce.pipeline import run_pipeline
db_path, inputs = sys.argv[1], sys.argv[2:]
ctx = load_context(Settings())
db = Database(db_path)
t = time.perf_counter()
if inputs:
    from truce.ingest import ingest_paths
    ingest_paths(db, inputs, ctx)
ti = time.perf_counter() - t
s = run_pipeline(db, ctx, author="bench")
print(json.dumps({"ingest_s": round(ti, 2), "stages": {k: round(v, 2) for k, v in s.seconds.items()},
                  "reports": s.reports, "claims": s.claims, "incidents": s.incidents,
                  "ledger_appended": s.ledger_appended, "blocks": getattr(s, "blocks", None)}))
"""


WRITE = """
import json, sys
from bench_extract import corpus
d, n = sys.argv[1], int(sys.argv[2])
rows = corpus(n + 1, seed=11)
with open(f"{d}/bulk.jsonl", "w", encoding="utf-8") as f:
    for r in rows[:n]:
        f.write(json.dumps(r, ensure_ascii=False) + "\\n")
with open(f"{d}/one.jsonl", "w", encoding="utf-8") as f:
    f.write(json.dumps(rows[n], ensure_ascii=False) + "\\n")
"""


def cmd_run(args: argparse.Namespace) -> None:
    for n in args.n:
        with tempfile.TemporaryDirectory(dir=args.tmp) as d:
            # the corpus is made in a child: a child forked from a process holding it would count
            # that process's memory in its own peak RSS (Linux keeps the high-water mark over exec)
            _child(args.src[0], WRITE, d, str(n))
            bulk, one = Path(d) / "bulk.jsonl", Path(d) / "one.jsonl"
            for src in args.src:
                db = str(Path(d) / f"{abs(hash(src))}.db")
                for step, inputs in (("first", [str(bulk)]), ("nothing new", []), ("one new report", [str(one)])):
                    if step not in args.steps:
                        continue
                    load = os.getloadavg()[0]
                    res = _child(src, RUN, db, *inputs)
                    print(json.dumps({"n": n, "src": src, "step": step, "load": round(load, 2), **res}), flush=True)


CLAIMS = """
import json, sys, time, datetime as dt
import sqlalchemy as sa
from truce.config import Settings
from truce.context import load_context
from truce.db import Database
from truce import schema
from truce.records import canonical_json
from bench_fuse import synth
db_path, n = sys.argv[1], int(sys.argv[2])
ctx = load_context(Settings())
db = Database(db_path)
claims, meta = synth(n, ctx)
ex = ctx.extractor.id
stamp = "2026-01-01T00:00:00+00:00"
with db.atomic() as conn:
    rows = [dict(id=m.report_id, text=f"synthetic report {m.report_id}", raw=None, content_type="text/plain",
                 source=m.source, source_kind=m.source_kind, affiliation=m.affiliation, url=None, title=None,
                 published=m.published, language="en", ingested_at=stamp) for m in meta.values()]
    for i in range(0, len(rows), 5000):
        conn.execute(schema.reports.insert(), rows[i:i + 5000])
        conn.execute(schema.report_inputs.insert(), [dict(report_id=r["id"], external_id=meta[r["id"]].external_id,
                                                          origin=None) for r in rows[i:i + 5000]])
    per = {}
    for c in claims:
        per[c.report_id] = per.get(c.report_id, 0) + 1
    conn.execute(schema.extractions.insert(), [dict(report_id=r, extractor=ex, n_claims=per.get(r, 0),
                                                    extracted_at=stamp, skipped=None) for r in meta])
    for i in range(0, len(claims), 5000):
        conn.execute(schema.claims.insert(), [dict(id=c.id, report_id=c.report_id, idx=c.index, kind=c.kind, date=c.date,
                                                   country=c.country, region_code=c.region_code, facility_id=c.facility_id,
                                                   facility_type=c.facility_type, extractor=ex,
                                                   data=canonical_json(c.to_dict())) for c in claims[i:i + 5000]])
print(json.dumps({"stored_claims": len(claims), "reports": len(meta)}))
"""


def cmd_claims(args: argparse.Namespace) -> None:
    for n in args.claims:
        with tempfile.TemporaryDirectory(dir=args.tmp) as d:
            db = str(Path(d) / "c.db")
            src = args.src[0]
            print(json.dumps({"n_claims": n, "step": "store (not timed)", **_child(src, CLAIMS, db, str(n))}), flush=True)
            for step in ("truce run over the stored claims", "nothing new"):
                load = os.getloadavg()[0]
                print(json.dumps({"n_claims": n, "src": src, "step": step, "load": round(load, 2),
                                  **_child(src, RUN, db)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--n", type=int, nargs="+", default=[10_000])
    r.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    r.add_argument("--tmp", default=None)
    # a baseline whose runs redo everything may be timed on its first run alone (hours at 100k)
    r.add_argument("--steps", nargs="+", choices=["first", "nothing new", "one new report"],
                   default=["first", "nothing new", "one new report"])
    c = sub.add_parser("claims")
    c.add_argument("--claims", type=int, nargs="+", default=[1_000_000])
    c.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    c.add_argument("--tmp", default=None)
    args = ap.parse_args()
    {"run": cmd_run, "claims": cmd_claims}[args.cmd](args)


if __name__ == "__main__":
    main()
