"""The facility registry: energy assets with names in three languages,
validated against ``data/schemas/facility.schema.json`` at load time.

Curated rows live in ``data/registry/*.csv`` (one file per country); users
add files with ``TRUCE_REGISTRY`` or ``Settings.registry_paths`` and merge
larger datasets through :mod:`truce.ingest.facilities`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from truce.errors import RegistryError
from truce.records import Facility
from truce.text import KeyMaker, PhraseMatcher, Token
from truce.safeio import csv_row

COLUMNS = ("id", "name", "name_uk", "name_ru", "aliases", "type", "country", "region_code", "place",
           "place_names", "lat", "lon", "coord_precision", "capacity", "capacity_unit", "voltage_kv",
           "operator", "parent", "status", "status_date", "source", "notes")
EXPORT_COLUMNS = ("id", "name", "aliases", "type", "country", "region_code", "lat", "lon", "capacity",
                  "capacity_unit", "operator", "source", "name_uk", "name_ru", "place", "coord_precision",
                  "voltage_kv", "parent", "status", "status_date")

# Types that one word in a report may denote interchangeably; used when a
# report names a type and a place but the registry files the asset under a
# neighbour ("ТЭЦ" for a plant the registry calls a thermal plant).
TYPE_FAMILIES: dict[str, str] = {
    "nuclear_plant": "nuclear", "thermal_plant": "thermal", "chp": "thermal", "hydro_plant": "hydro",
    "solar_wind": "renewable", "substation": "grid", "transmission_line": "grid", "distribution": "grid",
    "gas_production": "gas", "gas_storage": "gas", "gas_pipeline_station": "gas", "gas_processing": "gas",
    "refinery": "refinery", "oil_depot": "oil", "oil_pumping_station": "oil", "oil_terminal": "oil",
    "other_energy": "energy",
}


def type_family(t: str | None) -> str | None:
    return TYPE_FAMILIES.get(t or "")


def _schema() -> dict[str, Any]:
    with resources.files("truce").joinpath("data", "schemas", "facility.schema.json").open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
        return schema


def _split(v: str | None) -> list[str]:
    return [x.strip() for x in (v or "").split("|") if x.strip()]


def _num(v: str | None) -> float | None:
    v = (v or "").strip().replace(",", "")
    if not v:
        return None
    x = float(v)
    if not math.isfinite(x):  # "nan" would pass the schema's bounds
        raise ValueError(v)
    return x


def row_to_record(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the typed record the schema describes (numbers parsed, lists split)."""
    rec: dict[str, Any] = {k: (row.get(k) or "").strip() for k in COLUMNS}
    rec["aliases"] = _split(row.get("aliases"))
    rec["place_names"] = _split(row.get("place_names"))
    for k in ("lat", "lon", "capacity", "voltage_kv"):
        try:
            rec[k] = _num(row.get(k))
        except ValueError:
            rec[k] = row.get(k)  # left as a string: the schema names the column
    for k in ("capacity_unit", "operator", "parent", "status_date", "notes"):
        rec[k] = rec[k] or None
    return rec


def csv_rows(text: str, path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """(header, (line, row) per row) of a CSV text; a ragged row, a field over the csv
    module's limit or a stray quote is a :class:`RegistryError` naming the line."""
    reader = csv.reader(io.StringIO(text.replace("\x00", ""), newline=""))
    try:
        header = next(reader, [])
    except csv.Error as e:
        raise RegistryError(f"not a CSV file: {e}", path=str(path), line=1) from e

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise RegistryError(f"unreadable CSV row: {e}", path=str(path), line=line) from e
            if not fields or fields == [""]:
                continue
            if len(fields) != len(header):
                raise RegistryError(f"row has {len(fields)} fields; the header has {len(header)}", path=str(path), line=line)
            yield line, dict(zip(header, fields))

    return header, rows()


def read_facilities(path: Path | str, *, origin: str = "curated") -> list[Facility]:
    """Read and validate one registry CSV; errors name the file, line and column."""
    import jsonschema

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RegistryError(f"cannot read registry file: {e.strerror}", path=str(path)) from e
    except UnicodeDecodeError as e:
        raise RegistryError("registry file is not UTF-8", path=str(path)) from e
    header, rows = csv_rows(text, path)
    missing = [c for c in ("id", "name", "type", "country", "region_code", "lat", "lon") if c not in header]
    if missing:
        raise RegistryError(f"missing columns: {', '.join(missing)}", path=str(path), line=1)
    validator = jsonschema.Draft202012Validator(_schema())
    out = []
    for line, row in rows:
        rec = row_to_record(row)
        errors = sorted(validator.iter_errors(rec), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            col = ".".join(str(p) for p in first.path) or "row"
            raise RegistryError(f"column {col}: {first.message}", path=str(path), line=line)
        out.append(Facility(
            id=rec["id"], name=rec["name"], type=rec["type"], country=rec["country"],
            region_code=rec["region_code"], lat=rec["lat"], lon=rec["lon"], name_uk=rec["name_uk"],
            name_ru=rec["name_ru"], aliases=tuple(rec["aliases"]), place=rec["place"],
            place_names=tuple(rec["place_names"]), coord_precision=rec["coord_precision"],
            capacity=rec["capacity"], capacity_unit=rec["capacity_unit"], voltage_kv=rec["voltage_kv"],
            operator=rec["operator"], parent=rec["parent"], status=rec["status"],
            status_date=rec["status_date"], source=rec["source"], notes=rec["notes"] or "", origin=origin))
    return out


def package_registry_paths() -> list[Path]:
    d = Path(str(resources.files("truce").joinpath("data", "registry")))
    return sorted(d.glob("*.csv"))


class Registry:
    """Facilities with lookups by id, name (inflection-tolerant), type, region and distance."""

    def __init__(self, facilities: Iterable[Facility], keymaker: KeyMaker):
        self.km = keymaker
        self.facilities: dict[str, Facility] = {}
        for f in facilities:
            if f.id in self.facilities:
                raise RegistryError(f"duplicate facility id {f.id!r}", path=f.origin)
            self.facilities[f.id] = f
        for f in self.facilities.values():
            if f.parent and f.parent not in self.facilities:
                raise RegistryError(f"facility {f.id!r}: parent {f.parent!r} is not in the registry", path=f.origin)
        self.names = PhraseMatcher(keymaker)
        self.places = PhraseMatcher(keymaker, capitalised=True)
        for f in self.facilities.values():
            for n in f.all_names():
                self.names.add(n, f.id)
            for n in (f.place, *f.place_names):
                if n:
                    self.places.add(n, f.id)

    @classmethod
    def load(cls, keymaker: KeyMaker, extra_paths: Sequence[Path | str] = (),
             extra: Iterable[Facility] = ()) -> "Registry":
        facilities: list[Facility] = []
        for p in package_registry_paths():
            facilities += read_facilities(p)
        for extra_path in extra_paths:
            facilities += read_facilities(Path(extra_path), origin=str(extra_path))
        facilities += list(extra)
        return cls(facilities, keymaker)

    def __len__(self) -> int:
        return len(self.facilities)

    def __iter__(self) -> Iterator[Facility]:
        return iter(self.facilities.values())

    def get(self, fid: str | None) -> Facility | None:
        return self.facilities.get(fid or "")

    def find_names(self, tokens: Sequence[Token]) -> list[tuple[int, int, list[Facility], str]]:
        """Facilities named in the text: (token start, token end, facilities, matched alias)."""
        spans: dict[tuple[int, int], tuple[list[Facility], str]] = {}
        for m in self.names.find(tokens):
            fl, _ = spans.setdefault((m.start, m.end), ([], m.phrase))
            f = self.facilities[m.payload]
            if f not in fl:
                fl.append(f)
        return [(a, b, fl, ph) for (a, b), (fl, ph) in sorted(spans.items())]

    def hosted_at(self, tokens: Sequence[Token]) -> list[tuple[int, int, list[Facility]]]:
        """Facilities whose host settlement is named in the text."""
        spans: dict[tuple[int, int], list[Facility]] = {}
        for m in self.places.find(tokens):
            spans.setdefault((m.start, m.end), []).append(self.facilities[m.payload])
        return [(a, b, fl) for (a, b), fl in sorted(spans.items())]

    def in_region(self, region_code: str, types: Iterable[str] = ()) -> list[Facility]:
        ts = set(types)
        return [f for f in self.facilities.values()
                if f.region_code == region_code and (not ts or f.type in ts) and not f.parent]

    def nearest(self, lat: float, lon: float, *, types: Iterable[str] = (), max_km: float = 25.0) -> Facility | None:
        ts = set(types)
        best, best_d = None, max_km
        for f in self.facilities.values():
            if ts and f.type not in ts:
                continue
            d = _km(lat, lon, f.lat, f.lon)
            if d <= best_d:
                best, best_d = f, d
        return best

    def merged_with(self, others: Iterable[Facility]) -> "Registry":
        return Registry([*self.facilities.values(), *others], self.km)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


# --- export ------------------------------------------------------------------------

def _export_row(f: Facility) -> dict[str, Any]:
    d = f.to_dict()
    d["aliases"] = "|".join(f.aliases)
    return {k: ("" if d.get(k) is None else d.get(k)) for k in EXPORT_COLUMNS}


def export_csv(facilities: Iterable[Facility], out: io.TextIOBase | Any) -> int:
    w = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
    w.writeheader()
    n = 0
    for f in sorted(facilities, key=lambda f: f.id):
        w.writerow(csv_row(_export_row(f)))  # imported datasets are untrusted: no formula cells
        n += 1
    return n


def to_geojson(facilities: Iterable[Facility]) -> dict[str, Any]:
    """A FeatureCollection (RFC 7946: lon, lat order; WGS84)."""
    feats = []
    for f in sorted(facilities, key=lambda f: f.id):
        props = _export_row(f)
        props.pop("lat")
        props.pop("lon")
        props["aliases"] = list(f.aliases)
        feats.append({"type": "Feature", "id": f.id,
                      "geometry": {"type": "Point", "coordinates": [round(f.lon, 6), round(f.lat, 6)]},
                      "properties": props})
    return {"type": "FeatureCollection", "features": feats}


