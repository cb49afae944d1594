"""Latency of `truce watch`: a report file dropped into a watched folder → its finding
visible in the database (what `truce findings` reads).

Builds a database of N real-length reports (bench_extract.py's corpus, run through
every stage), starts `truce watch FOLDER --interval 0.1 --settle 0` on it, waits for
its first round, then drops T report files one at a time (written under a hidden
name, then renamed: complete when they appear) and polls the database every 10 ms,
from this process, until the new report's incident has its findings. Each report is
a bundled demo report that yields a finding, made new (a sentence appended). Prints
p50/p95/max of the latency, the watcher's own per-stage timings, its CPU seconds and
peak RSS, and the load. ``--baseline SRC`` times what main offers instead (`truce
ingest FILE` then `truce run`, as processes) for a few trials on the same database.

    python benchmarks/bench_watch.py --reports 2000 --trials 50 --baseline /tmp/base/src

``--claims N`` builds the database from N synthetic claims instead (``bench_incremental``'s
``claims`` store: ``bench_fuse.synth`` over the registry's facilities, regions and countries,
730 days, then ``truce run``); ``--db PATH`` keeps the built database there, and reuses it
when it exists (trials then run on a copy, so the kept one stays as built):

    python benchmarks/bench_watch.py --claims 1000000 --db /tmp/w1m.db --trials 50

``--pg URL`` builds in a new schema of that PostgreSQL database (its URL is printed); ``--db``
with such a schema's URL reuses it (no copy there: the trials' reports stay in it):

    python benchmarks/bench_watch.py --claims 1000000 --pg postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_extract import corpus  # noqa: E402

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "src/truce/data/demo/reports.jsonl"
CLI = [sys.executable, "-c", "from truce.cli import main; main()"]


def _env(src: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": src}


def finding_visible(db, rid: str) -> bool:
    claims = db.claims_of_report(rid)
    if not claims:
        return False
    incidents = sorted(set(db.incidents_of_claims([c.id for c in claims]).values()))
    return bool(incidents) and bool(db.findings_of(incidents))


def trial_reports(n: int, sources, src: str, tmp: Path, tag: str = "", earlier: int = 0,
                  out_of_order: bool = False) -> list[tuple[str, str]]:
    """(JSONL line, report id) of n new reports: demo reports that yield a finding in the demo
    database (checked there), each made new by a sentence appended. Each is published after
    its original and after the ``earlier`` trial copies a database holds from earlier runs (a
    tie in publication time could make a new copy its group's canonical, which is what an
    out-of-order copy does, not a new one). ``out_of_order``: each is published before its
    original and every earlier trial copy instead (it becomes its group's canonical)."""
    from truce.db import Database
    from truce.ingest import make_report

    demo_db = tmp / "demo.db"
    subprocess.run(CLI + ["demo", "--db", str(demo_db), "--out", str(tmp / "demo-out")], check=True, env=_env(src),
                   capture_output=True)
    ddb = Database(str(demo_db))
    picks = []
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        rep = make_report(text=d["text"], external_id=d["id"], sources=sources, source=d.get("source"),
                          published=d.get("published"), language=d.get("language"))
        if finding_visible(ddb, rep.id):
            picks.append(d)
    ddb.close()
    out = []
    for k in range(n):
        d = dict(picks[k % len(picks)])
        d["id"] = f"trial-{tag}{k}"
        d["text"] = d["text"] + f"\n\nThis report was updated ({tag}{k})."
        if d.get("published"):  # a copy published after the reports it copies, as a new copy is: never their canonical
            shift = dt.timedelta(minutes=1 + k + earlier + 60 * len(tag))
            d["published"] = (dt.datetime.fromisoformat(d["published"]) + (-shift if out_of_order else shift)).isoformat()
        rep = make_report(text=d["text"], external_id=d["id"], sources=sources, source=d.get("source"),
                          published=d.get("published"), language=d.get("language"))
        out.append((json.dumps(d, ensure_ascii=False), rep.id))
    return out


def earlier_trials(db) -> int:
    """How many trial reports earlier runs stored in the database."""
    import sqlalchemy as sa
    from truce.schema import report_inputs

    with db.atomic(write=False) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(report_inputs)
                                .where(report_inputs.c.external_id.like("trial-%"))).scalar_one())


def build(db_path: Path | str, n: int, src: str, work: Path) -> float:
    rows = corpus(n)
    data = work / "base.jsonl"
    data.write_text("\n".join(json.dumps({**r, "source": ["Reuters", "Ukrinform", "TASS", "Kyiv Independent"][i % 4]},
                                         ensure_ascii=False) for i, r in enumerate(rows)) + "\n", encoding="utf-8")
    t = time.perf_counter()
    subprocess.run(CLI + ["ingest", str(data), "--db", str(db_path)], check=True, env=_env(src), capture_output=True)
    subprocess.run(CLI + ["run", "--db", str(db_path), "--author", "bench"], check=True, env=_env(src), capture_output=True)
    return time.perf_counter() - t


def build_claims(db_path: Path | str, n: int, src: str) -> float:
    from bench_incremental import CLAIMS, _child

    t = time.perf_counter()
    _child(src, CLAIMS, str(db_path), str(n))
    subprocess.run(CLI + ["run", "--db", str(db_path), "--author", "bench"], check=True, env=_env(src), capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--claims", type=int, default=0, help="build from this many synthetic claims instead of reports")
    ap.add_argument("--db", default=None, help="keep the built database here (reused when it exists): a path, "
                                               "or the URL of a PostgreSQL schema --pg built")
    ap.add_argument("--pg", default=None, help="build in a new schema of this PostgreSQL database")
    ap.add_argument("--exact", action="store_true", help="run the watcher with --exact (no provisional fusion)")
    ap.add_argument("--exact-after", type=float, default=None, help="the watcher's --exact-after")
    ap.add_argument("--provisional-over", type=int, default=None, help="the watcher's --provisional-over")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--out-of-order", action="store_true",
                    help="each trial copy published before every stored copy of its report (it moves its group's canonical)")
    ap.add_argument("--tag", default="", help="makes the trial reports new to a database that had trials before")
    ap.add_argument("--baseline", help="src/ of main's checkout: `truce ingest` + `truce run` per report")
    ap.add_argument("--baseline-trials", type=int, default=5)
    args = ap.parse_args()
    if args.baseline and (args.pg or (args.db or "").startswith("postgresql")):
        ap.error("--baseline runs on a copy of a SQLite database only")
    src = str(ROOT / "src")
    sys.path.insert(0, src)
    from truce.db import Database
    from truce.reference.sources import SourceBook

    pg = args.pg or (args.db if args.db and args.db.startswith("postgresql") else None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-", dir=Path(args.db).parent if args.db and not pg else None))
    db_path: Path | str = tmp / "w.db"
    secs = 0.0
    if pg:
        from bench_backfill import new_schema

        db_path = args.db if args.db else new_schema(args.pg)
        print(f"PostgreSQL schema: {db_path}", flush=True)
        if not args.db:
            secs = (build_claims(db_path, args.claims, src) if args.claims else build(db_path, args.reports, src, tmp))
    else:
        kept = Path(args.db) if args.db else None
        if kept is None or not kept.exists():
            target = kept or Path(db_path)
            secs = (build_claims(target, args.claims, src) if args.claims else build(target, args.reports, src, tmp))
        if kept is not None:
            shutil.copy(kept, db_path)
    db = Database(str(db_path))
    size = (db.report_count(), db.claim_count(), db.incident_count())
    where = "PostgreSQL" if pg else f"{Path(db_path).stat().st_size / 2**20:.0f} MB SQLite"
    print(f"database: {size[0]:,} reports, {size[1]:,} claims, {size[2]:,} incidents ({where}; built in {secs:.0f} s)",
          flush=True)
    base_copy = tmp / "base.db"
    if not pg:
        shutil.copy(db_path, base_copy)
    trials = trial_reports(args.trials + args.baseline_trials, SourceBook.load(), src, tmp, args.tag,
                           earlier=earlier_trials(db), out_of_order=args.out_of_order)
    folder = tmp / "in"
    folder.mkdir()
    extra = ((["--exact"] if args.exact else []) + (["--exact-after", str(args.exact_after)] if args.exact_after else [])
             + (["--provisional-over", str(args.provisional_over)] if args.provisional_over is not None else []))
    proc = subprocess.Popen(CLI + ["watch", str(folder), "--db", str(db_path), "--interval", "0.1", "--settle", "0",
                                   "--workers", "1", "--author", "bench", *extra], env=_env(src),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watcher = psutil.Process(proc.pid)
    logged: dict[str, dict] = {}  # report id → the watcher's line (read as it prints)

    def read_lines() -> None:
        assert proc.stdout is not None
        for text in proc.stdout:
            if text.strip():
                x = json.loads(text)
                logged[x["report_id"]] = x

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    without = 0
    try:
        # this watcher's first round (a full run; the table keeps earlier runs' watchers a while)
        while not [w for w in db.watcher_health() if w.get("pid") == proc.pid and w.get("polls", 0) >= 1]:
            time.sleep(0.2)
        cpu0 = sum(watcher.cpu_times()[:2])
        load = os.getloadavg()
        lat = []
        for k, (line, rid) in enumerate(trials[:args.trials]):
            hidden = folder / f".t{k}.jsonl"
            hidden.write_text(line + "\n", encoding="utf-8")
            t = time.perf_counter()
            hidden.rename(folder / f"t{k}.jsonl")
            while not finding_visible(db, rid):
                if rid in logged and not logged[rid]["findings"]:
                    break  # run through the stages, and no finding (a copy fused elsewhere): not counted
                time.sleep(0.01)
            else:
                lat.append(time.perf_counter() - t)
                time.sleep(0.2)
                continue
            without += 1
            time.sleep(0.2)
        cpu = sum(watcher.cpu_times()[:2]) - cpu0
        t_last = time.perf_counter()
        while db.queued_blocks():  # provisional blocks: settled once the watcher is quiet
            time.sleep(0.5)
        settled = time.perf_counter() - t_last
        settle_cpu = sum(watcher.cpu_times()[:2]) - cpu0 - cpu
        hwm = 0
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) // 1024
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        reader.join(timeout=10)
    lines = list(logged.values())
    q = statistics.quantiles(lat, n=20, method="inclusive")
    print(f"truce watch, {len(lat)} trials ({without} more left out: no finding): "
          f"latency p50 {statistics.median(lat):.2f} s, p95 {q[18]:.2f} s, "
          f"max {max(lat):.2f} s; watcher CPU {cpu:.1f} s over the trials, peak RSS {hwm} MB; load {load[0]:.2f}")
    print("  latencies in trial order (s): " + " ".join(f"{x:.2f}" for x in lat))
    slow = sorted(lines, key=lambda x: -x["seconds"].get("latency", 0))[:3]
    print("  the watcher's slowest: " + "; ".join(json.dumps(x["seconds"]) for x in slow))
    stages: dict[str, list[float]] = {}
    for x in lines:
        for k, v in x["seconds"].items():
            stages.setdefault(k, []).append(v)
    print("  watcher's own timings (median s): " + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in stages.items()))
    print(f"  every block exact again {settled:.1f} s after the last trial (the watcher waits for quiet first), "
          f"{settle_cpu:.1f} CPU s")
    r = subprocess.run(CLI + ["findings", "--db", str(db_path), "--format", "json"], env=_env(src), capture_output=True,
                       text=True, check=True)
    incidents = {x["incidents"][0] for x in lines if x["incidents"] and x["findings"]}
    shown = {f.get("incident_id") or f.get("incident") for f in json.loads(r.stdout)}
    print(f"  `truce findings` shows the trials' incidents: {len(incidents & shown)}/{len(incidents)}")
    if args.baseline:
        bdb = Database(str(base_copy))
        blat = []
        for k, (line, rid) in enumerate(trials[args.trials:]):
            f = tmp / f"b{k}.jsonl"
            f.write_text(line + "\n", encoding="utf-8")
            t = time.perf_counter()
            subprocess.run(CLI + ["ingest", str(f), "--db", str(base_copy)], env=_env(args.baseline), check=True,
                           capture_output=True)
            subprocess.run(CLI + ["run", "--db", str(base_copy), "--author", "bench"], env=_env(args.baseline),
                           check=True, capture_output=True)
            blat.append(time.perf_counter() - t)
            assert finding_visible(bdb, rid)
        print(f"baseline (main: truce ingest + truce run per report), {len(blat)} trials: median "
              f"{statistics.median(blat):.2f} s, max {max(blat):.2f} s; load {os.getloadavg()[0]:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
