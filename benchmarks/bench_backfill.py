"""`truce backfill` on a LocalCluster: one worker against two on the same archive, beside
`truce ingest` + `truce run` (the baseline, optionally with another checkout's code).

The archive: N reports of real length generated from the bundled demo and gold reports
(benchmarks/bench_extract.py's corpus: 4-12 paragraphs recombined per report, so places mix;
numbers and publication dates varied) with outlets drawn from the demo's, written as JSON
Lines. Each configuration runs as a fresh command on a fresh SQLite database; for each the
wall time, the CPU seconds of the command and every process under it (Dask's nannies and
workers included), the peak RSS of the largest process and of the whole process tree
(sampled every 0.2 s), and the load average before and after. The backfill's own phases
(extraction on the cluster, of which starting the workers; the stages on the client) come
from its summary line.

    python benchmarks/bench_backfill.py --n 6000 --repeat 2 --baseline /tmp/wt-main-base/src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from bench_extract import corpus  # noqa: E402


def write_archive(path: Path, n: int, seed: int = 11) -> None:
    outlets = sorted({json.loads(x).get("source") or "" for x in
                      (ROOT / "src/truce/data/demo/reports.jsonl").read_text(encoding="utf-8").splitlines()} - {""})
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for r in corpus(n, seed):
            r["source"] = rnd.choice(outlets)
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def tree_rss(pid: int) -> tuple[int, int]:
    """(sum, max) RSS in bytes of a process and its descendants."""
    import psutil

    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0, 0
    sizes = []
    for p in procs:
        try:
            sizes.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> dict:
    load0 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"sum": 0, "max": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            s, m = tree_rss(proc.pid)
            peak["sum"], peak["max"] = max(peak["sum"], s), max(peak["max"], m)
            done.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    done.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall": wall, "cpu": cpu, "rss_max_mb": after.ru_maxrss / 1024, "tree_peak_mb": peak["sum"] / 2**20,
            "proc_peak_mb": peak["max"] / 2**20, "load_before": load0, "load_after": os.getloadavg()[0],
            "stdout": out, "stderr": err}


def new_schema(url: str) -> str:
    import uuid

    import sqlalchemy as sa

    from truce.config import database_url

    schema = "bench_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def drop_schema(url: str, target: str) -> None:
    import sqlalchemy as sa

    from truce.config import database_url

    schema = target.rsplit("%3D", 1)[1]
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def phases(stdout: str) -> dict:
    m = re.search(r"time: +([\d.]+) s \(extract on the cluster ([\d.]+) s, of which starting the workers ([\d.]+) s; "
                  r"stages ([\d.]+) s\); worker CPU ([\d.]+) s", stdout)
    if not m:
        return {}
    return dict(zip(("total", "extract", "start", "stages", "worker_cpu"), map(float, m.groups())))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--partition-size", type=int, default=250)
    ap.add_argument("--baseline", help="src/ of another checkout: `truce ingest` + `truce run` with that code")
    ap.add_argument("--skip-ingest-run", action="store_true")
    ap.add_argument("--no-stages", action="store_true", help="backfill --no-stages: only what the cluster does")
    ap.add_argument("--baseline-only", action="store_true", help="only the ingest + run configurations")
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument("--postgres", help="a PostgreSQL URL: each run in a schema of its own (the workers write)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    archive = work / "archive.jsonl"
    write_archive(archive, args.n)
    size = archive.stat().st_size
    print(f"archive: {args.n} reports, {size / 2**20:.1f} MiB, mean {size / args.n:,.0f} bytes a line; {work}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    truce = [sys.executable, "-c", "from truce.cli import main; main()"]
    results: dict[str, list[dict]] = {}
    configs: list[tuple[str, list[list[str]], dict[str, str]]] = []
    if not args.skip_ingest_run:
        configs.append(("ingest + run (this branch)", [["ingest", str(archive)], ["run"]], env))
    if args.baseline:
        base_env = {**os.environ, "PYTHONPATH": args.baseline}
        configs.append(("ingest + run (baseline)", [["ingest", str(archive)], ["run"]], base_env))
    for w in (() if args.baseline_only else (1, 2)):
        configs.append((f"backfill, {w} worker{'s' if w > 1 else ''}",
                        [["backfill", str(archive), "--workers", str(w), "--partition-size", str(args.partition_size)]
                         + (["--no-stages"] if args.no_stages else [])], env))
    for rep in range(args.repeat):
        for name, steps, e in configs:
            db = work / f"r{rep}-{abs(hash(name)) % 10**6}.db"
            target = str(db) if not args.postgres else new_schema(args.postgres)
            total: dict = {}
            for step in steps:
                r = run(truce + step + ["--db", target], e, work)
                for k in ("wall", "cpu"):
                    total[k] = total.get(k, 0.0) + r[k]
                for k in ("tree_peak_mb", "proc_peak_mb", "rss_max_mb"):
                    total[k] = max(total.get(k, 0.0), r[k])
                total.setdefault("load_before", r["load_before"])
                total["load_after"] = r["load_after"]
                total.update({f"phase_{k}": v for k, v in phases(r["stdout"]).items()})
                total.setdefault("summary", "")
                total["summary"] += "".join(x + "\n" for x in r["stdout"].splitlines() if x.startswith(("incidents:", "claims:")))
            results.setdefault(name, []).append(total)
            ph = (f"; extract {total['phase_extract']:.1f} s (start {total['phase_start']:.1f} s), stages "
                  f"{total['phase_stages']:.1f} s, worker CPU {total['phase_worker_cpu']:.1f} s") if "phase_extract" in total else ""
            print(f"[{rep + 1}] {name}: wall {total['wall']:.1f} s, CPU {total['cpu']:.1f} s, peak RSS "
                  f"{total['proc_peak_mb']:.0f} MB one process / {total['tree_peak_mb']:.0f} MB all, load "
                  f"{total['load_before']:.2f}->{total['load_after']:.2f}{ph}", flush=True)
            print("    " + total["summary"].replace("\n", "\n    ").rstrip(), flush=True)
            db.unlink(missing_ok=True)
            if args.postgres:
                drop_schema(args.postgres, target)
    one, two = results.get("backfill, 1 worker", []), results.get("backfill, 2 workers", [])
    if one and two:
        w1, w2 = min(r["wall"] for r in one), min(r["wall"] for r in two)
        e1, e2 = min(r["phase_extract"] for r in one), min(r["phase_extract"] for r in two)
        print(f"speed-up 2 workers / 1 (best of {args.repeat}): end to end {w1 / w2:.2f}x; extraction phase {e1 / e2:.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps({k: [{x: y for x, y in r.items() if x != "summary"} for r in v]
                                              for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
