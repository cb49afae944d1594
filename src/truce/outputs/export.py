"""Exports of incidents: GeoJSON (RFC 7946), CSV, Parquet and ACLED-compatible CSV.

Every export takes the rows of :func:`truce.outputs.shapes.incidents_json` (already
filtered), any iterable of them: the command line passes :func:`truce.outputs.stream.iter_incidents`
and each writer writes as the rows come. CSV and Parquet carry the location precision, the verdict under each agreement
(``verdict_<agreement id>``) and the first evidence quote with its source and URL; Parquet
types its dates. ACLED rows need a date and coordinates: :func:`acled_rows` leaves out the
incidents without them and says how many, and why.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Iterable, Iterator, Sequence

from truce.safeio import atomic_path, csv_row

PAGE = 2000  # incidents per page (truce.outputs.stream reads them so): a few MB of shaped rows

ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude",
    "geo_precision", "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
)


def incident_feature(r: dict[str, Any]) -> dict[str, Any]:
    """One incident (a ``truce incidents --format json`` row) as a GeoJSON Feature; without
    coordinates its geometry is null, as RFC 7946 allows."""
    geom = ({"type": "Point", "coordinates": [r["lon"], r["lat"]]}
            if r.get("lat") is not None and r.get("lon") is not None else None)
    props = {k: v for k, v in r.items() if k not in ("lat", "lon", "claims")}
    props["n_reports"] = len(r.get("reports", []))
    props["n_claims"] = len(r.get("claims", []))
    return {"type": "Feature", "id": r["id"], "geometry": geom, "properties": props}


def incidents_geojson(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A FeatureCollection of incidents (``truce incidents --format json`` rows); the command line
    writes the same a feature at a time (:func:`truce.outputs.stream.write_geojson`)."""
    return {"type": "FeatureCollection", "features": [incident_feature(r) for r in rows]}


CSV_COLUMNS = ("id", "date", "date_precision", "country", "region_code", "region", "facility_id", "facility_name",
               "facility_type", "attacker", "attacker_basis", "weapon", "outcome", "grade", "disputed", "lat", "lon",
               "location_precision", "n_reports", "n_sources", "sources", "report_ids", "first_reported",
               "outage_customers", "killed", "injured", "fire", "evidence_quote", "evidence_source", "evidence_url")


def columns(agreements: Sequence[str] = ()) -> list[str]:
    """The CSV/Parquet columns: the fixed ones, then one verdict column per agreement."""
    return list(CSV_COLUMNS) + [f"verdict_{a}" for a in agreements]


def flat(r: dict[str, Any], agreements: Sequence[str] = ()) -> dict[str, Any]:
    """An incident row (``incidents_json``) flattened for tables."""
    srcs = sorted({x["source"] or "unknown" for x in r["reports"] if not x.get("syndicated_with")})
    eff = r.get("effects") or {}
    ev = r.get("first_evidence") or {}
    verdicts = r.get("verdicts") or {}
    out = {"id": r["id"], "date": r["date"], "date_precision": r["date_precision"], "country": r["country"],
           "region_code": r["region_code"], "region": r["region"], "facility_id": r["facility_id"],
           "facility_name": r["facility_name"], "facility_type": r["facility_type"], "attacker": r["attacker"],
           "attacker_basis": r["attacker_basis"], "weapon": r["weapon"], "outcome": r["outcome"], "grade": r["grade"],
           "disputed": "|".join(r.get("disputed") or ()), "lat": r["lat"], "lon": r["lon"],
           "location_precision": r.get("location_precision"), "n_reports": len(r["reports"]), "n_sources": len(srcs),
           "sources": "|".join(srcs), "report_ids": "|".join(x["report_id"] for x in r["reports"]),
           "first_reported": r.get("first_reported"), "outage_customers": eff.get("outage_customers"),
           "killed": eff.get("killed"), "injured": eff.get("injured"), "fire": eff.get("fire"),
           "evidence_quote": ev.get("quote"), "evidence_source": ev.get("source"), "evidence_url": ev.get("url")}
    for a in agreements:
        out[f"verdict_{a}"] = verdicts.get(a)
    return out


def write_csv(rows: Iterable[dict[str, Any]], out: Any, agreements: Sequence[str] = ()) -> int:
    """CSV, a row at a time; returns the rows written."""
    import csv

    w = csv.DictWriter(out, fieldnames=columns(agreements), lineterminator="\n")
    w.writeheader()
    n = 0
    for r in rows:
        w.writerow(csv_row(flat(r, agreements)))  # a cell that reads as a formula gets a leading apostrophe
        n += 1
    return n


def _timestamp(s: str | None) -> dt.datetime | None:
    """A publication time as a UTC timestamp (a bare date is its midnight); None when only a month or year is known."""
    if not s or len(s) < 10:
        return None
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def write_parquet(rows: Iterable[dict[str, Any]], path: str, agreements: Sequence[str] = (),
                  page: int | None = None) -> int:
    """Parquet with typed columns: ``date`` is date32, ``first_reported`` a UTC timestamp; one row
    group per ``page`` rows (default: a page of :mod:`truce.outputs.stream`), written as they come."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"date": pa.date32(), "first_reported": pa.timestamp("ms", tz="UTC"), "lat": pa.float64(),
             "lon": pa.float64(), "n_reports": pa.int32(), "n_sources": pa.int32(), "outage_customers": pa.int64(),
             "killed": pa.int32(), "injured": pa.int32(), "fire": pa.bool_()}
    cols = columns(agreements)
    schema = pa.schema([(c, types.get(c, pa.string())) for c in cols])
    n = 0
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(tmp, schema)
        try:
            for data in _pages((_typed(flat(r, agreements)) for r in rows), page or PAGE):
                writer.write_table(pa.Table.from_pylist(data, schema=schema))
                n += len(data)
            if n == 0:  # no row group at all: an empty one, as pq.write_table writes for an empty table
                writer.write_table(pa.Table.from_pylist([], schema=schema))
        finally:
            writer.close()
    return n


def _typed(d: dict[str, Any]) -> dict[str, Any]:
    d["date"] = dt.date.fromisoformat(d["date"]) if d["date"] else None
    d["first_reported"] = _timestamp(d["first_reported"])
    return d


def _pages(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in items:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- ACLED -----------------------------------------------------------------------------

_ACTOR = {"RU": "Military Forces of Russia (2000-)", "UA": "Military Forces of Ukraine (2019-)"}
# how the notes name an asset type: words an analyst reads, and Truce's own importer reads back as the same type
_TYPE_PHRASE = {
    "nuclear_plant": "a nuclear power plant", "thermal_plant": "a thermal power plant",
    "chp": "a combined heat and power plant", "hydro_plant": "a hydroelectric power plant",
    "solar_wind": "a solar power plant", "substation": "a substation", "transmission_line": "a power line",
    "distribution": "the power distribution grid", "gas_production": "a gas production facility",
    "gas_storage": "an underground gas storage facility", "gas_pipeline_station": "a gas compressor station",
    "gas_processing": "a gas processing plant", "refinery": "an oil refinery", "oil_depot": "an oil depot",
    "oil_pumping_station": "an oil pumping station", "oil_terminal": "an oil terminal",
    "other_energy": "energy infrastructure",
}
_ISO = {"UA": (804, "Ukraine", "UKR"), "RU": (643, "Russia", "RUS")}


def _admin1(region: str | None) -> str:
    if not region:
        return ""
    import re

    name = re.sub(r"\s+(Oblast|Krai|Autonomous Okrug|Autonomous Oblast)$", "", region)
    return re.sub(r"^Republic of\s+", "", name)


ACLED_LEFT_OUT = {
    "undated": "undated: an ACLED row needs an event date",
    "unplaced": "no coordinates: an ACLED row needs a latitude and longitude",
    "country": "target country unknown or outside Ukraine and Russia",
}


def acled_rows(rows: Iterable[dict[str, Any]], stamp: int,
               left_out: Counter[str] | None = None) -> list[dict[str, Any]]:
    """Incidents in ACLED's 31 columns and codes: remote violence on infrastructure,
    sub-event by weapon, the attacker as actor1 (inter1 as ACLED codes the actor in
    that country), geo_precision from how the incident is placed, time_precision 1.
    Incidents ACLED cannot hold (no date, no coordinates, another country) are counted in
    ``left_out`` by reason (``ACLED_LEFT_OUT``)."""
    return list(iter_acled(rows, stamp, left_out))


def iter_acled(rows: Iterable[dict[str, Any]], stamp: int,
               left_out: Counter[str] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`acled_rows`, a row at a time."""
    left_out = left_out if left_out is not None else Counter()
    for r in rows:
        if not r["date"]:
            left_out[ACLED_LEFT_OUT["undated"]] += 1
            continue
        if r.get("lat") is None or r.get("lon") is None:
            left_out[ACLED_LEFT_OUT["unplaced"]] += 1
            continue
        if r["country"] not in _ISO:
            left_out[ACLED_LEFT_OUT["country"]] += 1
            continue
        iso, country, iso3 = _ISO[r["country"]]
        attacker = r.get("attacker")
        actor1 = _ACTOR.get(attacker or "", "Unidentified Armed Group (" + country + ")")
        inter1 = ("State forces" if attacker == r["country"] else "External/Other forces") if attacker else "Political militia"
        weapon = r.get("weapon")
        sub = "Air/drone strike" if weapon in (None, "drone", "glide_bomb") else "Shelling/artillery/missile attack"
        geo = {"facility": 1, "settlement": 2}.get(r.get("location_precision") or "", 3)
        srcs = sorted({x["source"] or "unknown" for x in r["reports"] if not x.get("syndicated_with")})
        affs = {x.get("affiliation") for x in r["reports"]}
        scale = ("National-International" if affs & {"UA", "RU"} and affs & {"neutral", "international"}
                 else ("International" if affs & {"neutral", "international"} else "National"))
        eff = r.get("effects") or {}
        target = r.get("facility_name") or _TYPE_PHRASE.get(r.get("facility_type") or "other_energy", "energy infrastructure")
        notes = (f"On {r['date']}, {'forces of ' + country_name(attacker) if attacker else 'unidentified attackers'} "
                 f"{'struck' if r.get('outcome') == 'hit' else 'attacked'} {target} in {r.get('region') or country}"
                 f"{' using ' + weapon.replace('_', ' ') + 's' if weapon and weapon != 'mixed' else ''}."
                 f"{' Fire reported.' if eff.get('fire') else ''}"
                 f"{' ' + str(eff['outage_customers']) + ' customers without power.' if eff.get('outage_customers') else ''}"
                 f" [Truce Monitor {r['id']}, corroboration {r['grade']}; attribution {r.get('attacker_basis') or 'none'}]")
        row = {
            "event_id_cnty": f"{iso3}{r['id'][4:14].upper()}", "event_date": r["date"], "year": int(r["date"][:4]),
            "time_precision": 1, "disorder_type": "Political violence", "event_type": "Explosions/Remote violence",
            "sub_event_type": sub, "actor1": actor1, "assoc_actor_1": "", "inter1": inter1, "actor2": "",
            "assoc_actor_2": "", "inter2": "", "interaction": f"{inter1} only", "civilian_targeting": "", "iso": iso,
            "region": "Europe", "country": country, "admin1": _admin1(r.get("region")), "admin2": "", "admin3": "",
            "location": r.get("facility_name") or r.get("region") or country, "latitude": r["lat"],
            "longitude": r["lon"], "geo_precision": geo, "source": "; ".join(srcs), "source_scale": scale,
            "notes": notes, "fatalities": eff.get("killed") or 0,
            "tags": f"truce_grade={r['grade']}; facility_type={r.get('facility_type') or ''}", "timestamp": stamp,
        }
        yield {k: row[k] for k in ACLED_COLUMNS}


def country_name(code: str | None) -> str:
    return {"RU": "Russia", "UA": "Ukraine"}.get(code or "", "unknown")


def write_acled(rows: Iterable[dict[str, Any]], out: Any, stamp: int) -> tuple[int, dict[str, int]]:
    """ACLED CSV, a row at a time; returns (rows written, {reason: incidents left out})."""
    import csv

    w = csv.DictWriter(out, fieldnames=list(ACLED_COLUMNS), lineterminator="\n")
    w.writeheader()
    left_out: Counter[str] = Counter()
    n = 0
    for r in iter_acled(rows, stamp, left_out):
        w.writerow(csv_row(r))
        n += 1
    return n, dict(sorted(left_out.items()))
