"""Importers for users who bring larger facility datasets.

- ``gppd``: the WRI Global Power Plant Database CSV (``gppd_idnr``,
  ``capacity_mw``, ``latitude``, ``longitude``, ``primary_fuel``…);
- ``osm``: OSM-derived features as GeoJSON (a FeatureCollection of points or
  polygons with OSM tags as properties) or CSV (``osm_id,lat,lon`` plus tag
  columns such as ``power``, ``plant:source``, ``industrial``, ``name:uk``).

Imported rows merge with the curated registry: a row within the tolerance of
a curated facility of a compatible type is the same site (recorded as an
extra source of it), never a duplicate. New rows are stored in the database
(``facilities_extra``) and load with the registry from then on.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from truce.db import Database
from truce.errors import RegistryError
from truce.records import Facility
from truce.reference.registry import Registry, csv_rows, type_family

COUNTRIES = {"UKR": "UA", "RUS": "RU", "UA": "UA", "RU": "RU", "Ukraine": "UA", "Russia": "RU"}
GPPD_FUEL = {"nuclear": "nuclear_plant", "hydro": "hydro_plant", "solar": "solar_wind", "wind": "solar_wind",
             "coal": "thermal_plant", "gas": "thermal_plant", "oil": "thermal_plant", "petcoke": "thermal_plant",
             "cogeneration": "chp", "storage": "hydro_plant", "biomass": "other_energy", "waste": "other_energy",
             "other": "other_energy", "geothermal": "other_energy", "wave and tidal": "other_energy"}


@dataclass
class ImportResult:
    read: int = 0
    added: int = 0
    merged: int = 0
    skipped: int = 0


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:60] or "x"


def _km(a: Facility, lat: float, lon: float) -> float:
    p1, p2 = math.radians(a.lat), math.radians(lat)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon - a.lon) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def compatible(t1: str, t2: str) -> bool:
    if "other_energy" in (t1, t2):
        return True
    f1, f2 = type_family(t1), type_family(t2)
    return t1 == t2 or f1 == f2


# --- readers ----------------------------------------------------------------------------

def read_gppd(path: Path, region_at: Any) -> Iterator[tuple[int, Facility | None]]:
    text = _text(path)
    header, reader = csv_rows(text, path)
    need = ("country", "name", "gppd_idnr", "capacity_mw", "latitude", "longitude", "primary_fuel")
    missing = [c for c in need if c not in header]
    if missing:
        raise RegistryError(f"not a GPPD CSV: missing columns {', '.join(missing)}", path=str(path), line=1)
    for line, row in reader:
        country = COUNTRIES.get(row["country"].strip())
        if country is None:
            yield line, None
            continue
        try:
            lat, lon = float(row["latitude"]), float(row["longitude"])
            cap = float(row["capacity_mw"]) if row["capacity_mw"].strip() else None
        except ValueError as e:
            raise RegistryError(f"latitude/longitude/capacity_mw is not a number: {e}", path=str(path), line=line) from e
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (cap is not None and not 0 <= cap < 1e7):
            raise RegistryError("latitude/longitude/capacity_mw out of range", path=str(path), line=line)
        ftype = GPPD_FUEL.get(row["primary_fuel"].strip().lower(), "other_energy")
        region = region_at(lat, lon)
        if region is None:
            raise RegistryError("cannot place the coordinates in a region", path=str(path), line=line)
        idnr = row["gppd_idnr"].strip()
        yield line, Facility(
            id=f"{country.lower()}-gppd-{_slug(idnr)}", name=row["name"].strip(), type=ftype, country=country,
            region_code=region, lat=lat, lon=lon, name_uk="", name_ru="", aliases=(), place="",
            coord_precision="area", capacity=cap, capacity_unit="MW" if cap else None,
            operator=(row.get("owner") or "").strip() or None, status="operating",
            source=f"GPPD {idnr}" + (f"; {row['source'].strip()}" if row.get("source") else ""), origin=f"gppd:{path.name}")


def _osm_type(tags: dict[str, str]) -> str | None:
    power = tags.get("power")
    if power == "plant" or power == "generator":
        src = (tags.get("plant:source") or tags.get("generator:source") or "").lower()
        if "nuclear" in src:
            return "nuclear_plant"
        if "hydro" in src:
            return "hydro_plant"
        if src in ("solar", "wind"):
            return "solar_wind"
        if tags.get("plant:output:heat") or "chp" in (tags.get("name") or "").lower() or "тец" in (tags.get("name") or "").lower():
            return "chp"
        return "thermal_plant" if src in ("coal", "gas", "oil", "") else "other_energy"
    if power == "substation":
        return "substation"
    if power in ("line", "minor_line"):
        return "transmission_line"
    ind = tags.get("industrial")
    substance = (tags.get("substance") or tags.get("content") or tags.get("product") or "").lower()
    if ind in ("refinery", "oil_refinery") or tags.get("man_made") == "refinery":
        return "refinery"
    if ind in ("oil_storage", "fuel_storage") or (tags.get("man_made") == "storage_tank" and substance in ("oil", "fuel", "petroleum")):
        return "oil_depot"
    if tags.get("man_made") == "pumping_station" or tags.get("pipeline") == "substation":
        if substance in ("oil", "petroleum"):
            return "oil_pumping_station"
        if substance == "gas":
            return "gas_pipeline_station"
    if ind == "gas_storage" or (tags.get("man_made") == "storage_tank" and substance == "gas"):
        return "gas_storage"
    return None


def read_osm(path: Path, region_at: Any) -> Iterator[tuple[int, Facility | None]]:
    text = _text(path)
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise RegistryError(f"invalid GeoJSON: {e.msg}", path=str(path), line=e.lineno) from e
        except (ValueError, RecursionError) as e:
            raise RegistryError(f"invalid GeoJSON: {type(e).__name__}", path=str(path)) from e
        feats = data.get("features") if isinstance(data, dict) else None
        if not isinstance(feats, list):
            raise RegistryError("not a GeoJSON FeatureCollection", path=str(path))
        rows = []
        for n, f in enumerate(feats, start=1):
            if not isinstance(f, dict) or not isinstance(f.get("geometry") or {}, dict) \
                    or not isinstance(f.get("properties") or {}, dict):
                raise RegistryError(f"feature {n} is not a GeoJSON Feature", path=str(path))
            geom = f.get("geometry") or {}
            lat, lon = _centroid(geom)
            props = {str(k): str(v) for k, v in (f.get("properties") or {}).items() if v is not None}
            oid = str(f.get("id") or props.get("@id") or props.get("osm_id") or f"feature-{n}")
            rows.append((n, oid, lat, lon, props))
    else:
        header, reader = csv_rows(text, path)
        if not {"lat", "lon"} <= set(header):
            raise RegistryError("OSM CSV needs lat and lon columns", path=str(path), line=1)
        rows = []
        for line, row in reader:
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except ValueError as e:
                raise RegistryError("lat/lon is not a number", path=str(path), line=line) from e
            props = {k: v for k, v in row.items() if v and k not in ("lat", "lon")}
            rows.append((line, props.get("osm_id") or props.get("id") or f"row-{line}", lat, lon, props))
    for n, oid, lat, lon, tags in rows:
        ftype = _osm_type(tags)
        if ftype is None or lat is None or lon is None:
            yield n, None
            continue
        region = region_at(lat, lon)
        country = region.split("-")[0] if region else None
        if country not in ("UA", "RU"):
            yield n, None
            continue
        name = tags.get("name:en") or tags.get("name") or f"{ftype.replace('_', ' ')} {oid}"
        kv = tags.get("voltage", "").split(";")[0]
        yield n, Facility(
            id=f"{country.lower()}-osm-{_slug(oid)}", name=name, type=ftype, country=country, region_code=region,
            lat=lat, lon=lon, name_uk=tags.get("name:uk", ""), name_ru=tags.get("name:ru", ""),
            aliases=tuple(v for k, v in sorted(tags.items()) if k.startswith(("name", "alt_name", "old_name")) and v != name),
            place="", coord_precision="site", voltage_kv=float(kv) / 1000 if kv.isdigit() else None,
            operator=tags.get("operator"), status="operating", source=f"OSM {oid} (ODbL)", origin=f"osm:{path.name}")


def _centroid(geom: dict[str, Any]) -> tuple[float | None, float | None]:
    if not geom:
        return None, None
    from shapely.errors import ShapelyError
    from shapely.geometry import shape

    try:
        c = shape(geom).centroid
    except (ShapelyError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        return None, None  # an unknown geometry type, bad coordinates: no place
    if c.is_empty or not (-90 <= c.y <= 90 and -180 <= c.x <= 180):
        return None, None
    return round(c.y, 6), round(c.x, 6)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise RegistryError(f"cannot read file: {e}", path=str(path)) from e


# --- merging ----------------------------------------------------------------------------

def merge(registry: Registry, incoming: Iterable[Facility], tolerance_km: float) -> tuple[list[Facility], list[tuple[Facility, Facility]]]:
    """(new facilities, (imported, existing) matches): same site within tolerance and a compatible type."""
    known = [f for f in registry if not f.parent]
    new: list[Facility] = []
    matches: list[tuple[Facility, Facility]] = []
    for f in incoming:
        pool = known + new
        best = min((k for k in pool if compatible(k.type, f.type) and _km(k, f.lat, f.lon) <= tolerance_km),
                   key=lambda k: _km(k, f.lat, f.lon), default=None)
        if best is None:
            new.append(f)
        else:
            matches.append((f, best))
    return new, matches


def import_file(db: Database, registry: Registry, path: Path, fmt: str, *, tolerance_km: float = 3.0,
                region_at: Any = None) -> ImportResult:
    if region_at is None:
        from truce.reference.gazetteer import Gazetteer
        from truce.text import KeyMaker

        region_at = Gazetteer.load(KeyMaker(None)).region_at
    reader = read_gppd if fmt == "gppd" else read_osm
    res = ImportResult()
    rows = []
    for _, f in reader(path, region_at):
        res.read += 1
        if f is None:
            res.skipped += 1
        else:
            rows.append(f)
    current = registry.merged_with(stored_facilities(db))
    new, matches = merge(current, rows, tolerance_km)
    res.added, res.merged = len(new), len(matches)
    db.add_facilities([(f.id, f.origin, f.to_dict()) for f in new] +
                      [(f"{existing.id}#{f.id}", f.origin, {"merged_into": existing.id, "source": f.source,
                                                             "imported_id": f.id})
                       for f, existing in matches])
    return res


def stored_facilities(db: Database) -> list[Facility]:
    """Imported facilities kept in the database (links to curated rows are applied by :func:`apply_links`)."""
    out = []
    for d in db.facilities():
        if "merged_into" in d:
            continue
        d = dict(d)
        for k in ("aliases", "place_names"):
            d[k] = tuple(d.get(k) or ())
        out.append(Facility(**d))
    return out


def apply_links(registry: Registry, db: Database) -> Registry:
    """Add imported datasets' identifiers to the sources of the curated facilities they matched."""
    extra: dict[str, list[str]] = {}
    for d in db.facilities():
        if "merged_into" in d:
            extra.setdefault(d["merged_into"], []).append(d["source"])
    if not extra:
        return registry
    facs = [replace(f, source=f.source + "".join(f"; {s}" for s in extra.get(f.id, []))) for f in registry]
    return Registry(facs, registry.km)
