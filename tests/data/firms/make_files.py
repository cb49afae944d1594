"""Writes the FIRMS-format test files in this folder (made-up but plausible detections).

Run from the repository root after moving a facility they use in the registry:
``python tests/data/firms/make_files.py``. Coordinates are offsets from the registry's
point for the facility, so the files follow the registry. Nothing here is real data.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
EXAMPLES = ROOT / "src/truce/data/firms/examples"  # the README's example files (same layout)
VIIRS_COLS = ["latitude", "longitude", "bright_ti4", "scan", "track", "acq_date", "acq_time", "satellite", "instrument",
              "confidence", "version", "bright_ti5", "frp", "daynight", "type"]
MODIS_COLS = ["latitude", "longitude", "brightness", "scan", "track", "acq_date", "acq_time", "satellite", "instrument",
              "confidence", "version", "bright_t31", "frp", "daynight", "type"]


def registry_point(fid: str) -> tuple[float, float]:
    for name in ("ru.csv", "ua.csv"):
        with open(ROOT / "src/truce/data/registry" / name, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row["id"] == fid:
                    return float(row["lat"]), float(row["lon"])
    raise KeyError(fid)


def offset(lat: float, lon: float, km_north: float, km_east: float) -> tuple[float, float]:
    return (round(lat + km_north / 111.2, 5), round(lon + km_east / (111.2 * math.cos(math.radians(lat))), 5))


def viirs(lat, lon, when: dt.datetime, sat: str, conf: str, ti4: float, frp: float, ftype: int = 0) -> list:
    dn = "N" if when.hour >= 17 or when.hour < 3 else "D"
    return [lat, lon, ti4, 0.42, 0.37, when.date().isoformat(), when.strftime("%H%M").lstrip("0") or "0", sat, "VIIRS",
            conf, "2.0NRT", round(ti4 - 40, 2), frp, dn, ftype]


def night(day: dt.date, minute: int) -> dt.datetime:
    """A night overpass over the Volga: about 21:30-23:30 UTC of the evening before ``day``."""
    return dt.datetime.combine(day - dt.timedelta(days=1), dt.time(21, 0)) + dt.timedelta(minutes=minute)


def write(name: str, cols: list[str], rows: list[list], where: Path = HERE) -> None:
    rows.sort(key=lambda r: (r[5], str(r[6]).zfill(4), r[0], r[1]))
    with open(where / name, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)


def background_fires(rng: random.Random, start: dt.date, days: int) -> list[list]:
    """Field fires far from any facility, so every day of the period has data (coverage)."""
    rows = []
    spots = [(47.35, 40.95), (46.20, 41.60), (51.95, 45.10), (50.10, 42.80)]  # steppe of Rostov, Volgograd, Saratov
    for k in range(days):
        day = start + dt.timedelta(days=k)
        la, lo = spots[k % len(spots)]
        for j in range(rng.randint(1, 3)):
            p = offset(la, lo, rng.uniform(-15, 15), rng.uniform(-15, 15))
            t = dt.datetime.combine(day, dt.time(10, 0)) + dt.timedelta(minutes=rng.randint(0, 90))
            rows.append(viirs(*p, t, rng.choice(["N", "N20"]), rng.choice("nnl"), round(rng.uniform(300, 335), 2),
                              round(rng.uniform(0.8, 6.0), 2)))
    return rows


def main() -> None:
    rng = random.Random(20240316)
    start, days = dt.date(2024, 2, 15), 61
    strike = dt.date(2024, 3, 16)  # the demo reports strikes on Syzran and Novokuibyshevsk that night
    syz = registry_point("ru-syzran-refinery")
    nk = registry_point("ru-novokuibyshevsk-refinery")
    kir = registry_point("ru-kirishi-refinery")
    base = background_fires(rng, start, days)

    # 1. the strike: a fire at Syzran the night of the strike, seen by NOAA-20 and S-NPP, and next morning
    strike_rows = [
        viirs(*offset(*syz, 0.4, -0.3), night(strike, 152), "N20", "h", 367.1, 48.3),
        viirs(*offset(*syz, 0.7, 0.1), night(strike, 152), "N20", "h", 358.4, 31.9),
        viirs(*offset(*syz, 0.2, 0.5), night(strike, 153), "N20", "n", 341.0, 17.6),
        viirs(*offset(*syz, 0.5, -0.1), night(strike, 201), "N", "h", 352.7, 26.4),
        viirs(*offset(*syz, 0.3, 0.2), dt.datetime.combine(strike, dt.time(9, 47)), "N", "n", 339.2, 12.8),
    ]
    write("syzran-strike.csv", VIIRS_COLS, base + strike_rows)

    # 2. the same site with a flare every night (one pixel, a few MW), the strike night too
    flare = []
    for k in range(days):
        day = start + dt.timedelta(days=k)
        if day != strike and rng.random() > 0.8:
            continue  # cloud: the flare is not seen every night
        flare.append(viirs(*offset(*syz, 0.9, -0.6), night(day, rng.randint(100, 160)), rng.choice(["N", "N20"]), "n",
                           round(rng.uniform(306, 324), 2), round(rng.uniform(1.4, 4.6), 2), 2))
    write("syzran-flare.csv", VIIRS_COLS, base + flare)

    # 3. the demo file: Syzran's fire, Novokuibyshevsk's flare (its strike night at flare level) and an
    # unreported fire at Kirishi (a candidate), MODIS Aqua seeing Syzran too
    nk_flare = []
    for k in range(days):
        day = start + dt.timedelta(days=k)
        if day != strike and rng.random() > 0.75:
            continue
        nk_flare.append(viirs(*offset(*nk, -0.5, 0.8), night(day, rng.randint(100, 160)), rng.choice(["N", "N20"]), "n",
                              round(rng.uniform(305, 322), 2), round(rng.uniform(1.2, 4.9), 2), 2))
    kirishi = [viirs(*offset(*kir, 0.3 * j, -0.2 * j), dt.datetime(2024, 4, 2, 0, 28), "N20", "h",
                     round(345 + 5 * j, 2), round(22 + 7 * j, 2)) for j in range(4)]
    write("demo-viirs.csv", VIIRS_COLS, base + strike_rows + nk_flare + kirishi, EXAMPLES)
    aqua = [[*offset(*syz, 0.6, 0.0), 331.5, 1.1, 1.0, strike.isoformat(), "1014", "Aqua", "MODIS", 86, "6.1NRT",
             296.4, 38.2, "D", 0]]
    write("demo-modis.csv", MODIS_COLS, aqua, EXAMPLES)

    # 4. the archive's JSON form of the strike file, and a file with bad rows
    objs = [dict(zip(VIIRS_COLS, r)) for r in strike_rows]
    for o in objs:
        o["confidence"] = {"h": "high", "n": "nominal", "l": "low"}[o["confidence"]]
        o["acq_time"] = int(o["acq_time"])
    (HERE / "syzran-strike.json").write_text(json.dumps(objs, indent=1) + "\n", encoding="utf-8")
    bad = [strike_rows[0], [*strike_rows[1][:2], "hot", *strike_rows[1][3:]]]
    bad.append([95.0, *strike_rows[2][1:]])
    bad.append([*strike_rows[3][:5], "2024-02-30", *strike_rows[3][6:]])
    bad.append([*strike_rows[4][:9], "x", *strike_rows[4][10:]])
    bad.append(strike_rows[2])
    with open(HERE / "bad-rows.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(VIIRS_COLS)
        w.writerows(bad)

    # 5. a strike inside the March 2025 moratorium: the Sudzha gas metering station the night of 8 April 2025
    sud = registry_point("ru-sudzha-gis")
    rows = background_fires(rng, dt.date(2025, 3, 25), 25)
    rows += [viirs(*offset(*sud, 0.1 * j, 0.15 * j), dt.datetime(2025, 4, 7, 23, 41), "N21", "h",
                   round(350 + 3 * j, 2), round(19.5 + 6 * j, 2)) for j in range(3)]
    write("sudzha-strike.csv", VIIRS_COLS, rows)


if __name__ == "__main__":
    main()
