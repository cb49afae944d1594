"""Soak: two `truce watch` processes and one `truce ingest` writing to one PostgreSQL at once.

N real-length reports (``bench_extract.corpus``, four outlets) are fed for M minutes: files
of 50 reports dropped into the folder both watchers follow (written under a hidden name,
then renamed), at a steady rate, while one `truce ingest` streams a JSON Lines file holding
a third of the reports — half of them also in dropped files (the same report twice must be
stored once). Once the feed ends, the watchers drain their backlog and are stopped with
SIGTERM. Then the database is checked against a reference: the same unique reports ingested
and run by one process into a fresh SQLite file. It must hold every report once (0 lost, 0
duplicated), the same claim ids and incident ids as the reference (no claim or incident
lost or made twice), each claim in at most one incident, and `truce ledger verify` must
exit 0.

    python benchmarks/soak_pg.py --postgres postgresql://postgres@127.0.0.1:5432/test \\
        --reports 20000 --minutes 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from bench_backfill import drop_schema, new_schema  # noqa: E402
from bench_extract import corpus  # noqa: E402

ROOT = Path(__file__).parents[1]
CLI = [sys.executable, "-c", "from truce.cli import main; main()"]
OUTLETS = ["Reuters", "Ukrinform", "TASS", "Kyiv Independent"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _tree_cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postgres", required=True, help="server URL (a fresh schema is made in it and dropped after)")
    ap.add_argument("--reports", type=int, default=20_000)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--per-file", type=int, default=50)
    ap.add_argument("--keep", action="store_true", help="keep the schema and the temporary folder")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from truce.db import Database

    rows = [{**r, "source": OUTLETS[i % 4]} for i, r in enumerate(corpus(args.reports))]
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    rnd = random.Random(7)
    order = list(range(len(lines)))
    rnd.shuffle(order)
    third = len(lines) // 3
    ingest_only = order[:third // 2]  # only the ingest process has these
    both = order[third // 2:third]  # the ingest process and a dropped file
    dropped = sorted(set(order) - set(ingest_only))
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    folder = tmp / "in"
    folder.mkdir()
    ingest_file = tmp / "ingest.jsonl"
    ingest_file.write_text("\n".join(lines[i] for i in ingest_only + both) + "\n", encoding="utf-8")
    files = [dropped[k:k + args.per_file] for k in range(0, len(dropped), args.per_file)]

    url = new_schema(args.postgres)
    schema = url.rsplit("%3D", 1)[1]
    Database(url).close()  # the schema, before three processes race to create it
    print(f"soak: {len(lines):,} reports ({len(dropped):,} in {len(files)} dropped files, {len(ingest_only) + len(both):,} "
          f"through `truce ingest`, {len(both):,} of them in both), {args.minutes:g} min of feeding; schema {schema}",
          flush=True)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    logs = [open(tmp / f"w{i}.out", "w") for i in range(2)]  # noqa: SIM115 - closed below
    watchers = [subprocess.Popen(CLI + ["watch", str(folder), "--db", url, "--interval", "0.5", "--settle", "0",
                                        "--workers", "1", "--author", f"soak-w{i}"], env=_env(),
                                 stdout=logs[i], stderr=subprocess.DEVNULL) for i in range(2)]
    ps = [psutil.Process(w.pid) for w in watchers]
    ingest = None
    cpu_ingest = 0.0
    try:
        db = Database(url)
        while len(db.watcher_health()) < 2:
            time.sleep(0.2)
        ingest = subprocess.Popen(CLI + ["ingest", str(ingest_file), "--db", url], env=_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ping = psutil.Process(ingest.pid)
        span = args.minutes * 60
        start = time.perf_counter()
        for k, chunk in enumerate(files):  # a steady rate over the span
            due = start + span * k / len(files)
            while time.perf_counter() < due:
                time.sleep(0.05)
            hidden = folder / f".f{k}.tmp"
            hidden.write_text("\n".join(lines[i] for i in chunk) + "\n", encoding="utf-8")
            hidden.rename(folder / f"f{k:05d}.jsonl")
        while time.perf_counter() < start + span:
            time.sleep(0.2)
        fed = time.perf_counter() - t0
        try:
            cpu_ingest = sum(ping.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
        _, err = ingest.communicate(timeout=3600)
        if ingest.returncode != 0:
            raise SystemExit(f"truce ingest failed: {err[-2000:]}")
        # drain: every file recorded, every report read, nothing queued for fusion
        while not (len(db.watched_file_rows()) == len(files) and db.report_count() == len(lines)
                   and not db.reports_to_extract(_extractor_id()) and not db.queued_blocks()):
            time.sleep(1.0)
        time.sleep(2.0)
        drained = time.perf_counter() - t0
        cpu_watch = _tree_cpu(ps)
        rss = max(q.memory_info().rss for p in ps for q in [p, *p.children(recursive=True)]) / 2**20
        for w in watchers:
            w.send_signal(signal.SIGTERM)
        for w in watchers:
            w.wait(timeout=600)
            if w.returncode != 0:
                raise SystemExit(f"a watcher exited with {w.returncode}")
    finally:
        for w in watchers:
            if w.poll() is None:
                w.kill()
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
        for f in logs:
            f.close()
    print(f"fed for {fed:.0f} s, drained at {drained:.0f} s; watchers' CPU {cpu_watch:.0f} s (process trees), "
          f"ingest's CPU {cpu_ingest:.0f} s, largest process {rss:.0f} MB; load {load0:.2f} → {os.getloadavg()[0]:.2f}",
          flush=True)
    logged = [json.loads(x)["report_id"] for i in range(2) for x in (tmp / f"w{i}.out").read_text().splitlines()
              if x.strip()]

    # the reference: one process, SQLite, the same unique reports
    ref_path = tmp / "ref.db"
    everything = tmp / "all.jsonl"
    everything.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = time.perf_counter()
    subprocess.run(CLI + ["ingest", str(everything), "--db", str(ref_path)], env=_env(), check=True, capture_output=True)
    subprocess.run(CLI + ["run", "--db", str(ref_path), "--author", "ref"], env=_env(), check=True, capture_output=True)
    print(f"reference (one process, SQLite): {time.perf_counter() - t:.0f} s", flush=True)
    ref = Database(str(ref_path))
    got_reports = _ids(db, "reports", "id")
    want_reports = _ids(ref, "reports", "id")
    got_claims, want_claims = _ids(db, "claims", "id"), _ids(ref, "claims", "id")
    got_inc, want_inc = _ids(db, "incidents", "id"), _ids(ref, "incidents", "id")
    links = _ids(db, "incident_claims", "claim_id")
    verify = subprocess.run(CLI + ["ledger", "verify", "--db", url], env=_env(), capture_output=True, text=True)
    checks = {
        "reports": (len(got_reports), len(want_reports), len(set(want_reports) - set(got_reports)),
                    len(got_reports) - len(set(got_reports))),
        "claims": (len(got_claims), len(want_claims), len(set(want_claims) - set(got_claims)),
                   len(set(got_claims) - set(want_claims))),
        "incidents": (len(got_inc), len(want_inc), len(set(want_inc) - set(got_inc)), len(set(got_inc) - set(want_inc))),
    }
    for k, (n, m, lost, extra) in checks.items():
        print(f"  {k}: {n:,} stored, {m:,} in the reference; {lost} lost, {extra} extra or duplicated")
    print(f"  claims in more than one incident: {len(links) - len(set(links))}")
    print(f"  reports logged by the watchers: {len(logged):,} lines, {len(set(logged)):,} distinct "
          f"(whichever process ingested a report, the watcher whose run read it logs it)")
    print(f"  truce ledger verify: exit {verify.returncode}: {verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else ''}")
    ok = (all(lost == 0 and extra == 0 for _, _, lost, extra in checks.values()) and len(links) == len(set(links))
          and verify.returncode == 0)
    print("PASS" if ok else "FAIL", flush=True)
    db.close()
    ref.close()
    if not args.keep:
        drop_schema(args.postgres, url)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept: {tmp}, schema {schema}")
    sys.exit(0 if ok else 1)


def _extractor_id() -> str:
    from truce.config import Settings
    from truce.context import load_context

    global _EX
    if _EX is None:
        _EX = load_context(Settings()).extractor.id
    return _EX


_EX: str | None = None


def _ids(db, table: str, column: str) -> list[str]:
    from truce import schema

    t = getattr(schema, table)
    with db.atomic(write=False) as conn:
        return [r[0] for r in conn.execute(sa.select(t.c[column]))]


if __name__ == "__main__":
    main()
