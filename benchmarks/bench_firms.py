"""Satellite fire detections at scale: a year of synthetic FIRMS detections for Ukraine and
European Russia (about a million rows), read, stored and weighed against incidents.

The file is written in FIRMS's VIIRS CSV layout, sorted by acquisition time as FIRMS
serves it: field and forest fires in clusters over the whole area (most rows: the spring
and late-summer burning seasons), a flare most nights at every refinery and gas processing
plant of the registry, and fires at facilities on the nights of synthetic strikes (one
facility incident every day of the year). Nothing here is real data. The file is written
by a child process, so the reader's peak RSS is its own. Prints wall seconds, CPU seconds
and peak RSS per step:

    python benchmarks/bench_firms.py --rows 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from truce.config import Settings
from truce.context import load_context
from truce.db import Database
from truce.ingest import ingest_paths
from truce.physical import corroborate, load_matching
from truce.records import ClaimLink, Incident

COLS = ["latitude", "longitude", "bright_ti4", "scan", "track", "acq_date", "acq_time", "satellite", "instrument",
        "confidence", "version", "bright_ti5", "frp", "daynight", "type"]
START = dt.date(2024, 1, 1)


def european(f) -> bool:
    return f.country == "UA" or f.lon <= 60.0


def _strikes(rnd: random.Random, ctx) -> tuple[list, list]:
    """The facilities and one strike a day: the generator's first draws, which the reader replays."""
    facs = [f for f in ctx.registry if european(f) and not f.parent]
    return facs, [(START + dt.timedelta(days=k), rnd.choice(facs)) for k in range(366)]


def incidents_of(ctx, seed: int = 15) -> list[Incident]:
    _, strikes = _strikes(random.Random(seed), ctx)
    out = []
    for day, f in strikes:
        iid = "inc-" + hashlib.sha256(f"{f.id}|{day}".encode()).hexdigest()[:16]
        out.append(Incident(id=iid, kind="facility", date=day.isoformat(), date_precision="day", country=f.country,
                            region_code=f.region_code, region=None, facility_id=f.id, facility_name=f.name,
                            facility_type=f.type, attacker=None, attacker_basis=None, weapon=None, outcome="hit",
                            grade="weak", claims=(ClaimLink("c", "r", "synthetic"),)))
    return out


def write_year(path: Path, rows: int, seed: int = 15) -> int:
    ctx = load_context(Settings())
    rnd = random.Random(seed)
    facs, strikes = _strikes(rnd, ctx)
    flaring = [f for f in facs if f.type in ("refinery", "gas_processing")]
    lines: list[tuple[str, int, str]] = []

    def row(lat: float, lon: float, day: dt.date, hhmm: int, sat: str, conf: str, ti4: float, frp: float, t: int) -> None:
        lines.append((day.isoformat(), hhmm,
                      f"{lat:.5f},{lon:.5f},{ti4:.2f},0.42,0.37,{day.isoformat()},{hhmm},{sat},VIIRS,{conf},2.0NRT,"
                      f"{ti4 - 40:.2f},{frp:.2f},{'N' if hhmm < 300 or hhmm > 1700 else 'D'},{t}\n"))

    for k in range(366):  # flares: most nights, one pixel, a few MW
        day = START + dt.timedelta(days=k)
        for f in flaring:
            if rnd.random() < 0.7:
                hhmm = 2200 + rnd.randint(0, 1) * 100 + rnd.randint(0, 59)
                row(f.lat + rnd.uniform(-0.006, 0.006), f.lon + rnd.uniform(-0.009, 0.009), day, hhmm,
                    rnd.choice(("N", "N20", "N21")), "n", rnd.uniform(300, 325), rnd.uniform(1, 5), 2)
    for day, f in strikes:  # the strikes: several strong pixels, that night
        for _ in range(rnd.randint(2, 8)):
            hhmm = rnd.randint(0, 1) * 100 + rnd.randint(0, 59)
            row(f.lat + rnd.uniform(-0.01, 0.01), f.lon + rnd.uniform(-0.015, 0.015), day, hhmm,
                rnd.choice(("N", "N20", "N21")), "h", rnd.uniform(340, 367), rnd.uniform(15, 120), 0)
    rest = max(rows - len(lines), 0)
    centres = [(rnd.uniform(44.5, 61.0), rnd.uniform(22.5, 59.5)) for _ in range(4000)]
    for _ in range(rest):  # field and forest fires: clustered, seasonal, mostly afternoon overpasses
        la, lo = rnd.choice(centres)
        k = int(min(365, max(0, rnd.gauss(105, 25) if rnd.random() < 0.55 else rnd.gauss(235, 30))))
        row(la + rnd.gauss(0, 0.15), lo + rnd.gauss(0, 0.25), START + dt.timedelta(days=k),
            rnd.choice((1000, 1030, 1100, 1130, 1200, 2330, 15)) + rnd.randint(0, 29), rnd.choice(("N", "N20", "N21")),
            rnd.choice("lnnnh"), rnd.uniform(300, 367), rnd.expovariate(1 / 6.0), 0)
    lines.sort(key=lambda x: (x[0], x[1]))  # FIRMS files come sorted by acquisition date and time
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(",".join(COLS) + "\n")
        fh.writelines(x[2] for x in lines)
    return len(lines)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fire_archive_SV-C2_2024.csv"
        w0 = time.perf_counter()
        with ProcessPoolExecutor(1) as pool:
            n = pool.submit(write_year, path, args.rows).result()
        ctx = load_context(Settings())
        incidents = incidents_of(ctx)
        print(f"wrote {n:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - w0:.1f} s (child process); "
              f"{len(incidents)} synthetic facility incidents; reader loaded, peak RSS {peak_mb():.0f} MB")
        with Database(args.db or str(Path(tmp) / "bench.db")) as db:
            w0, c0 = time.perf_counter(), time.process_time()
            res = ingest_paths(db, [path], ctx)
            w1, c1 = time.perf_counter(), time.process_time()
            print(f"ingest: {res.detections_new:,} detections stored, {len(res.errors)} errors: {w1 - w0:.1f} s wall, "
                  f"{c1 - c0:.1f} s CPU, {res.detections_new / (w1 - w0):,.0f} rows/s; peak RSS {peak_mb():.0f} MB")
            params = load_matching()
            w0, c0 = time.perf_counter(), time.process_time()
            cols = db.fire_points()
            w1, c1 = time.perf_counter(), time.process_time()
            print(f"load columns: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU; peak RSS {peak_mb():.0f} MB")
            w0, c0 = time.perf_counter(), time.process_time()
            out, evidence, cands = corroborate(*cols, db.fire_detections, incidents, ctx.registry, params)
            w1, c1 = time.perf_counter(), time.process_time()
            by: dict[str, int] = {}
            for e in evidence:
                by[e.verdict] = by.get(e.verdict, 0) + 1
            raised = sum(1 for a, b in zip(incidents, out) if a.grade != b.grade)
            print(f"match, background, verdicts: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU; {by}; {raised} raised to fair; "
                  f"{len(cands)} candidates; peak RSS {peak_mb():.0f} MB")
            w0 = time.perf_counter()
            db.replace_physical(evidence, cands)
            print(f"store evidence: {time.perf_counter() - w0:.1f} s")


if __name__ == "__main__":
    main()
