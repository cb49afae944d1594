"""Approximate region outlines for static maps, derived from the gazetteer.

No boundary polygons ship with the packages we use, so each ISO 3166-2
region is drawn as the union of the Voronoi cells of its GeoNames
settlements, clipped to a land mask (settlements buffered by ~35 km). The
cells are good enough to show which oblast a strike is in on an overview
map; they are not boundaries and the report says so. Cached per gazetteer.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from truce.reference.gazetteer import Gazetteer

Ring = list[tuple[float, float]]


def _cache_path(key: str) -> Path:
    from truce.reference.gazetteer import _cache_dir

    return _cache_dir() / f"outlines-{key}.pickle"


def region_outlines(gazetteer: Gazetteer, *, simplify: float = 0.04, mask_km: float = 35.0) -> dict[str, list[Ring]]:
    """ISO 3166-2 code → exterior rings (lon, lat) of its approximate outline."""
    pts = sorted((round(p.lon, 3), round(p.lat, 3), p.region_code) for p in gazetteer.places.values()
                 if p.kind == "settlement" and p.region_code and p.population >= 0 and 19.0 < p.lon < 180.0)
    if len(pts) < 4:
        return {}
    key = hashlib.sha256(repr((pts, simplify, mask_km)).encode()).hexdigest()[:16]
    path = _cache_path(key)
    if path.exists():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)  # noqa: S301 - our own cache
        except (OSError, pickle.UnpicklingError, EOFError):
            pass
    out = _compute(pts, simplify, mask_km)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(out, fh)
        os.replace(tmp, path)
    except OSError:
        pass
    return out


def _compute(pts: list[tuple[float, float, str]], simplify: float, mask_km: float) -> dict[str, list[Ring]]:
    from shapely import STRtree, box, points, unary_union, voronoi_polygons
    from shapely.geometry import MultiPoint

    coords = [(x, y) for x, y, _ in pts]
    regions = [r for _, _, r in pts]
    geoms = points(coords)
    mp = MultiPoint(coords)
    minx, miny, maxx, maxy = mp.bounds
    env = box(minx - 2, miny - 2, maxx + 2, maxy + 2)
    cells = voronoi_polygons(mp, extend_to=env)
    tree = STRtree(geoms)
    by_region: dict[str, list[Any]] = {}
    for cell in cells.geoms:
        idx = tree.query(cell, predicate="contains")
        if len(idx):
            by_region.setdefault(regions[int(idx[0])], []).append(cell)
    deg = mask_km / 111.0
    mask = unary_union([g.buffer(deg, quad_segs=4) for g in geoms]).simplify(simplify)
    out: dict[str, list[Ring]] = {}
    for code, cs in sorted(by_region.items()):
        shape = unary_union(cs).intersection(mask).simplify(simplify)
        polys = getattr(shape, "geoms", [shape])
        rings = [[(round(x, 3), round(y, 3)) for x, y in p.exterior.coords] for p in polys
                 if getattr(p, "exterior", None) is not None and not p.is_empty]
        if rings:
            out[code] = rings
    return out
