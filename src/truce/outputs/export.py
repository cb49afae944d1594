"""Exports of incidents: GeoJSON (RFC 7946), CSV, Parquet and ACLED-compatible CSV."""

from __future__ import annotations

from typing import Any

ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude",
    "geo_precision", "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
)


def incidents_geojson(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A FeatureCollection of incidents (``truce incidents --format json`` rows); incidents
    without coordinates get a null geometry, as RFC 7946 allows."""
    feats = []
    for r in rows:
        geom = ({"type": "Point", "coordinates": [r["lon"], r["lat"]]}
                if r.get("lat") is not None and r.get("lon") is not None else None)
        props = {k: v for k, v in r.items() if k not in ("lat", "lon", "claims")}
        props["n_reports"] = len(r.get("reports", []))
        props["n_claims"] = len(r.get("claims", []))
        feats.append({"type": "Feature", "id": r["id"], "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


CSV_COLUMNS = ("id", "date", "date_precision", "country", "region_code", "region", "facility_id", "facility_name",
               "facility_type", "attacker", "attacker_basis", "weapon", "outcome", "grade", "lat", "lon",
               "n_reports", "n_sources", "sources", "report_ids", "first_reported", "outage_customers", "killed",
               "injured", "fire")


def flat(r: dict[str, Any]) -> dict[str, Any]:
    """An incident row (``incidents_json``) flattened for tables."""
    srcs = sorted({x["source"] or "unknown" for x in r["reports"] if not x.get("syndicated_with")})
    eff = r.get("effects") or {}
    return {"id": r["id"], "date": r["date"], "date_precision": r["date_precision"], "country": r["country"],
            "region_code": r["region_code"], "region": r["region"], "facility_id": r["facility_id"],
            "facility_name": r["facility_name"], "facility_type": r["facility_type"], "attacker": r["attacker"],
            "attacker_basis": r["attacker_basis"], "weapon": r["weapon"], "outcome": r["outcome"], "grade": r["grade"],
            "lat": r["lat"], "lon": r["lon"], "n_reports": len(r["reports"]), "n_sources": len(srcs),
            "sources": "|".join(srcs), "report_ids": "|".join(x["report_id"] for x in r["reports"]),
            "first_reported": r.get("first_reported"), "outage_customers": eff.get("outage_customers"),
            "killed": eff.get("killed"), "injured": eff.get("injured"), "fire": eff.get("fire")}


def in_period(rows: list[dict[str, Any]], date_from: str | None, date_to: str | None) -> list[dict[str, Any]]:
    return [r for r in rows if (date_from is None or (r["date"] or "") >= date_from)
            and (date_to is None or (r["date"] or "9999") <= date_to)]


def write_csv(rows: list[dict[str, Any]], out: Any) -> int:
    import csv

    w = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(flat(r))
    return len(rows)


def write_parquet(rows: list[dict[str, Any]], path: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"lat": pa.float64(), "lon": pa.float64(), "n_reports": pa.int32(), "n_sources": pa.int32(),
             "outage_customers": pa.int64(), "killed": pa.int32(), "injured": pa.int32(), "fire": pa.bool_()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in CSV_COLUMNS])
    data = [flat(r) for r in rows]
    table = pa.Table.from_pylist(data, schema=schema)
    pq.write_table(table, path)
    return len(rows)


# --- ACLED -----------------------------------------------------------------------------

_ACTOR = {"RU": "Military Forces of Russia (2000-)", "UA": "Military Forces of Ukraine (2019-)"}
_ISO = {"UA": (804, "Ukraine", "UKR"), "RU": (643, "Russia", "RUS")}


def _admin1(region: str | None) -> str:
    if not region:
        return ""
    import re

    name = re.sub(r"\s+(Oblast|Krai|Autonomous Okrug|Autonomous Oblast)$", "", region)
    return re.sub(r"^Republic of\s+", "", name)


def acled_rows(rows: list[dict[str, Any]], stamp: int) -> list[dict[str, Any]]:
    """Incidents in ACLED's 31 columns and codes: remote violence on infrastructure,
    sub-event by weapon, the attacker as actor1 (inter1 as ACLED codes the actor in
    that country), geo_precision from how the incident is placed, time_precision 1."""
    out = []
    for r in rows:
        if r["country"] not in _ISO or not r["date"]:
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
        target = r.get("facility_name") or f"{(r.get('facility_type') or 'energy').replace('_', ' ')} infrastructure"
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
            "location": r.get("facility_name") or r.get("region") or country, "latitude": r.get("lat") or "",
            "longitude": r.get("lon") or "", "geo_precision": geo, "source": "; ".join(srcs), "source_scale": scale,
            "notes": notes, "fatalities": eff.get("killed") or 0,
            "tags": f"truce_grade={r['grade']}; facility_type={r.get('facility_type') or ''}", "timestamp": stamp,
        }
        out.append({k: row[k] for k in ACLED_COLUMNS})
    return out


def country_name(code: str | None) -> str:
    return {"RU": "Russia", "UA": "Ukraine"}.get(code or "", "unknown")


def write_acled(rows: list[dict[str, Any]], out: Any, stamp: int) -> int:
    import csv

    w = csv.DictWriter(out, fieldnames=list(ACLED_COLUMNS), lineterminator="\n")
    w.writeheader()
    data = acled_rows(rows, stamp)
    for r in data:
        w.writerow(r)
    return len(data)
