"""Read commands at scale (issue 12): `truce incidents --format json`, `truce export --format
parquet` and `truce report` on a database of synthetic claims, each a fresh process (wall s,
CPU s, peak RSS from ``wait4``), one or more checkouts' code side by side.

``build`` stores ``bench_fuse.synth`` claims (3 per report) with their extraction rows, as
``bench_incremental.py claims`` does, then runs ``truce run`` over them, into a database that
is kept; ``time`` runs the read commands on it (the report before and after ``truce ledger verify``,
which lets a report check only the ledger entries added since the last full check):

    python benchmarks/bench_reads.py build /tmp/report-bench/100k.db --claims 300000
    python benchmarks/bench_reads.py time /tmp/report-bench/100k.db --src src /tmp/wt-base/src \
        --commands "incidents json" "export parquet" report "ledger verify" report
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
sys.path.insert(0, str(HERE))

from bench_incremental import CLAIMS, RUN, _child  # noqa: E402

COMMANDS = {
    "incidents json": ["incidents", "--format", "json"],
    "export parquet": ["export", "--format", "parquet", "--output", "{out}/export.parquet"],
    "report": ["report", "--output", "{out}/report.html"],
    # a full check that leaves its mark: a later report checks only the ledger entries added since
    "ledger verify": ["ledger", "verify"],
}


def cmd_build(a: argparse.Namespace) -> None:
    if Path(a.db).exists():
        raise SystemExit(f"{a.db} exists")
    src = a.src[0]
    print(json.dumps({"step": "store", **_child(src, CLAIMS, a.db, str(a.claims))}), flush=True)
    load = os.getloadavg()[0]
    print(json.dumps({"step": "truce run", "load": round(load, 2), **_child(src, RUN, a.db)}), flush=True)


def _truce(src: str, db: str, argv: list[str]) -> dict:
    """One `truce` command in a fresh process, its stdout to a file: wall s, CPU s, peak RSS."""
    env = {**os.environ, "PYTHONPATH": src}
    with tempfile.TemporaryDirectory(dir=Path(db).parent) as out:
        args = [x.format(out=out) for x in argv]
        t = time.perf_counter()
        with open(Path(out) / "stdout", "wb") as fh:
            p = subprocess.Popen([sys.executable, "-m", "truce.cli", *args, "--db", db], env=env, stdout=fh,
                                 stderr=subprocess.PIPE)
            err = p.stderr.read() if p.stderr else b""
            _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        if status:
            raise SystemExit(f"{args} failed ({status}): {err[-2000:].decode(errors='replace')}")
        size = sum(f.stat().st_size for f in Path(out).iterdir())
    return {"wall_s": round(wall, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mb": round(ru.ru_maxrss / 1024), "output_mb": round(size / 1e6, 1)}


def cmd_time(a: argparse.Namespace) -> None:
    for name in a.commands:
        for src in a.src:
            load = os.getloadavg()[0]
            res = _truce(src, a.db, COMMANDS[name])
            print(json.dumps({"command": name, "src": src, "load": round(load, 2), **res}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("db")
    b.add_argument("--claims", type=int, default=300_000, help="3 claims per report")
    b.add_argument("--src", nargs=1, default=[str(HERE.parent / "src")])
    t = sub.add_parser("time")
    t.add_argument("db")
    t.add_argument("--src", nargs="+", default=[str(HERE.parent / "src")])
    t.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    a = ap.parse_args()
    {"build": cmd_build, "time": cmd_time}[a.cmd](a)


if __name__ == "__main__":
    main()
