"""Fusion at scale: synthetic claims → incidents, timed at doubling sizes.

Claims are spread over the registry's facilities, every region of both
countries and 730 days, with a realistic mix (60 % facility claims, 30 %
regional, 10 % country-level), 3 claims per report and sources of all
affiliations. Prints seconds and claims/s per size and the ratio between
consecutive sizes (2.0 = linear).

    python benchmarks/bench_fuse.py --sizes 250000 500000 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import resource
import time

from truce.config import Settings
from truce.context import load_context
from truce.fuse import fuse
from truce.grade import ReportMeta
from truce.records import Claim

SOURCES = [("Ukrinform", "UA", "wire"), ("TASS", "RU", "wire"), ("Reuters", "neutral", "wire"),
           ("DTEK", "UA", "operator"), ("SBU", "UA", "party_official"), ("RIA Novosti", "RU", "wire"),
           ("Associated Press", "neutral", "wire"), ("IAEA", "international", "monitor")]
TYPES = ["thermal_plant", "substation", "other_energy", "refinery", "oil_depot", "gas_production", "chp"]


def synth(n: int, ctx, seed: int = 7) -> tuple[list[Claim], dict[str, ReportMeta]]:
    rnd = random.Random(seed)
    facs = [f for f in ctx.registry if not f.parent]
    regions = sorted(ctx.gazetteer.regions)
    start = dt.date(2024, 1, 1)
    claims, meta = [], {}
    n_reports = n // 3 + 1
    for r in range(n_reports):
        name, aff, kind = rnd.choice(SOURCES)
        rid = f"r{r:08d}"
        meta[rid] = ReportMeta(rid, f"ext-{r}", name, kind, aff, None, (start + dt.timedelta(days=rnd.randrange(730))).isoformat(), rid)
    rids = list(meta)
    for i in range(n):
        rid = rids[i // 3]
        day = (start + dt.timedelta(days=rnd.randrange(730))).isoformat()
        u = rnd.random()
        if u < 0.6:
            f = rnd.choice(facs)
            c = Claim(report_id=rid, index=i % 3, kind="strike", date=day, date_precision="day", country=f.country,
                      region_code=f.region_code, facility_id=f.id, facility_type=f.type,
                      attacker="UA" if f.country == "RU" else "RU", attacker_basis=rnd.choice(["stated", "inferred"]),
                      outcome="hit")
        elif u < 0.9:
            reg = rnd.choice(regions)
            c = Claim(report_id=rid, index=i % 3, kind="strike", date=day, date_precision="day", country=reg[:2],
                      region_code=reg, facility_type=rnd.choice(TYPES), attacker="UA" if reg[:2] == "RU" else "RU",
                      attacker_basis="inferred", outcome=rnd.choice(["hit", "hit", "unknown"]))
        else:
            c = Claim(report_id=rid, index=i % 3, kind="strike", date=day, date_precision="day",
                      country=rnd.choice(["UA", "RU"]), facility_type="other_energy", outcome="hit")
        claims.append(c)
    return claims, meta


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    args = ap.parse_args()
    ctx = load_context(Settings())
    prev = None
    for n in args.sizes:
        claims, meta = synth(n, ctx)
        gc.collect()
        t = time.perf_counter()
        incidents = fuse(claims, meta, ctx.registry)
        secs = time.perf_counter() - t
        ratio = f"{secs / prev:.2f}x the previous size's time" if prev else ""
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{n:>9,} claims -> {len(incidents):>8,} incidents in {secs:6.1f} s ({n / secs:,.0f} claims/s) "
              f"peak RSS {rss:,.0f} MB {ratio}")
        prev = secs
        del claims, meta, incidents


if __name__ == "__main__":
    main()
